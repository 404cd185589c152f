// The spools' shared disk budget; see disk_budget.h.
#include "server/media/disk_budget.h"

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/service/retry_info.h"

namespace stylizer {
namespace media {

// As for a full disk: other uploads end and free their room.
constexpr absl::Duration kRetryDelay = absl::Seconds(5);

DiskBudget::DiskBudget(uint64_t limit) : limit_(limit) {}

absl::Status DiskBudget::Take(uint64_t bytes, uint64_t upload_size) {
  absl::MutexLock lock(&mu_);
  if (limit_ == 0 || used_ + bytes <= limit_) {
    used_ += bytes;
    return absl::OkStatus();
  }
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
          used_, " of ", limit_,
          " bytes, --spool_disk_bytes); retry when other uploads have ended, "
          "or send a smaller movie")),
      kRetryDelay);
}

void DiskBudget::Give(uint64_t bytes) {
  absl::MutexLock lock(&mu_);
  used_ -= bytes <= used_ ? bytes : used_;
}

uint64_t DiskBudget::used() const {
  absl::MutexLock lock(&mu_);
  return used_;
}

}  // namespace media
}  // namespace stylizer
