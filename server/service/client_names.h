// Which mutual-TLS clients may call: the names of a verified client
// certificate against the list the server admits (--tls_client_names). The
// client CA decides who can connect; this decides which of the certificates
// it signed are let in, as a CA often signs for more services than one.
#ifndef STYLIZER_SERVER_SERVICE_CLIENT_NAMES_H_
#define STYLIZER_SERVER_SERVICE_CLIENT_NAMES_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "grpcpp/security/auth_context.h"

namespace stylizer {

// The names a client certificate is known by: its subject alternative names
// (DNS, URI, e-mail, IP), or its subject's common name when it has none (as
// RFC 6125 matches a server's).
std::vector<std::string> ClientCertificateNames(const grpc::AuthContext& auth);

// OK when `allowed` is empty or holds one of the certificate's names (exact,
// case-sensitive). Else PERMISSION_DENIED naming the certificate's names.
absl::Status AdmitClientNames(const grpc::AuthContext& auth,
                              const std::vector<std::string>& allowed);

// INVALID_ARGUMENT for an empty name (a stray comma) in the flag's list.
absl::Status CheckClientNameList(const std::vector<std::string>& names);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVICE_CLIENT_NAMES_H_
