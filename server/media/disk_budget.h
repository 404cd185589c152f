// The disk the upload spools of every video job may fill together
// (--spool_disk_bytes, and the free room of the spool directory's disk).
// Spool files have no name (they vanish with their process), so neither
// `du` nor a kubelet's emptyDir sizeLimit, which walk the directory, sees
// them: concurrent uploads, each within --max_upload_bytes, filled the node's
// disk past the volume's limit. A spool takes its bytes here before it writes
// them and gives them back when it is destroyed.
//
// The disk's free room bounds every take too, less what the uploads in
// progress have taken and not written yet: an upload announced with its size
// takes its room when its job arrives, so a second one that the disk cannot
// also hold is refused then, not part way through another caller's job
// (which the full disk failed after it had sent output).
#ifndef STYLIZER_SERVER_MEDIA_DISK_BUDGET_H_
#define STYLIZER_SERVER_MEDIA_DISK_BUDGET_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace stylizer {
namespace media {

class DiskBudget {
 public:
  // A disk's size and the bytes a process may still write to it.
  struct DiskSpace {
    uint64_t size = 0;
    uint64_t free = 0;
  };
  // Reads the disk's space now; nullopt when it cannot be read (then only
  // the limit applies).
  using SpaceReader = std::function<std::optional<DiskSpace>()>;

  // `limit` bytes in all; 0: no limit of its own. `space`: the disk the
  // spools write to (null: not checked).
  explicit DiskBudget(uint64_t limit, SpaceReader space = nullptr);
  // The budget of spools in `dir` (empty: $TMPDIR, else /tmp), whose disk is
  // read with statvfs.
  static std::unique_ptr<DiskBudget> ForDirectory(uint64_t limit,
                                                  const std::string& dir);

  // Takes `bytes` more for an upload that will be `upload_size` bytes in all
  // (as far as known) and has `own` bytes taken already. RESOURCE_EXHAUSTED
  // when they do not fit: with a retry hint while other uploads hold the
  // room, without one when the upload alone is larger than the whole budget
  // or disk, or when files other than uploads fill the disk.
  absl::Status Take(uint64_t bytes, uint64_t upload_size, uint64_t own = 0)
      ABSL_LOCKS_EXCLUDED(mu_);
  // `bytes` of the room taken are now written to the disk (its free room
  // counts them from now on).
  void Wrote(uint64_t bytes) ABSL_LOCKS_EXCLUDED(mu_);
  // Gives back `taken` bytes, `written` of them written.
  void Give(uint64_t taken, uint64_t written = 0) ABSL_LOCKS_EXCLUDED(mu_);

  uint64_t used() const ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t limit() const { return limit_; }
  // The disk's space now (nullopt: not checked, or unreadable).
  std::optional<DiskSpace> space() const;

 private:
  absl::Status CheckLimitLocked(uint64_t bytes, uint64_t upload_size,
                                uint64_t own) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status CheckDiskLocked(uint64_t bytes, uint64_t upload_size,
                               uint64_t own) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const uint64_t limit_;
  const SpaceReader space_;
  mutable absl::Mutex mu_;
  uint64_t used_ ABSL_GUARDED_BY(mu_) = 0;
  // Of used_, the bytes on the disk already.
  uint64_t written_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace media
}  // namespace stylizer

#endif  // STYLIZER_SERVER_MEDIA_DISK_BUDGET_H_
