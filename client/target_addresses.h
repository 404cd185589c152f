// How many server addresses a gRPC target names, for `video --split=auto`
// (one segment per replica). gRPC's balancer does not expose its resolved
// addresses, so this resolves the target the same way once: ipv4:/ipv6:
// lists are counted, a DNS name (dns:///name:port or name:port) is looked up.
#ifndef STYLIZER_CLIENT_TARGET_ADDRESSES_H_
#define STYLIZER_CLIENT_TARGET_ADDRESSES_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace stylizer::client {

// The number of distinct addresses `target` resolves to now; 1 for schemes
// with one endpoint (unix:) and when the name does not resolve.
int CountTargetAddresses(absl::string_view target);

// Whether some address `target` names takes a TCP connection within
// `timeout` (a name is resolved; no port: gRPC's 443). False for schemes
// without TCP ports (unix:, vsock:).
bool AcceptsConnections(absl::string_view target, absl::Duration timeout);

// Whether every address `target` names is this machine (a loopback address,
// localhost, a Unix socket): what a plaintext call to it sends stays here.
bool TargetIsLocal(absl::string_view target);

// Whether some host name of `target` comes without a port ("localhost",
// "dns:///svc"), which gRPC dials on 443, not the server's 50051 (an IP
// literal without one, which gRPC dials on port 0, CheckTargetPorts
// refuses).
bool NamesNoPort(absl::string_view target);

// InvalidArgument when a numeric port of `target` (host:port, [v6]:port,
// dns:///host:port, each address of an ipv4:/ipv6: list) is outside
// [1, 65535]: gRPC would take it modulo 65536 and reach another port; also
// when an entry of an ipv4:/ipv6: list is not a numeric address of that
// family with a port, which gRPC cannot make a channel for.
absl::Status CheckTargetPorts(absl::string_view target);

}  // namespace stylizer::client

#endif  // STYLIZER_CLIENT_TARGET_ADDRESSES_H_
