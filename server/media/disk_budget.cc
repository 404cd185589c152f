// The spools' shared disk budget; see disk_budget.h.
#include "server/media/disk_budget.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/media/spool.h"
#include "server/service/retry_info.h"

namespace stylizer {
namespace media {

// As for a full disk: other uploads end and free their room.
constexpr absl::Duration kRetryDelay = absl::Seconds(5);

DiskBudget::DiskBudget(uint64_t limit, SpaceReader space)
    : limit_(limit), space_(std::move(space)) {}

std::unique_ptr<DiskBudget> DiskBudget::ForDirectory(uint64_t limit,
                                                     const std::string& dir) {
  return std::make_unique<DiskBudget>(
      limit, [dir = Spool::Directory(dir)]() -> std::optional<DiskSpace> {
        struct statvfs disk {};
        if (statvfs(dir.c_str(), &disk) != 0) return std::nullopt;
        // f_bavail: what a process that is not root may still write.
        return DiskSpace{uint64_t{disk.f_blocks} * disk.f_frsize,
                         uint64_t{disk.f_bavail} * disk.f_frsize};
      });
}

absl::Status DiskBudget::Take(uint64_t bytes, uint64_t upload_size,
                              uint64_t own) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = CheckLimitLocked(bytes, upload_size, own); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckDiskLocked(bytes, upload_size, own); !s.ok()) {
    return s;
  }
  used_ += bytes;
  return absl::OkStatus();
}

absl::Status DiskBudget::CheckLimitLocked(uint64_t bytes, uint64_t upload_size,
                                          uint64_t own) const {
  if (limit_ == 0 || used_ + bytes <= limit_) return absl::OkStatus();
  if (upload_size > limit_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the movie (", upload_size,
        " bytes or more) is larger than the server's disk for uploads "
        "(--spool_disk_bytes: ",
        limit_, " bytes); send a smaller movie"));
  }
  return WithRetryDelay(
      absl::ResourceExhaustedError(absl::StrCat(
          "the uploads of the jobs in progress fill the server's disk for "
          "uploads (",
          used_, " of ", limit_, " bytes, --spool_disk_bytes",
          own > 0 ? absl::StrCat(", ", own, " of them this upload's") : "",
          "); retry when other uploads have ended, or send a smaller "
          "movie")),
      kRetryDelay);
}

absl::Status DiskBudget::CheckDiskLocked(uint64_t bytes, uint64_t upload_size,
                                         uint64_t own) const {
  if (space_ == nullptr) return absl::OkStatus();
  const std::optional<DiskSpace> disk = space_();
  if (!disk.has_value()) return absl::OkStatus();
  // Room the uploads took and have not written yet is free on the disk, but
  // not for this upload.
  const uint64_t claimed = used_ - std::min(written_, used_);
  if (upload_size > disk->size) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the movie (", upload_size,
        " bytes or more) is larger than the server's whole disk for uploads "
        "(--spool_dir, else $TMPDIR: ",
        disk->size, " bytes); send a smaller movie"));
  }
  if (bytes + claimed <= disk->free) return absl::OkStatus();
  // Whether the other uploads, once ended, give back enough: what they hold
  // (claimed or written) covers what is missing.
  const uint64_t missing = bytes + claimed - disk->free;
  const uint64_t others = used_ - std::min(own, used_);
  if (others >= missing) {
    return WithRetryDelay(
        absl::ResourceExhaustedError(absl::StrCat(
            "the uploads of the jobs in progress fill the server's disk for "
            "uploads (--spool_dir, else $TMPDIR): ",
            disk->free, " bytes are free, ", claimed,
            " of them claimed by uploads still arriving, and this upload "
            "needs ",
            bytes,
            " more; retry when other uploads have ended, or send a smaller "
            "movie")),
        kRetryDelay);
  }
  // Not busy: waiting for other uploads cannot make the room.
  return absl::ResourceExhaustedError(absl::StrCat(
      "the server's disk for uploads (--spool_dir, else $TMPDIR) is filled "
      "by files other than uploads: ",
      disk->free, " of its ", disk->size,
      " bytes are free, the other uploads in progress hold ", others,
      ", and this upload needs ", bytes,
      " more; the server's operator must free room on that disk, or send a "
      "smaller movie"));
}

void DiskBudget::Wrote(uint64_t bytes) {
  absl::MutexLock lock(&mu_);
  written_ += bytes;
}

void DiskBudget::Give(uint64_t taken, uint64_t written) {
  absl::MutexLock lock(&mu_);
  used_ -= std::min(taken, used_);
  written_ -= std::min(written, written_);
}

std::optional<DiskBudget::DiskSpace> DiskBudget::space() const {
  if (space_ == nullptr) return std::nullopt;
  return space_();
}

uint64_t DiskBudget::used() const {
  absl::MutexLock lock(&mu_);
  return used_;
}

}  // namespace media
}  // namespace stylizer
