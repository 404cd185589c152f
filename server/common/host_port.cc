// Listening addresses; see host_port.h.
#include "server/common/host_port.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace stylizer {

std::string HostPort(absl::string_view host, int port) {
  const bool ipv6_literal = !host.empty() &&
                            host.find(':') != absl::string_view::npos &&
                            host.front() != '[';
  return ipv6_literal ? absl::StrCat("[", host, "]:", port)
                      : absl::StrCat(host, ":", port);
}

std::string WithoutBrackets(absl::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return std::string(host);
}

bool IsLoopbackHost(absl::string_view host) {
  if (absl::EqualsIgnoreCase(host, "localhost")) return true;
  if (host == "::1" || host == "[::1]") return true;
  // A dotted IPv4 address in 127.0.0.0/8.
  return absl::StartsWith(host, "127.") &&
         std::count(host.begin(), host.end(), '.') == 3 &&
         std::all_of(host.begin(), host.end(), [](char c) {
           return c == '.' ||
                  absl::ascii_isdigit(static_cast<unsigned char>(c));
         });
}

}  // namespace stylizer
