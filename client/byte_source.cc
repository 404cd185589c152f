// File, memory and stream byte sources for uploads; see byte_source.h.
#include "client/byte_source.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace stylizer::client {
namespace {

// A failed read of an input (EIO on a bad disk, a stale NFS handle) is that
// input's fault, as a failed open is: the other inputs of the command go on
// (IsThisInputsFault). It ended the whole command as INTERNAL.
absl::Status CannotRead(absl::string_view what, int err) {
  return absl::InvalidArgumentError(
      absl::StrCat("cannot read ", what, ": ", strerror(err)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<FileSource>> FileSource::Open(
    const std::string& path) {
  // O_NONBLOCK: opening a named pipe waited for a writer; it is refused.
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    const std::string text = absl::StrCat("cannot open ", path, ": ", strerror(err));
    if (err == ENOENT) return absl::NotFoundError(text);
    if (err == EACCES) return absl::PermissionDeniedError(text);
    return absl::InvalidArgumentError(text);
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return absl::InvalidArgumentError(absl::StrCat(
        path, S_ISFIFO(st.st_mode) ? " is a pipe (FIFO), not a regular file"
                                   : " is not a regular file"));
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  if (st.st_size == 0) {
    close(fd);
    return absl::InvalidArgumentError(absl::StrCat(path, " is empty"));
  }
  return std::unique_ptr<FileSource>(
      new FileSource(path, fd, static_cast<uint64_t>(st.st_size)));
}

FileSource::~FileSource() { close(fd_); }

absl::Status FileSource::Rewind() {
  if (lseek(fd_, 0, SEEK_SET) != 0) {
    return absl::InternalError(
        absl::StrCat("cannot rewind ", path_, ": ", strerror(errno)));
  }
  pos_ = 0;
  return absl::OkStatus();
}

absl::StatusOr<size_t> FileSource::Read(char* buf, size_t n,
                                        const std::atomic<bool>&) {
  // Never past the size the job announced: the server refuses an upload
  // longer than that (a recording that grew).
  n = static_cast<size_t>(std::min<uint64_t>(n, size_ - pos_));
  if (n == 0) return 0;
  while (true) {
    const ssize_t got = read(fd_, buf, n);
    if (got == 0) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "%s became shorter while it was read (%d bytes, %d when opened)",
          path_, pos_, size_));
    }
    if (got > 0) {
      pos_ += static_cast<uint64_t>(got);
      return static_cast<size_t>(got);
    }
    if (errno != EINTR) return CannotRead(path_, errno);
  }
}

absl::StatusOr<size_t> StringSource::Read(char* buf, size_t n,
                                          const std::atomic<bool>&) {
  const size_t take = std::min(n, data_.size() - pos_);
  std::memcpy(buf, data_.data() + pos_, take);
  pos_ += take;
  return take;
}

absl::Status StreamSource::Rewind() {
  if (!read_any_) return absl::OkStatus();
  return absl::FailedPreconditionError(NoRewindReason());
}

absl::StatusOr<size_t> StreamSource::Read(char* buf, size_t n,
                                          const std::atomic<bool>& stop) {
  if (n == 0) return 0;
  size_t got = 0;
  if (in_ == nullptr) {
    absl::StatusOr<size_t> some = ReadSome(fd_, buf, n, stop, what_);
    if (!some.ok()) return some.status();
    got = *some;
  } else {
    if (in_->eof()) return 0;
    in_->read(buf, static_cast<std::streamsize>(n));
    got = static_cast<size_t>(in_->gcount());
    if (in_->bad()) return CannotRead(what_, EIO);
  }
  read_any_ = read_any_ || got > 0;
  return got;
}

std::string StreamSource::NoRewindReason() const {
  if (!read_any_) return std::string();
  return absl::StrCat("the movie came from ", what_,
                      ", which cannot be read twice (give stylizer a file "
                      "to let it retry)");
}

absl::StatusOr<size_t> ReadSome(int fd, char* buf, size_t n,
                                const std::atomic<bool>& stop,
                                const std::string& what) {
  while (true) {
    if (stop.load()) return absl::CancelledError("the call ended");
    pollfd ready{fd, POLLIN, 0};
    const int polled = poll(&ready, 1, /*timeout_ms=*/100);
    if (polled == 0 || (polled < 0 && errno == EINTR)) continue;
    const ssize_t got = read(fd, buf, n);
    if (got >= 0) return static_cast<size_t>(got);
    if (errno != EINTR && errno != EAGAIN) return CannotRead(what, errno);
  }
}

}  // namespace stylizer::client
