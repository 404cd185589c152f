// "host:port" for a listening address, with an IPv6 literal in brackets
// ("[::1]:50051"): `--host=::1` gave "::1:50051", which gRPC could not bind.
#ifndef STYLIZER_SERVER_COMMON_HOST_PORT_H_
#define STYLIZER_SERVER_COMMON_HOST_PORT_H_

#include <string>

#include "absl/strings/string_view.h"

namespace stylizer {

std::string HostPort(absl::string_view host, int port);

// Whether `host` (a name, an IPv4 address, an IPv6 one with or without
// brackets) is this machine's loopback: localhost in any case, 127.0.0.0/8,
// ::1. The one rule of the server's /metrics default and the CLI's
// plaintext-token warning.
bool IsLoopbackHost(absl::string_view host);

// `host` without the brackets of a bracketed IPv6 literal ("[::1]" -> "::1");
// anything else as it is.
std::string WithoutBrackets(absl::string_view host);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_COMMON_HOST_PORT_H_
