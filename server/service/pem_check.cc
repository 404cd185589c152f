// PEM checks with OpenSSL; see pem_check.h.
#include "server/service/pem_check.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdint>
#include <ctime>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace stylizer {
namespace {

// Never prompts for a passphrase (an encrypted key is refused).
int NoPassphrase(char*, int, int, void*) { return 0; }

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

std::unique_ptr<BIO, BioFree> Bio(absl::string_view pem) {
  return std::unique_ptr<BIO, BioFree>(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// How far ahead of this machine's clock a certificate may start: one that a
// CA issued a moment ago on a clock a little ahead is not refused for it.
constexpr int64_t kClockSkewSeconds = 5 * 60;

std::string Utc(const ASN1_TIME* time) {
  std::tm tm = {};
  if (ASN1_TIME_to_tm(time, &tm) != 1) return "an unreadable date";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::FromTimeT(timegm(&tm)),
                          absl::UTCTimeZone());
}

// FailedPrecondition when `cert` is outside its validity period now: every
// handshake with it would fail (health probes included).
absl::Status CheckValidityPeriod(X509* cert, absl::string_view cert_name) {
  time_t now = absl::ToTimeT(absl::Now());
  if (X509_cmp_time(X509_get0_notAfter(cert), &now) < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("the ", cert_name, "'s certificate expired on ",
                     Utc(X509_get0_notAfter(cert)), ": renew it"));
  }
  time_t ahead = now + kClockSkewSeconds;
  if (X509_cmp_time(X509_get0_notBefore(cert), &ahead) > 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the ", cert_name, "'s certificate is not valid before ",
        Utc(X509_get0_notBefore(cert)), ", and this machine's clock says ",
        absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::FromTimeT(now),
                         absl::UTCTimeZone()),
        " (a certificate issued for later, or a clock that is wrong)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckCertificateAndKey(absl::string_view cert_pem,
                                    absl::string_view key_pem,
                                    absl::string_view cert_name,
                                    absl::string_view key_name) {
  absl::Status status;
  std::unique_ptr<X509, X509Free> cert(
      PEM_read_bio_X509(Bio(cert_pem).get(), nullptr, NoPassphrase, nullptr));
  std::unique_ptr<EVP_PKEY, KeyFree> key(PEM_read_bio_PrivateKey(
      Bio(key_pem).get(), nullptr, NoPassphrase, nullptr));
  if (cert == nullptr) {
    status = absl::InvalidArgumentError(
        absl::StrCat("the ", cert_name, " holds no PEM certificate"));
  } else if (key == nullptr) {
    status = absl::InvalidArgumentError(absl::StrCat(
        "the ", key_name, " holds no PEM private key (or an encrypted one)"));
  } else if (X509_check_private_key(cert.get(), key.get()) != 1) {
    status = absl::InvalidArgumentError(
        absl::StrCat("the ", key_name, " does not match the ", cert_name,
                     " (replace both together)"));
  } else {
    status = CheckValidityPeriod(cert.get(), cert_name);
  }
  ERR_clear_error();  // the thread's OpenSSL errors are gRPC's too
  return status;
}

absl::Status CheckCertificates(absl::string_view pem, absl::string_view name) {
  auto bio = Bio(pem);
  int count = 0;
  while (X509* cert =
             PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr)) {
    X509_free(cert);
    ++count;
  }
  ERR_clear_error();
  if (count == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("the ", name, " holds no PEM certificate"));
  }
  return absl::OkStatus();
}

}  // namespace stylizer
