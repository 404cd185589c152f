// The job queue's batch formation and its worker loops: per worker, a host
// thread that closes and assembles the next batch while the device thread
// runs the current one, then copies results out and delivers them.
#include <algorithm>
#include <cstdint>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "server/batching/device_call.h"
#include "server/batching/queue_core.h"

namespace stylizer {
namespace batching_internal {
namespace {

// Why an item of `frame` is dropped at `now`: OK while the frame is wanted;
// DEADLINE_EXCEEDED past its job's deadline, or for a frame that failed for
// it (a formed batch's items at a movie's deadline were counted CANCELLED,
// about half of its drops); else CANCELLED. Each item its own, as a batch
// can mix jobs.
absl::Status DeadReason(const FrameState& frame, absl::Time now) {
  const bool expired =
      frame.done ? frame.status.code() == absl::StatusCode::kDeadlineExceeded
                 : now >= frame.job->deadline;
  if (expired) {
    return absl::DeadlineExceededError(
        "job deadline passed before the frame was computed");
  }
  if (frame.done) return absl::CancelledError("job was cancelled");
  return absl::OkStatus();
}

}  // namespace

absl::Time QueueCore::OldestLocked(const ShapeQueue& queue) const {
  absl::Time oldest = absl::InfiniteFuture();
  for (const Lane* lane : queue.ring) {
    oldest = std::min(oldest, lane->items.front().enqueued);
  }
  return oldest;
}

std::unique_ptr<Batch> QueueCore::FormBatchLocked(absl::Time now) {
  // The fairness rule: one round-robin ring over the active jobs (jobs with
  // queued items), whatever their frame sizes. The next batch serves the
  // first job in the ring that has items of a shape whose batch may close
  // (full, oldest item timed out, or draining), in that shape. Every job the
  // batch takes items from goes to the back of the ring, and a job that gets
  // new items joins at the back. So a job whose batch may close is served
  // before any job behind it is served twice: it waits at most one turn of
  // the ring, however many jobs come and go and whatever their shapes.
  std::set<Shape> may_close;
  for (auto& [shape, queue] : shapes_) {
    if (draining_ || queue.items >= MaxBatchItems(shape) ||
        OldestLocked(queue) + options_.batch_timeout <= now) {
      may_close.insert(shape);
    }
  }
  if (may_close.empty()) return nullptr;

  // The first job in the ring with items that may go; its oldest such lane.
  auto first = active_.end();
  const Lane* first_lane = nullptr;
  for (auto it = active_.begin(); it != active_.end() && first_lane == nullptr;
       ++it) {
    for (const auto& [shape, lane] : (*it)->lanes) {
      if (!lane->in_ring || may_close.count(shape) == 0) continue;
      if (first_lane == nullptr ||
          lane->items.front().enqueued < first_lane->items.front().enqueued) {
        first_lane = lane.get();
        first = it;
      }
    }
  }
  if (first_lane == nullptr) return nullptr;  // not reached: see invariants
  const Shape shape = first_lane->shape;
  ShapeQueue& queue = shapes_[shape];

  // Lanes of that shape in ring order, starting with the chosen job (no job
  // ahead of it has items of a shape that may close).
  std::vector<Lane*> lanes;
  for (auto it = first; it != active_.end(); ++it) {
    auto lane = (*it)->lanes.find(shape);
    if (lane != (*it)->lanes.end() && lane->second->in_ring) {
      lanes.push_back(lane->second.get());
    }
  }

  std::unique_ptr<Batch> batch = NewBatchLocked();
  batch->id = next_batch_id_++;
  batch->width = shape.first;
  batch->height = shape.second;
  batch->closed = now;
  // One item per lane per round, so every job of that shape gets a share.
  std::vector<Lane*> served;  // in ring order: the first round adds them
  const size_t max_items = static_cast<size_t>(MaxBatchItems(shape));
  for (bool took = true; took && batch->items.size() < max_items;) {
    took = false;
    for (Lane* lane : lanes) {
      if (batch->items.size() >= max_items) break;
      if (lane->items.empty()) continue;
      if (std::find(served.begin(), served.end(), lane) == served.end()) {
        served.push_back(lane);
      }
      batch->items.push_back(std::move(lane->items.front()));
      lane->items.pop_front();
      --lane->job->queued_items;
      --queue.items;
      took = true;
    }
  }
  // The served jobs go to the back, in their ring order; emptied lanes leave
  // their shape and are freed (a stream whose frames keep changing size
  // kept one per size it ever sent, each scanned under mu_ at every batch),
  // jobs without queued items leave the ring.
  for (Lane* lane : served) {
    JobState* job = lane->job;
    if (lane->items.empty()) {
      queue.ring.erase(lane->ring_pos);
      job->lanes.erase(lane->shape);  // frees `lane`
    }
    active_.erase(job->active_pos);
    if (job->queued_items > 0) {
      job->active_pos = active_.insert(active_.end(), job);
    } else {
      job->active = false;
    }
  }
  if (queue.items == 0) shapes_.erase(shape);
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
    const absl::Status& status = batch->ItemStatus(i);
    if (status.ok()) {
      frame.outputs[batch->items[i].row] = std::move((*outputs)[i]);
    } else if (frame.status.ok()) {
      frame.status = status;
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
  if (batch->status.ok()) {
    // Smoothed device time per item, for the retry hint.
    const int64_t n = std::max<int64_t>(1, batch->items.size());
    item_time_ = (item_time_ * 7 + batch->compute / n) / 8;
  }
  for (const std::shared_ptr<JobState>& job : jobs) DeliverLocked(job);
}

std::vector<absl::Status> QueueCore::DeadItemsLocked(const Batch& batch,
                                                     absl::Time now) const {
  std::vector<absl::Status> dead;
  for (size_t i = 0; i < batch.items.size(); ++i) {
    absl::Status reason = DeadReason(*batch.items[i].frame, now);
    if (reason.ok()) continue;
    if (dead.empty()) dead.resize(batch.items.size());
    dead[i] = std::move(reason);
  }
  return dead;
}

bool QueueCore::OtherDeviceIdleLocked(int w) const {
  for (size_t i = 0; i < slots_.size(); ++i) {
    const WorkerSlots& other = slots_[i];
    if (static_cast<int>(i) != w && !other.running && other.ready == nullptr &&
        !other.device_done) {
      return true;
    }
  }
  return false;
}

void QueueCore::RunHost(int w) {
  absl::MutexLock lock(&mu_);
  WorkerSlots& me = slots_[w];
  while (true) {
    const absl::Time now = clock_->Now();
    ExpireDeadlinesLocked(now);
    // First keep the device fed: close and assemble the next batch. A host
    // whose device is busy leaves it to an idle device's host (several
    // models or GPUs): pipelining it here would make it wait for this
    // device while another one has nothing to do.
    const bool leave_to_idle = me.running && OtherDeviceIdleLocked(w);
    if (me.ready == nullptr && !stopping_ && !leave_to_idle) {
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
      // One output per item; a failed item's stays empty.
      std::vector<RgbFrame> outputs(batch->items.size());
      for (size_t i = 0; i < batch->items.size(); ++i) {
        const absl::Status& status = batch->ItemStatus(i);
        if (status.ok()) outputs[i] = batch->CopyOutput(i);
        if (observer_ == nullptr) continue;
        if (status.ok()) {
          const Item& item = batch->items[i];
          observer_->OnItemDone(item.frame->style_weights[item.row],
                                batch->closed - item.enqueued);
        } else {
          observer_->OnItemDropped(status);
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
    const absl::Time wake =
        NextWakeLocked(slot_empty && !stopping_ && !leave_to_idle);
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
    // the slot is not worth the device's time. One reading of the clock for
    // both checks: with two, a deadline between them made the batch alive
    // to the first and every item dead to the second, and an empty batch
    // went to the device.
    const absl::Time now = clock_->Now();
    std::vector<absl::Status> dead = DeadItemsLocked(*batch, now);
    if (!dead.empty() &&
        std::none_of(dead.begin(), dead.end(),
                     [](const absl::Status& s) { return s.ok(); })) {
      batch->status = dead.front();
      batch->item_status = std::move(dead);
      me.finished.push_back(std::move(batch));
      continue;
    }
    // Items of jobs cancelled or expired while the batch was assembled or
    // waited for the device leave it now: they never reach the model, and
    // the host delivers them as a failed batch of their own.
    if (!dead.empty()) {
      std::unique_ptr<Batch> dropped = NewBatchLocked();
      dropped->id = next_batch_id_++;
      dropped->width = batch->width;
      dropped->height = batch->height;
      dropped->closed = batch->closed;
      std::vector<bool> remove(dead.size(), false);
      for (size_t i = 0; i < dead.size(); ++i) {
        if (dead[i].ok()) continue;
        remove[i] = true;
        dropped->item_status.push_back(std::move(dead[i]));
      }
      dropped->status = dropped->item_status.front();
      mu_.Unlock();
      dropped->items = batch->RemoveItems(remove, num_styles_);
      mu_.Lock();
      me.finished.push_back(std::move(dropped));
    }
    me.running = true;
    mu_.Unlock();
    {
      absl::MutexLock model_lock(device.model_mu);
      const absl::Time start = clock_->Now();
      // The items' wait ends here, not when the batch was formed: a batch
      // formed while the device ran the one before waited that long too.
      batch->closed = start;
      batch->item_status.resize(batch->items.size());
      batch->status = RunOnDevice(*device.model, batch->View(), num_styles_,
                                  absl::MakeSpan(batch->item_status));
      batch->compute = clock_->Now() - start;
    }
    if (observer_ != nullptr) {
      observer_->OnBatch(static_cast<int>(batch->items.size()), batch->compute);
    }
    mu_.Lock();
    me.running = false;
    me.finished.push_back(std::move(batch));
  }
  me.device_done = true;
}

}  // namespace batching_internal
}  // namespace stylizer
