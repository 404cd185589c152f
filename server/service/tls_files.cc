// Checked copies of the TLS files for the certificate watcher; see
// tls_files.h.
#include "server/service/tls_files.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/common/remove_tree.h"
#include "server/service/file_read.h"
#include "server/service/pem_check.h"

namespace stylizer {
namespace {

absl::Status WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  out.close();
  if (!out) {
    return absl::InternalError(absl::StrCat("cannot write ", path));
  }
  chmod(path.c_str(), 0600);
  return absl::OkStatus();
}

// The lock a server holds on its copies for as long as it runs: the kernel
// lets it go when the process ends, however it ends, in any PID namespace
// (a PID and start time were taken for another server's in a container of
// its own).
constexpr char kLockFile[] = "/lock";

}  // namespace

int TlsFiles::RemoveOrphanedCopies(const std::string& tmp_dir) {
  std::error_code ec;
  int removed = 0;
  for (const auto& entry : std::filesystem::directory_iterator(tmp_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!absl::StartsWith(name, "stylizer-tls-")) continue;
    // A directory without a lock file is left alone: it may be another
    // server's, of a version that made none.
    const int fd = open((entry.path().string() + kLockFile).c_str(),
                        O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) continue;
    const bool orphaned = flock(fd, LOCK_EX | LOCK_NB) == 0;
    if (orphaned) {
      RemoveTree(entry.path().string());
      ++removed;
    }
    close(fd);
  }
  return removed;
}

absl::Status CheckTlsFiles(absl::string_view cert_pem,
                           absl::string_view key_pem,
                           absl::string_view ca_pem) {
  absl::Status status = CheckCertificateAndKey(
      cert_pem, key_pem, "TLS certificate file", "TLS key file");
  if (status.ok() && !ca_pem.empty()) {
    status = CheckCertificates(ca_pem, "TLS client CA file");
  }
  return status;
}

absl::StatusOr<std::unique_ptr<TlsFiles>> TlsFiles::Create(
    const std::string& key_path, const std::string& cert_path,
    const std::string& ca_path) {
  absl::StatusOr<std::string> key = ReadWholeFile(key_path, "TLS key file");
  if (!key.ok()) return key.status();
  absl::StatusOr<std::string> cert =
      ReadWholeFile(cert_path, "TLS certificate file");
  if (!cert.ok()) return cert.status();
  std::string ca;
  if (!ca_path.empty()) {
    absl::StatusOr<std::string> read =
        ReadWholeFile(ca_path, "TLS client CA file");
    if (!read.ok()) return read.status();
    ca = *std::move(read);
  }
  if (absl::Status s = CheckTlsFiles(*cert, *key, ca); !s.ok()) return s;
  const char* tmp = getenv("TMPDIR");
  const std::string tmp_dir = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
  // The copies of a server killed (SIGKILL, out of memory) stayed, key and
  // all: on Kubernetes on a disk-backed volume that outlives the restart.
  RemoveOrphanedCopies(tmp_dir);
  std::string pattern = absl::StrCat(tmp_dir, "/stylizer-tls-XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(
        absl::StrCat("cannot make a private directory for the TLS files (",
                     pattern, "): ", strerror(errno)));
  }
  const int lock_fd =
      open(absl::StrCat(pattern, kLockFile).c_str(),
           O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (lock_fd >= 0) close(lock_fd);
    RemoveTree(pattern);
    return absl::InternalError(
        absl::StrCat("cannot lock the private directory for the TLS files (",
                     pattern, "): ", strerror(err)));
  }
  std::unique_ptr<TlsFiles> files(
      new TlsFiles(key_path, cert_path, ca_path, pattern, lock_fd));
  absl::MutexLock lock(&files->mu_);
  if (absl::Status s = files->StageLocked(*key, *cert, ca); !s.ok()) return s;
  files->staged_ =
      absl::StrCat(*key, std::string(1, '\0'), *cert, std::string(1, '\0'), ca);
  return files;
}

TlsFiles::TlsFiles(std::string key_path, std::string cert_path,
                   std::string ca_path, std::string dir, int lock_fd)
    : key_source_(std::move(key_path)),
      cert_source_(std::move(cert_path)),
      ca_source_(std::move(ca_path)),
      dir_(std::move(dir)),
      lock_fd_(lock_fd) {}

TlsFiles::~TlsFiles() {
  RemoveTree(dir_);
  close(lock_fd_);
}

void TlsFiles::RemoveCopies() { RemoveTree(dir_); }

std::string TlsFiles::key_path() const { return dir_ + "/current/key.pem"; }
std::string TlsFiles::cert_path() const { return dir_ + "/current/cert.pem"; }
std::string TlsFiles::ca_path() const {
  return ca_source_.empty() ? std::string() : dir_ + "/current/ca.pem";
}

absl::Status TlsFiles::StageLocked(const std::string& key,
                                   const std::string& cert,
                                   const std::string& ca) {
  const int version = ++version_;
  const std::string name = absl::StrCat("v", version);
  const std::string vdir = absl::StrCat(dir_, "/", name);
  if (mkdir(vdir.c_str(), 0700) != 0) {
    return absl::InternalError(
        absl::StrCat("cannot make ", vdir, ": ", strerror(errno)));
  }
  for (auto [file, data] :
       {std::pair<const char*, const std::string*>{"key.pem", &key},
        {"cert.pem", &cert},
        {"ca.pem", &ca}}) {
    if (absl::Status s = WriteFile(absl::StrCat(vdir, "/", file), *data);
        !s.ok()) {
      return s;
    }
  }
  const std::string link = dir_ + "/current";
  const std::string next = dir_ + "/current.next";
  unlink(next.c_str());
  if (symlink(name.c_str(), next.c_str()) != 0 ||
      rename(next.c_str(), link.c_str()) != 0) {
    return absl::InternalError(
        absl::StrCat("cannot switch ", link, ": ", strerror(errno)));
  }
  // The version before stays for a read that is under way; older ones go.
  if (version > 2) RemoveTree(absl::StrCat(dir_, "/v", version - 2));
  return absl::OkStatus();
}

absl::StatusOr<TlsFiles::Refresh> TlsFiles::RefreshFromOriginals() {
  absl::StatusOr<std::string> key = ReadWholeFile(key_source_, "TLS key file");
  absl::StatusOr<std::string> cert =
      ReadWholeFile(cert_source_, "TLS certificate file");
  absl::StatusOr<std::string> ca = std::string();
  if (!ca_source_.empty()) {
    ca = ReadWholeFile(ca_source_, "TLS client CA file");
  }
  absl::Status read = !key.ok()    ? key.status()
                      : !cert.ok() ? cert.status()
                                   : ca.status();
  absl::MutexLock lock(&mu_);
  if (!read.ok()) {
    const std::string why = read.ToString();
    if (why == rejected_) return Refresh::kUnchanged;  // reported once
    rejected_ = why;
    return read;
  }
  const std::string contents = absl::StrCat(*key, std::string(1, '\0'), *cert,
                                            std::string(1, '\0'), *ca);
  if (contents == staged_) {
    rejected_.clear();
    return Refresh::kUnchanged;
  }
  const bool seen = contents == rejected_;
  // Refused files count as unchanged, unless time may make them good: a
  // certificate that was not valid yet is checked again at every refresh.
  if (seen && !rejected_for_now_) return Refresh::kUnchanged;
  if (absl::Status s = CheckTlsFiles(*cert, *key, *ca); !s.ok()) {
    rejected_ = contents;
    rejected_for_now_ = s.code() == absl::StatusCode::kFailedPrecondition;
    if (seen) return Refresh::kUnchanged;  // reported once
    return s;
  }
  if (absl::Status s = StageLocked(*key, *cert, *ca); !s.ok()) return s;
  staged_ = contents;
  rejected_.clear();
  rejected_for_now_ = false;
  return Refresh::kStaged;
}

}  // namespace stylizer
