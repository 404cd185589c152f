// The job queue's deliveries: results in submission order on queue threads,
// NotifyWhenRoom callbacks, the depth hook, and the notifier thread that runs
// what must not run on a caller's thread.
#include <functional>
#include <memory>
#include <thread>
#include <utility>

#include "server/batching/queue_core.h"

namespace stylizer {
namespace batching_internal {

void QueueCore::WakeRoomWaitersLocked() {
  for (auto it = room_waiters_.begin(); it != room_waiters_.end();) {
    const std::shared_ptr<JobState>& job = *it;
    if (draining_ || stopping_ || job->cancelled ||
        HasRoomToResumeLocked(*job, job->wanted_items, job->wanted_bytes)) {
      for (auto& callback : job->room_callbacks) {
        PostRoomCallbackLocked(job, std::move(callback));
      }
      job->room_callbacks.clear();
      it = room_waiters_.erase(it);
    } else {
      ++it;
    }
  }
}

void QueueCore::ReportDepthLocked() const {
  if (observer_ != nullptr) observer_->OnQueueDepth(items_, bytes_);
}

void QueueCore::PostLocked(std::function<void()> task) {
  tasks_.push_back(std::move(task));
}

void QueueCore::PostDeliveryLocked(const std::shared_ptr<JobState>& job) {
  if (job->frames.empty() || !job->frames.front()->done) return;
  PostLocked([this, job]() {
    absl::MutexLock lock(&mu_);
    DeliverLocked(job);
  });
}

void QueueCore::PostRoomCallbackLocked(const std::shared_ptr<JobState>& job,
                                       std::function<void()> callback) {
  PostLocked([this, job, callback = std::move(callback)]() {
    absl::MutexLock lock(&mu_);
    // Closed after the callback was posted: ~Job promised it would not run.
    if (job->closed) return;
    job->notifying = true;
    job->notifying_thread = std::this_thread::get_id();
    mu_.Unlock();
    callback();
    mu_.Lock();
    job->notifying = false;
  });
}

void QueueCore::DeliverLocked(const std::shared_ptr<JobState>& job) {
  if (job->delivering) return;  // that thread will see our frames too
  job->delivering = true;
  job->delivering_thread = std::this_thread::get_id();
  bool popped = false;
  while (!job->frames.empty() && job->frames.front()->done) {
    std::shared_ptr<FrameState> frame = std::move(job->frames.front());
    job->frames.pop_front();
    popped = true;
    if (job->closed || !job->on_result) {
      --pending_frames_;
      continue;
    }
    FrameResult result;
    result.sequence = frame->sequence;
    result.status = frame->status;
    if (frame->status.ok()) result.outputs = std::move(frame->outputs);
    result.queue_wait = frame->queue_wait;
    result.compute = frame->compute;
    mu_.Unlock();
    job->on_result(std::move(result));
    mu_.Lock();
    // Counted only now so that Drain returns after the last callback.
    --pending_frames_;
  }
  job->delivering = false;
  if (popped) WakeRoomWaitersLocked();
  if (job->closed && job->frames.empty()) jobs_.erase(job->id);
}

void QueueCore::StopNotifier() {
  absl::MutexLock lock(&mu_);
  notifier_stop_ = true;
}

int64_t QueueCore::queued_items() const {
  absl::MutexLock lock(&mu_);
  return items_;
}

int64_t QueueCore::queued_bytes() const {
  absl::MutexLock lock(&mu_);
  return bytes_;
}

int64_t QueueCore::queued_lanes() const {
  absl::MutexLock lock(&mu_);
  int64_t lanes = 0;
  for (const auto& [id, job] : jobs_) lanes += job->lanes.size();
  return lanes;
}

void QueueCore::RunNotifier() {
  absl::MutexLock lock(&mu_);
  auto has_work = [this]() {
    mu_.AssertReaderHeld();
    return !tasks_.empty() || notifier_stop_;
  };
  while (true) {
    mu_.Await(absl::Condition(&has_work));
    if (tasks_.empty()) return;
    std::function<void()> task = std::move(tasks_.front());
    tasks_.pop_front();
    mu_.Unlock();
    task();
    task = nullptr;  // release captures outside the lock
    mu_.Lock();
  }
}

}  // namespace batching_internal
}  // namespace stylizer
