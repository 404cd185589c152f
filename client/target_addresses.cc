// Counting the addresses of a gRPC target; see target_addresses.h.
#include "client/target_addresses.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "server/common/host_port.h"

namespace stylizer::client {
namespace {

// The port text of one address, or "" if it names none: "h:50051",
// "[::1]:50051", "1.2.3.4:5"; a bare IPv6 literal ("::1") has no port.
absl::string_view PortOf(absl::string_view address) {
  if (absl::StartsWith(address, "[")) {
    const size_t close = address.find(']');
    if (close == absl::string_view::npos) return "";
    absl::string_view rest = address.substr(close + 1);
    return absl::ConsumePrefix(&rest, ":") ? rest : "";
  }
  const size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos ||
      address.find(':') != colon) {  // none, or an IPv6 literal
    return "";
  }
  return address.substr(colon + 1);
}

// Whether `address` is a dotted IPv4 literal ("127.0.0.1").
bool IsIpv4Literal(absl::string_view address) {
  return std::count(address.begin(), address.end(), '.') == 3 &&
         std::all_of(address.begin(), address.end(), [](char c) {
           return c == '.' ||
                  absl::ascii_isdigit(static_cast<unsigned char>(c));
         });
}

// Whether `address` is an IPv6 literal without a port ("::1", "[::1]").
bool IsPortlessIpv6Literal(absl::string_view address) {
  if (absl::StartsWith(address, "[")) return PortOf(address).empty();
  return std::count(address.begin(), address.end(), ':') >= 2;
}

absl::Status CheckPort(absl::string_view address, absl::string_view target) {
  // gRPC dials port 0 for these ("127.0.0.1", "h:", "::1", "[::1]"); a name
  // without a port gets 443, as gRPC documents.
  if (IsIpv4Literal(address) || absl::EndsWith(address, ":")) {
    return absl::InvalidArgumentError(
        absl::StrCat("--server=", target, " names no port: give one, e.g. ",
                     absl::StripSuffix(address, ":"), ":50051"));
  }
  if (IsPortlessIpv6Literal(address)) {
    const absl::string_view host =
        absl::StripSuffix(absl::StripPrefix(address, "["), "]");
    return absl::InvalidArgumentError(
        absl::StrCat("--server=", target, " names no port: give one, e.g. [",
                     host, "]:50051"));
  }
  absl::string_view port = PortOf(address);
  if (port.empty()) return absl::OkStatus();  // a name: gRPC's 443
  absl::string_view digits = port;
  absl::ConsumePrefix(&digits, "-");
  if (digits.empty() || !std::all_of(digits.begin(), digits.end(), [](char c) {
        return absl::ascii_isdigit(static_cast<unsigned char>(c));
      })) {
    // gRPC's resolver knows these two service names and dials port 0 for
    // any other ("h:ssh", "h:5o051").
    if (port == "http" || port == "https") return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(
        "--server=", target, ": port '", port,
        "' is not a number (gRPC knows only the names http and https)"));
  }
  int value = 0;
  if (port.size() > 6 || !absl::SimpleAtoi(port, &value) || value < 1 ||
      value > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--server=", target, ": port ", port, " is outside 1-65535"));
  }
  return absl::OkStatus();
}

// The host of one address ("h:50051", "[::1]:50051", "::1", "h").
absl::string_view HostOf(absl::string_view address) {
  if (absl::StartsWith(address, "[")) {
    const size_t close = address.find(']');
    return close == absl::string_view::npos ? address
                                            : address.substr(1, close - 1);
  }
  const size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos || address.find(':') != colon) {
    return address;  // no port, or an IPv6 literal
  }
  return address.substr(0, colon);
}

// Where a plaintext call stays on this machine: loopback, and the
// unspecified addresses, which connect to this machine.
bool StaysHere(absl::string_view host) {
  return IsLoopbackHost(host) || host == "0.0.0.0" || host == "::";
}

// The addresses ("host:port", "[v6]:port", "host") `target` lists, or none
// for a scheme without TCP ports.
std::vector<std::string> AddressesOf(absl::string_view target) {
  std::vector<std::string> out;
  if (absl::ConsumePrefix(&target, "ipv4:") ||
      absl::ConsumePrefix(&target, "ipv6:")) {
    for (absl::string_view a : absl::StrSplit(target, ',', absl::SkipEmpty())) {
      out.emplace_back(a);
    }
    return out;
  }
  if (absl::ConsumePrefix(&target, "dns:")) {
    if (absl::ConsumePrefix(&target, "//")) {
      const size_t slash = target.find('/');
      if (slash == absl::string_view::npos) return out;
      target.remove_prefix(slash + 1);
    }
  } else if (absl::StartsWith(target, "unix:") ||
             absl::StartsWith(target, "unix-abstract:") ||
             absl::StartsWith(target, "vsock:") ||
             (target.find(":/") != absl::string_view::npos &&
              !absl::StartsWith(target, "["))) {
    return out;
  }
  out.emplace_back(target);
  return out;
}

bool ConnectsWithin(const addrinfo& address, absl::Duration timeout) {
  const int fd = socket(address.ai_family,
                        address.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        address.ai_protocol);
  if (fd < 0) return false;
  bool connected = connect(fd, address.ai_addr, address.ai_addrlen) == 0;
  if (!connected && errno == EINPROGRESS) {
    pollfd ready{fd, POLLOUT, 0};
    int error = 0;
    socklen_t length = sizeof(error);
    connected =
        poll(&ready, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout))) ==
            1 &&
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 &&
        error == 0;
  }
  close(fd);
  return connected;
}

}  // namespace

bool AcceptsConnections(absl::string_view target, absl::Duration timeout) {
  for (const std::string& address : AddressesOf(target)) {
    const std::string host(HostOf(address));
    std::string port(PortOf(address));
    if (port.empty()) port = "443";
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0) continue;
    bool any = false;
    for (addrinfo* a = found; a != nullptr && !any; a = a->ai_next) {
      any = ConnectsWithin(*a, timeout);
    }
    freeaddrinfo(found);
    if (any) return true;
  }
  return false;
}

bool TargetIsLocal(absl::string_view target) {
  if (absl::StartsWith(target, "unix:") ||
      absl::StartsWith(target, "unix-abstract:")) {
    return true;
  }
  const std::vector<std::string> addresses = AddressesOf(target);
  return !addresses.empty() &&
         std::all_of(addresses.begin(), addresses.end(),
                     [](const std::string& a) { return StaysHere(HostOf(a)); });
}

bool NamesNoPort(absl::string_view target) {
  const std::vector<std::string> addresses = AddressesOf(target);
  return std::any_of(addresses.begin(), addresses.end(),
                     [](const std::string& a) {
                       return PortOf(a).empty() && !IsIpv4Literal(a) &&
                              !IsPortlessIpv6Literal(a);
                     });
}

absl::Status CheckTargetPorts(absl::string_view target) {
  const absl::string_view whole = target;
  const bool v4 = absl::ConsumePrefix(&target, "ipv4:");
  if (v4 || absl::ConsumePrefix(&target, "ipv6:")) {
    for (absl::string_view a : absl::StrSplit(target, ',', absl::SkipEmpty())) {
      if (absl::Status s = CheckPort(a, whole); !s.ok()) return s;
      // gRPC takes only numeric addresses in these lists; any other entry
      // failed the channel, told as "the server answered UNKNOWN: Failed
      // to create secure client channel".
      std::string host(HostOf(a));
      // An IPv6 zone ("[fe80::1%eth0]:1"), which gRPC takes, is no part of
      // the address inet_pton reads.
      if (!v4) host = host.substr(0, host.find('%'));
      unsigned char parsed[sizeof(in6_addr)];
      const bool bracketed = absl::StartsWith(a, "[");
      if (inet_pton(v4 ? AF_INET : AF_INET6, host.c_str(), parsed) != 1 ||
          bracketed == v4) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--server=", whole, ": '", a, "' is not ",
            v4 ? "an IPv4 address with a port (10.0.0.1:50051)"
               : "an IPv6 address with a port ([fd00::1]:50051)",
            "; an ", v4 ? "ipv4:" : "ipv6:",
            " list takes numeric addresses only (dns:///NAME:PORT names "
            "the replicas behind a name)"));
      }
    }
    return absl::OkStatus();
  }
  if (absl::ConsumePrefix(&target, "dns:")) {
    if (absl::ConsumePrefix(&target, "//")) {
      const size_t slash = target.find('/');
      if (slash == absl::string_view::npos) return absl::OkStatus();
      target.remove_prefix(slash + 1);
    }
    // The DNS resolver gives any host without a port 443.
    if (target.find(':') == absl::string_view::npos) return absl::OkStatus();
  } else if (absl::StartsWith(target, "unix:") ||
             absl::StartsWith(target, "unix-abstract:") ||
             absl::StartsWith(target, "vsock:") ||
             (target.find(":/") != absl::string_view::npos &&
              !absl::StartsWith(target, "["))) {
    return absl::OkStatus();  // no TCP port
  }
  return CheckPort(target, whole);
}

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
