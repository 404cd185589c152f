// Counting the addresses of a gRPC target; see target_addresses.h.
#include "client/target_addresses.h"

#include <netdb.h>
#include <sys/socket.h>

#include <set>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace stylizer::client {

int CountTargetAddresses(absl::string_view target) {
  if (absl::ConsumePrefix(&target, "ipv4:") ||
      absl::ConsumePrefix(&target, "ipv6:")) {
    std::set<std::string> addresses;
    for (absl::string_view a : absl::StrSplit(target, ',', absl::SkipEmpty())) {
      addresses.insert(std::string(a));
    }
    return std::max<int>(1, static_cast<int>(addresses.size()));
  }
  if (absl::ConsumePrefix(&target, "dns:")) {
    // dns:[//authority/]host[:port]
    if (absl::ConsumePrefix(&target, "//")) {
      const size_t slash = target.find('/');
      if (slash == absl::string_view::npos) return 1;
      target.remove_prefix(slash + 1);
    }
  } else if (target.find(":/") != absl::string_view::npos &&
             !absl::StartsWith(target, "[")) {
    return 1;  // another scheme (unix:/..., vsock:...): one endpoint
  } else if (absl::StartsWith(target, "unix:") ||
             absl::StartsWith(target, "unix-abstract:") ||
             absl::StartsWith(target, "vsock:")) {
    return 1;
  }
  std::string host, port = "443";
  if (absl::StartsWith(target, "[")) {
    const size_t close = target.find(']');
    if (close == absl::string_view::npos) return 1;
    host = std::string(target.substr(1, close - 1));
    absl::string_view rest = target.substr(close + 1);
    if (absl::ConsumePrefix(&rest, ":")) port = std::string(rest);
  } else {
    const size_t colon = target.rfind(':');
    host = std::string(target.substr(0, colon));
    if (colon != absl::string_view::npos) {
      port = std::string(target.substr(colon + 1));
    }
  }
  if (host.empty()) return 1;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &result) != 0) return 1;
  std::set<std::vector<char>> addresses;
  for (addrinfo* a = result; a != nullptr; a = a->ai_next) {
    const char* bytes = reinterpret_cast<const char*>(a->ai_addr);
    addresses.insert(std::vector<char>(bytes, bytes + a->ai_addrlen));
  }
  freeaddrinfo(result);
  return std::max<int>(1, static_cast<int>(addresses.size()));
}

}  // namespace stylizer::client
