// Mutual-TLS client names; see client_names.h.
#include "server/service/client_names.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace stylizer {
namespace {

// gRPC's names for the verified peer certificate's fields.
constexpr char kSubjectAltNames[] = "x509_subject_alternative_name";
constexpr char kCommonName[] = "x509_common_name";

std::vector<std::string> Values(const grpc::AuthContext& auth,
                                const char* property) {
  std::vector<std::string> values;
  for (const grpc::string_ref& value : auth.FindPropertyValues(property)) {
    values.emplace_back(value.data(), value.size());
  }
  return values;
}

}  // namespace

std::vector<std::string> ClientCertificateNames(const grpc::AuthContext& auth) {
  std::vector<std::string> names = Values(auth, kSubjectAltNames);
  if (names.empty()) names = Values(auth, kCommonName);
  return names;
}

absl::Status AdmitClientNames(const grpc::AuthContext& auth,
                              const std::vector<std::string>& allowed) {
  if (allowed.empty()) return absl::OkStatus();
  const std::vector<std::string> names = ClientCertificateNames(auth);
  for (const std::string& name : names) {
    if (std::find(allowed.begin(), allowed.end(), name) != allowed.end()) {
      return absl::OkStatus();
    }
  }
  // The certificate's own names only: the list is the server's to keep.
  return absl::PermissionDeniedError(absl::StrCat(
      "the client certificate (",
      names.empty() ? "without names" : absl::StrJoin(names, ", "),
      ") is signed by the client CA but is not one this server admits "
      "(--tls_client_names)"));
}

absl::Status CheckClientNameList(const std::vector<std::string>& names) {
  for (const std::string& name : names) {
    if (name.empty()) {
      return absl::InvalidArgumentError(
          "--tls_client_names has an empty name (a stray comma?): give the "
          "client certificates' names, comma-separated");
    }
  }
  return absl::OkStatus();
}

}  // namespace stylizer
