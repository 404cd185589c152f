// The job queue's removals: cancelling and closing jobs, dropping items whose
// deadline passed, returning capacity, Drain and the abort on destruction.
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "server/batching/queue_core.h"

namespace stylizer {
namespace batching_internal {

void QueueCore::Cancel(const std::shared_ptr<JobState>& job) {
  absl::MutexLock lock(&mu_);
  // A call's deadline reaches its job first as a cancel (gRPC's OnCancel on
  // the client's own cancel at its deadline), a moment before the queue's
  // copy of the deadline passes: what that drops was counted CANCELLED, as
  // if the caller had given up. (The same slack as CancelledCallStatus.)
  constexpr absl::Duration kDeadlineSlack = absl::Milliseconds(100);
  if (clock_->Now() + kDeadlineSlack >= job->deadline) {
    CancelLocked(job, absl::DeadlineExceededError(
                          "job deadline passed before the frame was computed"));
    return;
  }
  CancelLocked(job, absl::CancelledError("job was cancelled"));
}

void QueueCore::CancelLocked(const std::shared_ptr<JobState>& job,
                             const absl::Status& reason) {
  if (job->cancelled) return;
  job->cancelled = true;
  DropQueuedItemsLocked(job.get(), reason);
  // Every undelivered frame fails now: those with items still on the device
  // (their results are discarded when their batch finishes), and those
  // computed already but waiting behind an earlier frame in the reorder
  // buffer. A frame that failed keeps its own reason.
  for (const std::shared_ptr<FrameState>& frame : job->frames) {
    if (frame->done && !frame->status.ok()) continue;
    frame->done = true;
    frame->status = reason;
    frame->outputs.clear();
  }
  PostDeliveryLocked(job);
  WakeRoomWaitersLocked();
}

void QueueCore::DropQueuedItemsLocked(JobState* job,
                                      const absl::Status& reason) {
  int64_t items = 0;
  int64_t bytes = 0;
  for (auto& [shape, lane] : job->lanes) {
    if (!lane->in_ring) continue;
    auto queue = shapes_.find(shape);
    queue->second.ring.erase(lane->ring_pos);
    lane->in_ring = false;
    queue->second.items -= static_cast<int64_t>(lane->items.size());
    if (queue->second.items == 0) shapes_.erase(queue);
    for (Item& item : lane->items) {
      FrameState& frame = *item.frame;
      ++items;
      bytes += frame.item_bytes;
      if (observer_ != nullptr) observer_->OnItemDropped(reason);
      --frame.items_left;
      if (frame.done) continue;
      if (frame.status.ok()) frame.status = reason;
      if (frame.items_left == 0) {
        frame.done = true;
        frame.outputs.clear();
      }
    }
    lane->items.clear();
  }
  job->lanes.clear();  // all empty now
  job->queued_items = 0;
  DeactivateLocked(job);
  if (items > 0) {
    ReleaseLocked(job, items, bytes);
    ReportDepthLocked();
    WakeRoomWaitersLocked();
  }
}

void QueueCore::DeactivateLocked(JobState* job) {
  if (!job->active) return;
  active_.erase(job->active_pos);
  job->active = false;
}

void QueueCore::ExpireDeadlinesLocked(absl::Time now) {
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    const uint64_t id = deadlines_.begin()->second;
    deadlines_.erase(deadlines_.begin());
    auto it = jobs_.find(id);
    if (it == jobs_.end()) continue;
    std::shared_ptr<JobState> job = it->second;
    if (job->queued_items == 0) continue;
    DropQueuedItemsLocked(
        job.get(), absl::DeadlineExceededError(
                       "job deadline passed before the frame was computed"));
    PostDeliveryLocked(job);
  }
}

void QueueCore::ReleaseLocked(JobState* job, int64_t items, int64_t bytes) {
  items_ -= items;
  bytes_ -= bytes;
  job->held_items -= items;
  job->held_bytes -= bytes;
}

void QueueCore::CloseJob(const std::shared_ptr<JobState>& job) {
  absl::MutexLock lock(&mu_);
  job->closed = true;
  CancelLocked(job, absl::CancelledError("job was closed"));
  job->room_callbacks.clear();
  room_waiters_.erase(job);
  deadlines_.erase({job->deadline, job->id});
  const std::thread::id self = std::this_thread::get_id();
  auto idle = [&]() {
    mu_.AssertReaderHeld();
    return (!job->delivering || job->delivering_thread == self) &&
           (!job->notifying || job->notifying_thread == self);
  };
  mu_.Await(absl::Condition(&idle));
  // If this thread is delivering (the Job was destroyed from on_result), the
  // delivery loop discards the rest and unregisters the job.
  if (job->delivering) return;
  pending_frames_ -= static_cast<int64_t>(job->frames.size());
  job->frames.clear();
  jobs_.erase(job->id);
}

void QueueCore::Drain() {
  absl::MutexLock lock(&mu_);
  draining_ = true;
  ++epoch_;
  WakeRoomWaitersLocked();
  auto drained = [this]() {
    mu_.AssertReaderHeld();
    // Delivered, and no batch of a cancelled job still on a device.
    return pending_frames_ == 0 && items_ == 0;
  };
  mu_.Await(absl::Condition(&drained));
}

void QueueCore::Abort() {
  absl::MutexLock lock(&mu_);
  draining_ = true;
  stopping_ = true;
  ++epoch_;
  const absl::Status reason = absl::CancelledError(
      "job queue shut down before the frame was delivered");
  std::vector<std::shared_ptr<JobState>> jobs;
  for (auto& [id, job] : jobs_) jobs.push_back(job);
  for (const auto& job : jobs) CancelLocked(job, reason);
  WakeRoomWaitersLocked();
}

}  // namespace batching_internal
}  // namespace stylizer
