// "host:port" for a listening address, with an IPv6 literal in brackets
// ("[::1]:50051"): `--host=::1` gave "::1:50051", which gRPC could not bind.
#ifndef STYLIZER_SERVER_COMMON_HOST_PORT_H_
#define STYLIZER_SERVER_COMMON_HOST_PORT_H_

#include <string>

#include "absl/strings/string_view.h"

namespace stylizer {

std::string HostPort(absl::string_view host, int port);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_COMMON_HOST_PORT_H_
