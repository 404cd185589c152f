// The disk the upload spools of every video job may fill together
// (--spool_disk_bytes). Spool files have no name (they vanish with their
// process), so neither `du` nor a kubelet's emptyDir sizeLimit, which walk
// the directory, sees them: concurrent uploads, each within
// --max_upload_bytes, filled the node's disk past the volume's limit. A spool
// takes its bytes here before it writes them and gives them back when it is
// destroyed.
#ifndef STYLIZER_SERVER_MEDIA_DISK_BUDGET_H_
#define STYLIZER_SERVER_MEDIA_DISK_BUDGET_H_

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace stylizer {
namespace media {

class DiskBudget {
 public:
  // `limit` bytes in all; 0: no limit (the disk's own size applies).
  explicit DiskBudget(uint64_t limit);

  // Takes `bytes` more for an upload that will be `upload_size` bytes in all
  // (as far as known). RESOURCE_EXHAUSTED when they do not fit: with a retry
  // hint while other uploads hold the room, without one when the upload
  // alone is larger than the whole budget.
  absl::Status Take(uint64_t bytes, uint64_t upload_size)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Gives back bytes taken.
  void Give(uint64_t bytes) ABSL_LOCKS_EXCLUDED(mu_);

  uint64_t used() const ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t limit() const { return limit_; }

 private:
  const uint64_t limit_;
  mutable absl::Mutex mu_;
  uint64_t used_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace media
}  // namespace stylizer

#endif  // STYLIZER_SERVER_MEDIA_DISK_BUDGET_H_
