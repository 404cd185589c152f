// The upload spool of a video job: the movie's bytes as they arrive, kept in
// memory up to a limit and then in an anonymous temporary file that the
// operating system deletes when it is closed (also after a crash). Reads are
// random access and block until the bytes they need have arrived or the
// upload has ended, so a demuxer can start on a faststart MP4, Matroska or TS
// while the upload is still running, and an MP4 whose index sits at the end
// simply waits for it.
//
// One writer (the RPC reactor: never blocks) and one reader (the decoder
// thread: may block). The writer is paced by WantsMore()/NotifyWhenWantsMore():
// once the bytes received run more than `read_ahead` ahead of the reader, the
// writer should stop asking for more until the reader catches up.
#ifndef STYLIZER_SERVER_MEDIA_SPOOL_H_
#define STYLIZER_SERVER_MEDIA_SPOOL_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "server/media/disk_budget.h"

namespace stylizer {
namespace media {

class Spool {
 public:
  struct Options {
    // Bytes kept in memory; beyond this the spool moves to a temporary file
    // (the page cache then holds it, outside the process). Default 16 MiB.
    size_t memory_limit = size_t{16} << 20;
    // Largest upload accepted; Append past it fails with RESOURCE_EXHAUSTED.
    // Default 8 GiB.
    uint64_t max_size = uint64_t{8} << 30;
    // Directory of the temporary file; empty = $TMPDIR, else /tmp.
    std::string temp_dir;
    // How far the received bytes may run ahead of the reader before
    // WantsMore() turns false. Default 8 MiB.
    size_t read_ahead = size_t{8} << 20;
    // The disk every spool may fill together; the bytes written to the
    // temporary file are taken from it, and given back when the spool is
    // destroyed. Null: no budget; the disk's free room shows only when a
    // write fails (ENOSPC).
    DiskBudget* disk_budget = nullptr;
  };

  // Validates options (limits > 0). Creates no file until it is needed.
  static absl::StatusOr<std::unique_ptr<Spool>> Create(const Options& options);

  // Whether spools with Options::temp_dir `temp_dir` can make their file:
  // creates one there and closes it. For a check at start: a directory that
  // is missing or read-only failed only the first upload past the memory
  // limit, with INTERNAL.
  static absl::Status CheckTempDir(const std::string& temp_dir);
  // The directory spools with Options::temp_dir `temp_dir` write to.
  static std::string Directory(const std::string& temp_dir);
  ~Spool();

  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // The memory a spool whose memory limit is `memory_limit` can hold at most
  // (the limit rounded up to its allocation blocks).
  static size_t MaxMemoryBytes(size_t memory_limit);

  // Lowers the bytes kept in memory to `bytes` (when lower than now), e.g.
  // to the announced size of a small upload: the memory the job is charged
  // for is then all it can use. Call before the first Append.
  void LimitMemory(size_t bytes) ABSL_LOCKS_EXCLUDED(mu_);

  // The size the client announced for the whole upload (0: unknown). Once
  // that many bytes have arrived the upload is finished, as after Finish():
  // readers see end of file there without waiting for the client to close
  // its stream. A full disk smaller than that is refused for good (no retry
  // hint), however much of the upload has come. An upload over the memory
  // limit takes its room in the disk budget now (the budget's refusal if it
  // does not fit).
  absl::Status ExpectSize(uint64_t bytes) ABSL_LOCKS_EXCLUDED(mu_);

  // --- Writer side (never blocks on the reader) ---

  // Appends the next bytes of the upload. RESOURCE_EXHAUSTED past max_size
  // or past the disk budget (with a retry hint when other uploads hold it),
  // FAILED_PRECONDITION after Finish() or past the announced size, the abort
  // status after Abort(), INTERNAL if the temporary file cannot be written.
  // Appending nothing is OK until Abort().
  absl::Status Append(absl::string_view bytes) ABSL_LOCKS_EXCLUDED(mu_);

  // Marks the end of the upload: readers see end of file at size().
  void Finish() ABSL_LOCKS_EXCLUDED(mu_);

  // Wakes every reader with `status` (not OK) now and for every later read.
  void Abort(absl::Status status) ABSL_LOCKS_EXCLUDED(mu_);

  // Whether the writer should fetch more bytes now (the reader is close
  // enough behind, or is waiting for bytes not received yet).
  bool WantsMore() const ABSL_LOCKS_EXCLUDED(mu_);

  // Runs `callback` once as soon as WantsMore() is true or the spool is
  // aborted: at once on the calling thread if so already, otherwise on the
  // reader's thread. Replaces an earlier callback not yet run.
  void NotifyWhenWantsMore(std::function<void()> callback)
      ABSL_LOCKS_EXCLUDED(mu_);

  // --- Reader side (may block) ---

  // Reads up to `size` bytes at `offset` into `out`, waiting until at least
  // one byte there has arrived. Returns 0 at the end of a finished upload,
  // the abort status after Abort().
  absl::StatusOr<size_t> ReadAt(uint64_t offset, char* out, size_t size)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Waits until the upload is finished (or aborted) and returns its size.
  // From then on the writer is never held back (WantsMore() stays true): the
  // reader cannot go on before the upload's end.
  absl::StatusOr<uint64_t> WaitForFinalSize() ABSL_LOCKS_EXCLUDED(mu_);

  // Total size once the upload is finished; nullopt while it runs.
  std::optional<uint64_t> FinalSize() const ABSL_LOCKS_EXCLUDED(mu_);

  // Bytes received so far.
  uint64_t bytes_received() const ABSL_LOCKS_EXCLUDED(mu_);

  // Whether the bytes have moved to the temporary file (for tests).
  bool on_disk() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  explicit Spool(const Options& options);
  absl::Status SpillLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes what the disk budget (if any) has not given this spool yet of
  // `total` bytes in the temporary file.
  absl::Status TakeDiskLocked(uint64_t total)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Counts `bytes` written to the temporary file (in the disk budget too).
  void WroteLocked(uint64_t bytes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AppendToMemoryLocked(absl::string_view bytes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReadFromMemoryLocked(uint64_t offset, char* out, size_t size) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool WantsMoreLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes the pending callback if it should run now.
  std::function<void()> TakeReadyCallbackLocked()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  mutable absl::Mutex mu_;
  size_t memory_limit_ ABSL_GUARDED_BY(mu_);
  // In-memory bytes in fixed blocks (no reallocation peaks), until the spill.
  std::vector<std::unique_ptr<char[]>> blocks_ ABSL_GUARDED_BY(mu_);
  int fd_ ABSL_GUARDED_BY(mu_) = -1;
  // Bytes taken from options_.disk_budget.
  uint64_t disk_taken_ ABSL_GUARDED_BY(mu_) = 0;
  // Of the bytes taken, those written to the file.
  uint64_t disk_written_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t size_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t expected_size_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t reader_high_water_ ABSL_GUARDED_BY(mu_) = 0;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  // The reader waited for the final size (see WaitForFinalSize).
  bool reader_wants_end_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status abort_status_ ABSL_GUARDED_BY(mu_);
  std::function<void()> wants_more_callback_ ABSL_GUARDED_BY(mu_);
};

}  // namespace media
}  // namespace stylizer

#endif  // STYLIZER_SERVER_MEDIA_SPOOL_H_
