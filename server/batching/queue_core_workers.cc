// The job queue's batch formation and its worker loops: per worker, a host
// thread that closes and assembles the next batch while the device thread
// runs the current one, then copies results out and delivers them.
#include <algorithm>
#include <cstdint>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/batching/device_call.h"
#include "server/batching/queue_core.h"

namespace stylizer {
namespace batching_internal {

absl::Time QueueCore::OldestLocked(const ShapeQueue& queue) const {
  absl::Time oldest = absl::InfiniteFuture();
  for (const Lane* lane : queue.ring) {
    oldest = std::min(oldest, lane->items.front().enqueued);
  }
  return oldest;
}

std::unique_ptr<Batch> QueueCore::FormBatchLocked(absl::Time now) {
  // Among shapes whose batch may close (full, oldest item timed out, or
  // draining), serve the one with the job served least recently (then the
  // one whose oldest item waited longest): jobs take turns across shapes
  // too, so a lone image of another size is not stuck behind a movie.
  ShapeQueue* best = nullptr;
  Shape best_shape;
  absl::Time best_oldest = absl::InfiniteFuture();
  uint64_t best_served = 0;
  for (auto& [shape, queue] : shapes_) {
    const absl::Time oldest = OldestLocked(queue);
    const bool ready = draining_ || queue.items >= options_.max_batch_size ||
                       oldest + options_.batch_timeout <= now;
    if (!ready) continue;
    uint64_t served = UINT64_MAX;
    for (const Lane* lane : queue.ring) {
      served = std::min(served, lane->job->last_served);
    }
    if (best == nullptr || served < best_served ||
        (served == best_served && oldest < best_oldest)) {
      best = &queue;
      best_shape = shape;
      best_oldest = oldest;
      best_served = served;
    }
  }
  if (best == nullptr) return nullptr;

  std::unique_ptr<Batch> batch = NewBatchLocked();
  batch->id = next_batch_id_++;
  batch->width = best_shape.first;
  batch->height = best_shape.second;
  batch->closed = now;
  // Round-robin: one item from the lane at the front, which then goes to the
  // back of the ring.
  while (static_cast<int>(batch->items.size()) < options_.max_batch_size &&
         !best->ring.empty()) {
    Lane* lane = best->ring.front();
    lane->job->last_served = batch->id;
    batch->items.push_back(std::move(lane->items.front()));
    lane->items.pop_front();
    --lane->job->queued_items;
    --best->items;
    if (lane->items.empty()) {
      best->ring.pop_front();
      lane->in_ring = false;
    } else {
      best->ring.splice(best->ring.end(), best->ring, best->ring.begin());
    }
  }
  if (best->items == 0) shapes_.erase(best_shape);
  return batch;
}

absl::Time QueueCore::NextWakeLocked(bool want_batch) const {
  absl::Time wake = absl::InfiniteFuture();
  if (!deadlines_.empty()) wake = deadlines_.begin()->first;
  if (want_batch) {
    for (const auto& [shape, queue] : shapes_) {
      wake = std::min(wake, OldestLocked(queue) + options_.batch_timeout);
    }
  }
  return wake;
}

std::unique_ptr<Batch> QueueCore::NewBatchLocked() {
  if (free_batches_.empty()) return std::make_unique<Batch>();
  std::unique_ptr<Batch> batch = std::move(free_batches_.back());
  free_batches_.pop_back();
  return batch;
}

void QueueCore::FinishBatchLocked(Batch* batch,
                                  std::vector<RgbFrame>* outputs) {
  const bool ok = batch->status.ok();
  // Jobs touched, in first-seen order, to deliver once each.
  std::vector<std::shared_ptr<JobState>> jobs;
  for (size_t i = 0; i < batch->items.size(); ++i) {
    FrameState& frame = *batch->items[i].frame;
    JobState* job = frame.job.get();
    ReleaseLocked(job, 1, frame.item_bytes);
    --frame.items_left;
    if (frame.done) continue;  // cancelled: discard
    frame.queue_wait =
        std::max(frame.queue_wait, batch->closed - batch->items[i].enqueued);
    if (frame.last_batch != batch->id) {
      frame.compute += batch->compute;
      frame.last_batch = batch->id;
    }
    if (ok) {
      frame.outputs[batch->items[i].row] = std::move((*outputs)[i]);
    } else if (frame.status.ok()) {
      frame.status = batch->status;
    }
    if (frame.items_left > 0) continue;
    frame.done = true;
    if (!frame.status.ok()) frame.outputs.clear();
    if (std::find(jobs.begin(), jobs.end(), frame.job) == jobs.end()) {
      jobs.push_back(frame.job);
    }
  }
  ReportDepthLocked();
  WakeRoomWaitersLocked();
  if (ok) {
    // Smoothed device time per batch, for the retry hint.
    batch_time_ = (batch_time_ * 7 + batch->compute) / 8;
  }
  for (const std::shared_ptr<JobState>& job : jobs) DeliverLocked(job);
}

absl::Status QueueCore::DeadBatchLocked(const Batch& batch,
                                        absl::Time now) const {
  bool expired = false;
  for (const Item& item : batch.items) {
    const FrameState& frame = *item.frame;
    if (frame.done) continue;
    if (now < frame.job->deadline) return absl::OkStatus();
    expired = true;
  }
  if (expired) {
    return absl::DeadlineExceededError(
        "job deadline passed before the frame was computed");
  }
  return absl::CancelledError("job was cancelled");
}

void QueueCore::RunHost(int w) {
  absl::MutexLock lock(&mu_);
  WorkerSlots& me = slots_[w];
  while (true) {
    const absl::Time now = clock_->Now();
    ExpireDeadlinesLocked(now);
    // First keep the device fed: close and assemble the next batch.
    if (me.ready == nullptr && !stopping_) {
      std::unique_ptr<Batch> batch = FormBatchLocked(now);
      if (batch != nullptr) {
        mu_.Unlock();
        batch->AssembleInput(num_styles_);
        mu_.Lock();
        me.ready = std::move(batch);
        continue;
      }
    }
    // Then hand out finished results.
    if (!me.finished.empty()) {
      std::unique_ptr<Batch> batch = std::move(me.finished.front());
      me.finished.pop_front();
      mu_.Unlock();
      std::vector<RgbFrame> outputs;
      if (batch->status.ok()) {
        outputs.reserve(batch->items.size());
        for (size_t i = 0; i < batch->items.size(); ++i) {
          outputs.push_back(batch->CopyOutput(i));
          if (observer_ != nullptr) {
            const Item& item = batch->items[i];
            observer_->OnItemDone(item.frame->style_weights[item.row],
                                  batch->closed - item.enqueued);
          }
        }
      } else if (observer_ != nullptr) {
        for (size_t i = 0; i < batch->items.size(); ++i) {
          observer_->OnItemDropped(batch->status);
        }
      }
      mu_.Lock();
      FinishBatchLocked(batch.get(), &outputs);
      batch->Clear();
      free_batches_.push_back(std::move(batch));
      continue;
    }
    if (stopping_ && me.device_done) return;
    // Nothing to do: wait for work, for the slot to empty, or for the time
    // the oldest item's batch must close (or a deadline passes).
    const bool slot_empty = me.ready == nullptr;
    const uint64_t epoch = epoch_;
    const absl::Time wake = NextWakeLocked(slot_empty && !stopping_);
    auto changed = [&]() {
      mu_.AssertReaderHeld();
      return !me.finished.empty() || me.device_done || epoch_ != epoch ||
             (me.ready == nullptr) != slot_empty;
    };
    clock_->AwaitWithDeadline(&mu_, absl::Condition(&changed), wake);
  }
}

void QueueCore::RunDevice(int w) {
  absl::MutexLock lock(&mu_);
  WorkerSlots& me = slots_[w];
  const WorkerModel& device = worker_models_[w];
  auto has_batch = [&]() {
    mu_.AssertReaderHeld();
    return me.ready != nullptr || stopping_;
  };
  while (true) {
    mu_.Await(absl::Condition(&has_batch));
    if (me.ready == nullptr) break;
    std::unique_ptr<Batch> batch = std::move(me.ready);
    if (stopping_) {
      batch->status = absl::CancelledError("job queue shut down");
      me.finished.push_back(std::move(batch));
      continue;
    }
    // A batch whose every item was cancelled or expired while it waited in
    // the slot is not worth the device's time.
    absl::Status dead = DeadBatchLocked(*batch, clock_->Now());
    if (!dead.ok()) {
      batch->status = std::move(dead);
      me.finished.push_back(std::move(batch));
      continue;
    }
    mu_.Unlock();
    {
      absl::MutexLock model_lock(device.model_mu);
      const absl::Time start = clock_->Now();
      batch->status = RunOnDevice(*device.model, batch->View(), num_styles_);
      batch->compute = clock_->Now() - start;
    }
    if (observer_ != nullptr) {
      observer_->OnBatch(static_cast<int>(batch->items.size()), batch->compute);
    }
    mu_.Lock();
    me.finished.push_back(std::move(batch));
  }
  me.device_done = true;
}

}  // namespace batching_internal
}  // namespace stylizer
