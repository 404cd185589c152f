// Listening checks; see listen_check.h.
#include "server/common/listen_check.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "server/common/host_port.h"

namespace stylizer {
namespace {

struct AddrInfoFree {
  void operator()(addrinfo* a) const { freeaddrinfo(a); }
};

// The addresses `host` stands for, for a passive TCP socket on `port`; the
// resolver's error code when there are none.
int Resolve(absl::string_view host, int port,
            std::unique_ptr<addrinfo, AddrInfoFree>* out) {
  addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  const int rc = getaddrinfo(WithoutBrackets(host).c_str(), service.c_str(),
                             &hints, &found);
  out->reset(rc == 0 ? found : nullptr);
  return rc;
}

}  // namespace

absl::Status CheckHostResolves(absl::string_view flag, absl::string_view host) {
  std::unique_ptr<addrinfo, AddrInfoFree> found;
  if (const int rc = Resolve(host, 0, &found); rc != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", flag, "=", host, " does not resolve (", gai_strerror(rc),
        "): give an address of this machine, or a name that resolves to one"));
  }
  return absl::OkStatus();
}

std::string WhyCannotListen(absl::string_view host, int port) {
  std::unique_ptr<addrinfo, AddrInfoFree> found;
  if (const int rc = Resolve(host, port, &found); rc != 0) {
    return absl::StrCat(host, " does not resolve (", gai_strerror(rc), ")");
  }
  int error = 0;
  for (addrinfo* a = found.get(); a != nullptr; a = a->ai_next) {
    const int fd =
        socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      error = errno;
      continue;
    }
    // As gRPC binds: a port in TIME_WAIT is not "in use".
    const int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    const bool bound = bind(fd, a->ai_addr, a->ai_addrlen) == 0;
    error = bound ? 0 : errno;
    close(fd);
    if (!bound) break;
  }
  switch (error) {
    case 0:
      return "the port is free here, so gRPC refused for another reason "
             "(the TLS files? see its lines above)";
    case EADDRINUSE:
      return absl::StrCat("port ", port,
                          " is in use (another server, or another copy of "
                          "this one): choose another with --port");
    case EADDRNOTAVAIL:
      return absl::StrCat(host,
                          " is not an address of this machine: give one of "
                          "its own, 0.0.0.0 or [::] for all of them");
    case EACCES:
      return absl::StrCat(
          "ports below 1024 need privileges "
          "(CAP_NET_BIND_SERVICE): use one above, such as "
          "50051");
    case EAFNOSUPPORT:
      return absl::StrCat(host,
                          " is of an address family this machine does "
                          "not offer (no IPv6?)");
    default:
      return absl::StrCat("binding it fails: ", std::strerror(error));
  }
}

}  // namespace stylizer
