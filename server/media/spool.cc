// Upload spool: memory first, then an anonymous temporary file (see spool.h).
#include "server/media/spool.h"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/media/wait_time.h"
#include "server/service/retry_info.h"

namespace stylizer {
namespace media {
namespace {

constexpr size_t kBlockSize = size_t{1} << 20;

// How long a caller refused for a full spool disk (or for want of a file
// descriptor) is asked to wait: other uploads end and free their space.
constexpr absl::Duration kOutOfSpaceRetryDelay = absl::Seconds(5);

// Opens a file with no name, so nothing is left behind whatever happens.
absl::StatusOr<int> OpenAnonymousFile(const std::string& dir) {
  int fd = -1;
#ifdef O_TMPFILE
  fd = open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0) return fd;
#endif
  std::string path = absl::StrCat(dir, "/stylizer-spool-XXXXXX");
  fd = mkostemp(path.data(), O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == EMFILE || err == ENFILE) {
      // Out of file descriptors: the calls in progress hold them, and give
      // them back as they end; busy, not a fault of the server's.
      return WithRetryDelay(
          absl::ResourceExhaustedError(absl::StrCat(
              "the server cannot open a spool file for the upload now (",
              std::strerror(err), "); retry when other calls have ended")),
          kOutOfSpaceRetryDelay);
    }
    // Without the path: the message reaches the caller, and the operator
    // knows the flag.
    return absl::InternalError(absl::StrCat(
        "cannot create a spool file in the server's directory for uploads "
        "(--spool_dir, else $TMPDIR): ",
        std::strerror(err)));
  }
  unlink(path.c_str());
  return fd;
}

}  // namespace

std::string Spool::Directory(const std::string& temp_dir) {
  if (!temp_dir.empty()) return temp_dir;
  const char* env = std::getenv("TMPDIR");
  if (env != nullptr && env[0] != '\0') return env;
  return "/tmp";
}

absl::Status Spool::CheckTempDir(const std::string& temp_dir) {
  absl::StatusOr<int> fd = OpenAnonymousFile(Directory(temp_dir));
  if (!fd.ok()) {
    return absl::Status(
        fd.status().code(),
        absl::StrCat(Directory(temp_dir), ": ", fd.status().message()));
  }
  close(*fd);
  return absl::OkStatus();
}

namespace {

// Writes `size` bytes at `offset` of the spool file `fd`, for an upload of
// at least `upload_size` bytes.
absl::Status WriteAll(int fd, const char* data, size_t size, uint64_t offset,
                      uint64_t upload_size) {
  while (size > 0) {
    ssize_t n = pwrite(fd, data, size, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      struct statvfs disk {};
      if (err == ENOSPC && fstatvfs(fd, &disk) == 0 &&
          std::max(upload_size, offset + size) >
              uint64_t{disk.f_blocks} * disk.f_frsize) {
        // Larger than the whole disk: no wait can make room for it.
        return absl::ResourceExhaustedError(absl::StrCat(
            "the movie is larger than the server's whole disk for uploads "
            "(--spool_dir, else $TMPDIR: ",
            uint64_t{disk.f_blocks} * disk.f_frsize,
            " bytes); send a smaller movie"));
      }
      if (err == ENOSPC || err == EDQUOT) {
        // The uploads of the calls in progress fill the disk: busy, not a
        // fault of the server's (INTERNAL, which clients do not retry).
        return WithRetryDelay(
            absl::ResourceExhaustedError(absl::StrCat(
                "the server's disk for uploads (--spool_dir, else $TMPDIR) "
                "is full (",
                std::strerror(err),
                "); retry when other uploads have ended, or send a smaller "
                "movie")),
            kOutOfSpaceRetryDelay);
      }
      return absl::InternalError(
          absl::StrCat("writing the spool file: ", std::strerror(err)));
    }
    data += n;
    size -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Spool>> Spool::Create(const Options& options) {
  if (options.max_size == 0 || options.read_ahead == 0) {
    return absl::InvalidArgumentError(
        "spool max_size and read_ahead must be > 0");
  }
  return std::unique_ptr<Spool>(new Spool(options));
}

Spool::Spool(const Options& options)
    : options_(options), memory_limit_(options.memory_limit) {}

size_t Spool::MaxMemoryBytes(size_t memory_limit) {
  return (memory_limit + kBlockSize - 1) / kBlockSize * kBlockSize;
}

void Spool::LimitMemory(size_t bytes) {
  absl::MutexLock lock(&mu_);
  memory_limit_ = std::min(memory_limit_, bytes);
}

absl::Status Spool::ExpectSize(uint64_t bytes) {
  absl::MutexLock lock(&mu_);
  expected_size_ = bytes;
  // An upload that will go to the disk takes its room now: refused before
  // its bytes are sent rather than part way, and again at every retry.
  if (bytes > memory_limit_) return TakeDiskLocked(bytes);
  return absl::OkStatus();
}

Spool::~Spool() {
  absl::MutexLock lock(&mu_);
  if (fd_ >= 0) close(fd_);
  if (options_.disk_budget != nullptr) {
    options_.disk_budget->Give(disk_taken_, disk_written_);
  }
}

absl::Status Spool::TakeDiskLocked(uint64_t total) {
  if (options_.disk_budget == nullptr || total <= disk_taken_) {
    return absl::OkStatus();
  }
  absl::Status s = options_.disk_budget->Take(
      total - disk_taken_, std::max(expected_size_, total), disk_taken_);
  if (s.ok()) disk_taken_ = total;
  return s;
}

void Spool::WroteLocked(uint64_t bytes) {
  disk_written_ += bytes;
  if (options_.disk_budget != nullptr) options_.disk_budget->Wrote(bytes);
}

void Spool::AppendToMemoryLocked(absl::string_view bytes) {
  uint64_t at = size_;
  while (!bytes.empty()) {
    size_t in_block = static_cast<size_t>(at % kBlockSize);
    if (in_block == 0 && at / kBlockSize == blocks_.size()) {
      blocks_.push_back(std::make_unique<char[]>(kBlockSize));
    }
    size_t n = std::min(bytes.size(), kBlockSize - in_block);
    std::memcpy(blocks_[at / kBlockSize].get() + in_block, bytes.data(), n);
    bytes.remove_prefix(n);
    at += n;
  }
}

void Spool::ReadFromMemoryLocked(uint64_t offset, char* out,
                                 size_t size) const {
  while (size > 0) {
    size_t in_block = static_cast<size_t>(offset % kBlockSize);
    size_t n = std::min(size, kBlockSize - in_block);
    std::memcpy(out, blocks_[offset / kBlockSize].get() + in_block, n);
    out += n;
    offset += n;
    size -= n;
  }
}

absl::Status Spool::SpillLocked() {
  if (absl::Status s = TakeDiskLocked(size_); !s.ok()) return s;
  absl::StatusOr<int> fd = OpenAnonymousFile(Directory(options_.temp_dir));
  if (!fd.ok()) return fd.status();
  fd_ = *fd;
  absl::Status s;
  for (uint64_t done = 0; done < size_ && s.ok(); done += kBlockSize) {
    size_t n =
        static_cast<size_t>(std::min<uint64_t>(kBlockSize, size_ - done));
    s = WriteAll(fd_, blocks_[done / kBlockSize].get(), n, done,
                 expected_size_);
    if (s.ok()) WroteLocked(n);
  }
  blocks_.clear();
  blocks_.shrink_to_fit();
  return s;
}

absl::Status Spool::Append(absl::string_view bytes) {
  std::function<void()> callback;
  {
    absl::MutexLock lock(&mu_);
    if (!abort_status_.ok()) return abort_status_;
    // Nothing to store; an empty chunk may follow the announced size's last
    // byte, when the upload is complete already.
    if (bytes.empty()) return absl::OkStatus();
    if (finished_) {
      return absl::FailedPreconditionError("upload already finished");
    }
    if (size_ + bytes.size() > options_.max_size) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "the upload is larger than the server's limit of ", options_.max_size,
          " bytes (--max_upload_bytes); send a smaller movie"));
    }
    if (fd_ < 0 && size_ + bytes.size() > memory_limit_) {
      absl::Status s = SpillLocked();
      if (!s.ok()) return s;
    }
    if (fd_ >= 0) {
      absl::Status s = TakeDiskLocked(size_ + bytes.size());
      if (s.ok()) {
        s = WriteAll(fd_, bytes.data(), bytes.size(), size_, expected_size_);
      }
      if (s.ok()) WroteLocked(bytes.size());
      if (!s.ok()) return s;
    } else {
      AppendToMemoryLocked(bytes);
    }
    size_ += bytes.size();
    // The announced size has all arrived: that is the upload's end, whether
    // or not the client half-closes (the reader must not wait for it).
    if (expected_size_ > 0 && size_ == expected_size_) {
      finished_ = true;
      callback = TakeReadyCallbackLocked();
    }
  }
  if (callback) callback();
  return absl::OkStatus();
}

void Spool::Finish() {
  std::function<void()> callback;
  {
    absl::MutexLock lock(&mu_);
    finished_ = true;
    callback = TakeReadyCallbackLocked();
  }
  if (callback) callback();
}

void Spool::Abort(absl::Status status) {
  if (status.ok()) status = absl::CancelledError("upload aborted");
  std::function<void()> callback;
  {
    absl::MutexLock lock(&mu_);
    if (abort_status_.ok()) abort_status_ = std::move(status);
    callback = TakeReadyCallbackLocked();
  }
  if (callback) callback();
}

bool Spool::WantsMoreLocked() const {
  if (!abort_status_.ok() || finished_ || reader_wants_end_) return true;
  return size_ < reader_high_water_ + options_.read_ahead;
}

bool Spool::WantsMore() const {
  absl::MutexLock lock(&mu_);
  return WantsMoreLocked();
}

std::function<void()> Spool::TakeReadyCallbackLocked() {
  if (!wants_more_callback_ || !WantsMoreLocked()) return nullptr;
  return std::exchange(wants_more_callback_, nullptr);
}

void Spool::NotifyWhenWantsMore(std::function<void()> callback) {
  {
    absl::MutexLock lock(&mu_);
    wants_more_callback_ = std::move(callback);
    callback = TakeReadyCallbackLocked();
  }
  if (callback) callback();
}

absl::StatusOr<size_t> Spool::ReadAt(uint64_t offset, char* out, size_t size) {
  std::function<void()> callback;
  {
    absl::MutexLock lock(&mu_);
    if (offset > reader_high_water_) {
      // The reader wants bytes further on: the writer may need to fetch them.
      reader_high_water_ = offset;
      callback = TakeReadyCallbackLocked();
    }
  }
  if (callback) callback();

  struct Wait {
    Spool* spool;
    uint64_t offset;
    static bool Ready(Wait* w) ABSL_NO_THREAD_SAFETY_ANALYSIS {
      Spool* s = w->spool;
      return !s->abort_status_.ok() || s->finished_ || s->size_ > w->offset;
    }
  } wait{this, offset};
  int fd = -1;
  size_t n = 0;
  {
    absl::MutexLock lock(&mu_);
    {
      ScopedWait waiting;  // for the client's bytes: not decode time
      mu_.Await(absl::Condition(&Wait::Ready, &wait));
    }
    if (!abort_status_.ok()) return abort_status_;
    if (offset >= size_) return size_t{0};
    n = static_cast<size_t>(std::min<uint64_t>(size, size_ - offset));
    if (fd_ < 0) {
      ReadFromMemoryLocked(offset, out, n);
    } else {
      fd = fd_;
    }
    reader_high_water_ = std::max(reader_high_water_, offset + n);
    callback = TakeReadyCallbackLocked();
  }
  if (callback) callback();
  if (fd >= 0) {
    // The file only grows and these bytes are written: no lock needed. The fd
    // lives as long as the spool, which outlives its reader.
    size_t done = 0;
    while (done < n) {
      ssize_t r =
          pread(fd, out + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        return absl::InternalError(
            absl::StrCat("reading the spool file: ", std::strerror(errno)));
      }
      done += static_cast<size_t>(r);
    }
  }
  return n;
}

absl::StatusOr<uint64_t> Spool::WaitForFinalSize() {
  std::function<void()> callback;
  {
    // The reader needs the very end: the writer must not wait for it.
    absl::MutexLock lock(&mu_);
    reader_wants_end_ = true;
    callback = TakeReadyCallbackLocked();
  }
  if (callback) callback();
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](Spool* s) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return s->finished_ || !s->abort_status_.ok();
      },
      this));
  if (!abort_status_.ok()) return abort_status_;
  return size_;
}

std::optional<uint64_t> Spool::FinalSize() const {
  absl::MutexLock lock(&mu_);
  if (!finished_) return std::nullopt;
  return size_;
}

uint64_t Spool::bytes_received() const {
  absl::MutexLock lock(&mu_);
  return size_;
}

bool Spool::on_disk() const {
  absl::MutexLock lock(&mu_);
  return fd_ >= 0;
}

}  // namespace media
}  // namespace stylizer
