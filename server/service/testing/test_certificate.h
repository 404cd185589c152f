// Self-signed certificates with a chosen validity period, made with OpenSSL's
// API (the openssl command of Debian 12 cannot date one in the past), for
// tests of the checks that refuse expired or not yet valid certificates.
#ifndef STYLIZER_SERVER_SERVICE_TESTING_TEST_CERTIFICATE_H_
#define STYLIZER_SERVER_SERVICE_TESTING_TEST_CERTIFICATE_H_

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <string>

#include "absl/time/time.h"

namespace stylizer::testing {

struct TestCertificate {
  std::string cert_pem;
  std::string key_pem;
};

inline std::string BioText(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  std::string text(data, static_cast<size_t>(size));
  BIO_free(bio);
  return text;
}

// An EC P-256 certificate for CN=`name`, valid from now + `from` to
// now + `to` (either may be negative).
inline TestCertificate MakeTestCertificate(absl::Duration from,
                                           absl::Duration to,
                                           const char* name = "test") {
  EVP_PKEY* key = EVP_EC_gen("prime256v1");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), absl::ToInt64Seconds(from));
  X509_gmtime_adj(X509_getm_notAfter(cert), absl::ToInt64Seconds(to));
  X509_set_pubkey(cert, key);
  X509_NAME* subject = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(name), -1,
                             -1, 0);
  X509_set_issuer_name(cert, subject);
  X509_sign(cert, key, EVP_sha256());
  TestCertificate made;
  BIO* cert_bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(cert_bio, cert);
  made.cert_pem = BioText(cert_bio);
  BIO* key_bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(key_bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  made.key_pem = BioText(key_bio);
  X509_free(cert);
  EVP_PKEY_free(key);
  return made;
}

}  // namespace stylizer::testing

#endif  // STYLIZER_SERVER_SERVICE_TESTING_TEST_CERTIFICATE_H_
