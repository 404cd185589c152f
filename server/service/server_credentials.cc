// The server's transport credentials from its TLS options; see
// server_credentials.h.
#include "server/service/server_credentials.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "server/service/client_names.h"
#include "server/service/file_read.h"
#include "server/service/tls_files.h"

namespace stylizer {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path,
                                     absl::string_view what) {
  absl::StatusOr<std::string> data =
      ReadWholeFile(path, absl::StrCat(what, " file"));
  if (data.ok() && data->empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the ", what, " file ", path, " is empty"));
  }
  return data;
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(
    const Server::Options& o, const TlsFiles* files) {
  if (o.tls_cert_file.empty() != o.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "TLS needs both a certificate (--tls_cert) and its key (--tls_key)");
  }
  if (!o.tls_client_names.empty() && o.tls_client_ca_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls_client_names needs --tls_client_ca (mutual TLS): the names are "
        "those of client certificates");
  }
  if (absl::Status s = CheckClientNameList(o.tls_client_names); !s.ok()) {
    return s;
  }
  if (o.tls_cert_file.empty()) {
    if (!o.tls_client_ca_file.empty()) {
      return absl::InvalidArgumentError(
          "--tls_client_ca needs --tls_cert and --tls_key");
    }
    return grpc::InsecureServerCredentials();
  }
  // Read once here so that a missing or unreadable file fails the start.
  absl::StatusOr<std::string> cert =
      ReadFile(o.tls_cert_file, "TLS certificate");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadFile(o.tls_key_file, "TLS key");
  if (!key.ok()) return key.status();
  std::string ca;
  if (!o.tls_client_ca_file.empty()) {
    absl::StatusOr<std::string> read =
        ReadFile(o.tls_client_ca_file, "TLS client CA");
    if (!read.ok()) return read.status();
    ca = *std::move(read);
  }
  if (o.tls_reload_interval <= absl::ZeroDuration()) {
    // The checks the reloading path makes in TlsFiles::Create: gRPC would
    // take a mismatched key or an expired certificate and fail every
    // handshake.
    if (absl::Status s = CheckTlsFiles(*cert, *key, ca); !s.ok()) return s;
    grpc::SslServerCredentialsOptions ssl(
        o.tls_client_ca_file.empty()
            ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
            : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
    ssl.pem_root_certs = ca;
    ssl.pem_key_cert_pairs.push_back({*key, *cert});
    return grpc::SslServerCredentials(ssl);
  }
  // gRPC's own file watcher reads the files again every second; new
  // handshakes use what it read last (a renewed certificate, a new client
  // CA bundle), connections already open keep theirs. It reads the checked
  // copies (tls_files.h), which change only when the originals did and
  // passed the checks (every --tls_reload_interval, or at SIGHUP): a key
  // that does not match its certificate would fail every new handshake. It
  // read them once an interval, so a renewal took up to two intervals, and
  // SIGHUP's up to one.
  constexpr unsigned int kWatcherRefreshSeconds = 1;
  auto provider =
      std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
          files->key_path(), files->cert_path(), files->ca_path(),
          kWatcherRefreshSeconds);
  grpc::experimental::TlsServerCredentialsOptions tls(provider);
  tls.watch_identity_key_cert_pairs();
  // With a client CA, a certificate that is sent must verify (else the
  // handshake fails); one that is missing is refused per call by
  // ServiceContext::Admit with UNAUTHENTICATED, so health probes without a
  // certificate still work.
  if (o.tls_client_ca_file.empty()) {
    tls.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  } else {
    tls.watch_root_certs();
    tls.set_cert_request_type(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  return grpc::experimental::TlsServerCredentials(tls);
}

}  // namespace stylizer
