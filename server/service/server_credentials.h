// The transport credentials of the server's listening port, from its TLS
// options: plaintext, TLS read once, or TLS whose files gRPC's watcher reads
// again (--tls_reload_interval), with or without client certificates.
#ifndef STYLIZER_SERVER_SERVICE_SERVER_CREDENTIALS_H_
#define STYLIZER_SERVER_SERVICE_SERVER_CREDENTIALS_H_

#include <memory>

#include "absl/status/statusor.h"
#include "grpcpp/security/server_credentials.h"
#include "server/service/server.h"
#include "server/service/tls_files.h"

namespace stylizer {

// INVALID_ARGUMENT for an incomplete TLS setup (a certificate without its
// key, a client CA without TLS) or an empty file; the file's read error for
// one that cannot be read, so that it fails the start. `files`: the checked
// copies the watcher reads (null when the files are read once,
// --tls_reload_interval=0).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(
    const Server::Options& options, const TlsFiles* files);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVICE_SERVER_CREDENTIALS_H_
