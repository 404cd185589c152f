// The TLS files the server's certificate watcher reads: checked copies of
// --tls_key, --tls_cert and --tls_client_ca in a private directory.
//
// gRPC's FileWatcherCertificateProvider takes whatever the files hold at
// each reload. A key that does not match its certificate, or a file caught
// half-written during a renewal, made every new handshake fail (health
// probes included) until the files were right again. The watcher reads
// these copies instead; Refresh() copies the originals over only once they
// parse and the key matches the certificate, so a bad renewal leaves the
// last good files in use.
#ifndef STYLIZER_SERVER_SERVICE_TLS_FILES_H_
#define STYLIZER_SERVER_SERVICE_TLS_FILES_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace stylizer {

// InvalidArgument unless `cert_pem` holds a certificate, `key_pem` a private
// key that matches it, and `ca_pem` (when not empty) at least one
// certificate. The message names the file and what is wrong, never a key.
absl::Status CheckTlsFiles(absl::string_view cert_pem,
                           absl::string_view key_pem, absl::string_view ca_pem);

class TlsFiles {
 public:
  // Reads and checks the originals (`ca_path` may be empty: no client CA)
  // and stages them in $TMPDIR/stylizer-tls-XXXXXX, whose `lock` file this
  // process holds locked while it runs, after removing the copies of
  // servers that are gone (RemoveOrphanedCopies). NotFound for a missing file,
  // InvalidArgument for bad contents, Internal if the private directory
  // cannot be made.
  // Removes the stylizer-tls-* directories in `tmp_dir` whose lock no
  // process holds (their server is gone); returns how many.
  static int RemoveOrphanedCopies(const std::string& tmp_dir);

  static absl::StatusOr<std::unique_ptr<TlsFiles>> Create(
      const std::string& key_path, const std::string& cert_path,
      const std::string& ca_path);
  // Removes the private directory.
  ~TlsFiles();
  TlsFiles(const TlsFiles&) = delete;
  TlsFiles& operator=(const TlsFiles&) = delete;

  // Removes the private directory and the copies in it now (the destructor
  // does too), for a process about to _exit.
  void RemoveCopies();

  // The staged copies, for the certificate watcher ("" for no CA).
  std::string key_path() const;
  std::string cert_path() const;
  std::string ca_path() const;

  enum class Refresh { kUnchanged, kStaged };
  // Reads the originals; stages them if they changed and pass
  // CheckTlsFiles. The same bad contents (or the same read failure) are
  // reported once, then count as unchanged (a certificate refused as not
  // valid yet is checked again each time, and staged once it is); the
  // staged files stay.
  absl::StatusOr<Refresh> RefreshFromOriginals() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  TlsFiles(std::string key_path, std::string cert_path, std::string ca_path,
           std::string dir, int lock_fd);
  // Writes the three files into a new version directory and points
  // <dir>/current at it (one rename: the watcher sees old or new files,
  // never a mix).
  absl::Status StageLocked(const std::string& key, const std::string& cert,
                           const std::string& ca)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string key_source_, cert_source_, ca_source_;
  const std::string dir_;  // private, 0700
  const int lock_fd_;      // holds dir_/lock while this server runs
  absl::Mutex mu_;
  int version_ ABSL_GUARDED_BY(mu_) = 0;
  std::string staged_ ABSL_GUARDED_BY(mu_);    // key + cert + ca staged
  std::string rejected_ ABSL_GUARDED_BY(mu_);  // last refused, reported
  // rejected_ was refused for a certificate not valid yet: checked again.
  bool rejected_for_now_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVICE_TLS_FILES_H_
