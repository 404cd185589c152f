// Checks of PEM certificates and keys with OpenSSL, before gRPC is handed
// them: gRPC only logs its own lines when it cannot use them, and fails
// every handshake. The server checks its TLS files with them, the client
// its --ca, --cert and --key.
#ifndef STYLIZER_SERVER_SERVICE_PEM_CHECK_H_
#define STYLIZER_SERVER_SERVICE_PEM_CHECK_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace stylizer {

// InvalidArgument unless `cert_pem` holds a certificate and `key_pem` an
// unencrypted private key that matches it; FailedPrecondition when the
// certificate has expired, or starts more than 5 minutes from now (a state
// that time may change: not valid yet). The message names the files by
// `cert_name` and `key_name` ("the <name> holds no PEM certificate"), never
// shows a key.
absl::Status CheckCertificateAndKey(absl::string_view cert_pem,
                                    absl::string_view key_pem,
                                    absl::string_view cert_name,
                                    absl::string_view key_name);

// InvalidArgument unless `pem` holds at least one certificate.
absl::Status CheckCertificates(absl::string_view pem, absl::string_view name);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVICE_PEM_CHECK_H_
