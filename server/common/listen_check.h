// Why the server cannot listen where it was told, found by trying it
// directly: gRPC's builder only says that it could not, and the server
// guessed "port in use, or the TLS files do not match?" for a host name that
// does not resolve too.
#ifndef STYLIZER_SERVER_COMMON_LISTEN_CHECK_H_
#define STYLIZER_SERVER_COMMON_LISTEN_CHECK_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace stylizer {

// InvalidArgument when `host` (a name, an IPv4 address, an IPv6 one with or
// without brackets) does not resolve, naming --`flag` and the resolver's
// reason.
absl::Status CheckHostResolves(absl::string_view flag, absl::string_view host);

// What binding `host`:`port` (TCP) says, in words: "the port is in use",
// "... is not an address of this machine", "ports below 1024 need ...", or,
// when a bind works here, that the port is free (so gRPC refused for
// another reason, such as TLS files).
std::string WhyCannotListen(absl::string_view host, int port);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_COMMON_LISTEN_CHECK_H_
