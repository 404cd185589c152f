// Listening addresses; see host_port.h.
#include "server/common/host_port.h"

#include "absl/strings/str_cat.h"

namespace stylizer {

std::string HostPort(absl::string_view host, int port) {
  const bool ipv6_literal = !host.empty() &&
                            host.find(':') != absl::string_view::npos &&
                            host.front() != '[';
  return ipv6_literal ? absl::StrCat("[", host, "]:", port)
                      : absl::StrCat(host, ":", port);
}

}  // namespace stylizer
