// The job queue's shared state and its threads' loops, behind JobQueue and
// Job (job_queue.cc). Internal to the queue.
//
// Invariants (all under mu_):
//  * Every admitted item is in exactly one place: a job's lane (queued), a
//    worker's batch (being prepared, ready, on the device, or waiting for the
//    host to copy its output), or gone (computed or dropped). items_ and
//    bytes_ count the first two; a job's frames count until delivered.
//  * A lane is in its shape's ring iff it has items; a shape is in shapes_
//    iff some lane of that shape has items; a job is in active_ iff it has
//    queued items.
//  * A job's results are delivered in submission order by at most one thread
//    at a time (JobState::delivering), always a queue thread.
//  * The batch in a worker's `ready` slot is closed; the open (still
//    filling) batch of each shape is simply its lanes' queued items.
#ifndef STYLIZER_SERVER_BATCHING_QUEUE_CORE_H_
#define STYLIZER_SERVER_BATCHING_QUEUE_CORE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <set>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/batching/batch.h"
#include "server/batching/clock.h"
#include "server/batching/job_queue.h"
#include "server/batching/job_queue_options.h"
#include "server/batching/job_state.h"
#include "server/model/style_model.h"

namespace stylizer {
namespace batching_internal {

class QueueCore {
 public:
  // One device worker: runs batches on `model`, serialised with every other
  // worker of the same model through `model_mu`.
  struct WorkerModel {
    StyleModel* model = nullptr;
    absl::Mutex* model_mu = nullptr;
  };

  // `options` must be valid (JobQueue::Create checks). `clock` is never null.
  QueueCore(const JobQueue::Options& options, const Clock* clock,
            std::vector<WorkerModel> workers, int num_styles,
            QueueObserver* observer);

  QueueCore(const QueueCore&) = delete;
  QueueCore& operator=(const QueueCore&) = delete;

  // Job lifecycle (see Job and JobQueue in job_queue.h).
  absl::StatusOr<std::shared_ptr<JobState>> OpenJob(JobOptions options)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Submit(const std::shared_ptr<JobState>& job,
                      FrameRequest* request, bool wait)
      ABSL_LOCKS_EXCLUDED(mu_);
  void NotifyWhenRoom(const std::shared_ptr<JobState>& job,
                      std::function<void()> callback) ABSL_LOCKS_EXCLUDED(mu_);
  void Cancel(const std::shared_ptr<JobState>& job) ABSL_LOCKS_EXCLUDED(mu_);
  // The Job handle is being destroyed: cancels, discards undelivered results
  // and waits for a running on_result of the job (unless called from it).
  void CloseJob(const std::shared_ptr<JobState>& job) ABSL_LOCKS_EXCLUDED(mu_);

  // Stops admission and waits until every admitted frame is delivered and
  // every admitted item has left the device.
  void Drain() ABSL_LOCKS_EXCLUDED(mu_);
  // Stops admission, fails every undelivered frame with CANCELLED, and makes
  // the worker loops return once their device calls have finished.
  void Abort() ABSL_LOCKS_EXCLUDED(mu_);
  // Makes RunNotifier return once its pending tasks have run. Call after the
  // worker loops have returned.
  void StopNotifier() ABSL_LOCKS_EXCLUDED(mu_);

  // INVALID_ARGUMENT where a width x height frame in `items` styles needs
  // more than one job's share of the queue (half of it): such a frame is
  // never admitted.
  absl::Status CheckFrameFits(int width, int height, int64_t items) const;
  int64_t queued_items() const ABSL_LOCKS_EXCLUDED(mu_);
  int64_t queued_bytes() const ABSL_LOCKS_EXCLUDED(mu_);
  // Per-shape lanes of all jobs: one per shape with queued items.
  int64_t queued_lanes() const ABSL_LOCKS_EXCLUDED(mu_);
  int num_workers() const { return static_cast<int>(worker_models_.size()); }
  // The most items one batch of `shape` takes: max_batch_size, and no more
  // than max_batch_pixels allow (at least one).
  int64_t MaxBatchItems(const Shape& shape) const;

  // Thread bodies. Host: forms and assembles batches for worker `w`, copies
  // out and delivers finished ones. Device: runs worker `w`'s ready batch.
  // Notifier: runs callbacks that must not run on the caller's thread.
  void RunHost(int w) ABSL_LOCKS_EXCLUDED(mu_);
  void RunDevice(int w) ABSL_LOCKS_EXCLUDED(mu_);
  void RunNotifier() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct ShapeQueue {
    std::list<Lane*> ring;  // lanes with items (order: see active_)
    int64_t items = 0;
  };
  struct WorkerSlots {
    std::unique_ptr<Batch> ready;                 // closed, assembled
    std::deque<std::unique_ptr<Batch>> finished;  // computed
    bool running = false;  // the device thread is inside the model
    bool device_done = false;
  };
  // Whether a worker other than `w` has a device with nothing to do (not
  // running, no batch ready): the next batch should go there rather than
  // wait in the ready slot of `w`, whose device is busy.
  bool OtherDeviceIdleLocked(int w) const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  // Admission.
  absl::Status ValidateRequest(const FrameRequest& request) const;
  bool HasRoomLocked(const JobState& job, int64_t items, int64_t bytes) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Room for a job that was refused or blocked: as HasRoomLocked, and a
  // quarter of the job's frame limit free.
  bool HasRoomToResumeLocked(const JobState& job, int64_t items,
                             int64_t bytes) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  absl::Status NoRoomLocked(const JobState& job, int64_t items,
                            int64_t bytes) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AdmitLocked(const std::shared_ptr<JobState>& job, FrameRequest* request)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Removal.
  void CancelLocked(const std::shared_ptr<JobState>& job,
                    const absl::Status& reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DropQueuedItemsLocked(JobState* job, const absl::Status& reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes `job` out of the ring of active jobs (it has no queued items).
  void DeactivateLocked(JobState* job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ExpireDeadlinesLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Returns capacity; the caller then reports the depth and wakes waiters.
  void ReleaseLocked(JobState* job, int64_t items, int64_t bytes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WakeRoomWaitersLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReportDepthLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Batching.
  absl::Time OldestLocked(const ShapeQueue& queue) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::unique_ptr<Batch> FormBatchLocked(absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Time NextWakeLocked(bool want_batch) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Per item of `batch`, why it is no longer wanted at `now` (its frame
  // cancelled or failed, or its job's deadline passed), OK if it still is;
  // empty if every item is.
  std::vector<absl::Status> DeadItemsLocked(const Batch& batch,
                                            absl::Time now) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void FinishBatchLocked(Batch* batch, std::vector<RgbFrame>* outputs)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::unique_ptr<Batch> NewBatchLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Delivery. DeliverLocked releases mu_ while on_result runs.
  void DeliverLocked(const std::shared_ptr<JobState>& job)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PostLocked(std::function<void()> task)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PostDeliveryLocked(const std::shared_ptr<JobState>& job)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Posts a NotifyWhenRoom callback of `job`: it does not run if the job is
  // closed by then, and closing the job waits for it while it runs.
  void PostRoomCallbackLocked(const std::shared_ptr<JobState>& job,
                              std::function<void()> callback)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const JobQueue::Options options_;
  const Clock* const clock_;
  const std::vector<WorkerModel> worker_models_;
  const int num_styles_;
  QueueObserver* const observer_;  // may be null

  mutable absl::Mutex mu_;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool notifier_stop_ ABSL_GUARDED_BY(mu_) = false;
  // Bumped whenever a waiting host thread should look again: a shape got its
  // first item or a full batch, a deadline appeared, draining began.
  uint64_t epoch_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t items_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  // Admitted frames not yet delivered or discarded.
  int64_t pending_frames_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_job_id_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t next_batch_id_ ABSL_GUARDED_BY(mu_) = 1;
  // Recent device time per item, for the retry hint: per item, since
  // batches differ in size (a capped batch of large frames holds one).
  absl::Duration item_time_ ABSL_GUARDED_BY(mu_) = absl::Microseconds(1250);
  std::map<uint64_t, std::shared_ptr<JobState>> jobs_ ABSL_GUARDED_BY(mu_);
  // Jobs with a finite deadline not yet passed.
  std::set<std::pair<absl::Time, uint64_t>> deadlines_ ABSL_GUARDED_BY(mu_);
  std::map<Shape, ShapeQueue> shapes_ ABSL_GUARDED_BY(mu_);
  // Jobs with queued items, in round-robin order: a job joins at the back
  // when it gets items and goes to the back again each time a batch takes
  // some of them (see FormBatchLocked).
  std::list<JobState*> active_ ABSL_GUARDED_BY(mu_);
  std::set<std::shared_ptr<JobState>> room_waiters_ ABSL_GUARDED_BY(mu_);
  std::vector<WorkerSlots> slots_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Batch>> free_batches_ ABSL_GUARDED_BY(mu_);
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
};

}  // namespace batching_internal
}  // namespace stylizer

#endif  // STYLIZER_SERVER_BATCHING_QUEUE_CORE_H_
