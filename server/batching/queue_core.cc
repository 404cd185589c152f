// The job queue's admission, cancellation, deadlines and in-order delivery.
// Batch formation and the worker loops are in queue_core_workers.cc.
#include <algorithm>
#include <cstdint>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/batching/queue_core.h"

namespace stylizer {
namespace batching_internal {
namespace {

// One job may hold at most this fraction of the queue's capacity, so that a
// long movie never locks every other caller out.
constexpr int64_t kJobShareDivisor = 2;

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

QueueCore::QueueCore(const JobQueue::Options& options, const Clock* clock,
                     std::vector<WorkerModel> workers, int num_styles,
                     QueueObserver* observer)
    : options_(options),
      clock_(clock),
      worker_models_(std::move(workers)),
      num_styles_(num_styles),
      observer_(observer),
      slots_(worker_models_.size()) {}

absl::StatusOr<std::shared_ptr<JobState>> QueueCore::OpenJob(
    JobOptions options) {
  auto job = std::make_shared<JobState>();
  job->name = std::move(options.name);
  job->deadline = options.deadline;
  job->max_in_flight = options.max_frames_in_flight > 0
                           ? options.max_frames_in_flight
                           : options_.max_frames_in_flight_per_job;
  job->on_result = std::move(options.on_result);
  absl::MutexLock lock(&mu_);
  if (draining_ || stopping_) {
    return absl::UnavailableError("job queue is shutting down");
  }
  job->id = next_job_id_++;
  jobs_.emplace(job->id, job);
  if (job->deadline != absl::InfiniteFuture()) {
    deadlines_.emplace(job->deadline, job->id);
    ++epoch_;
  }
  return job;
}

absl::Status QueueCore::ValidateRequest(const FrameRequest& request) const {
  const RgbFrame* frame = request.frame.get();
  if (frame == nullptr) {
    return absl::InvalidArgumentError("frame request has no frame");
  }
  if (frame->width <= 0 || frame->height <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "frame size ", frame->width, "x", frame->height, " is not positive"));
  }
  const int64_t bytes = int64_t{frame->width} * frame->height * 3;
  if (static_cast<int64_t>(frame->pixels.size()) != bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "frame of ", frame->width, "x", frame->height, " has ",
        frame->pixels.size(), " bytes of pixels; expected ", bytes));
  }
  if (request.style_weights.empty()) {
    return absl::InvalidArgumentError("frame request has no style rows");
  }
  for (const std::vector<float>& row : request.style_weights) {
    absl::Status status = ValidateStyleWeights(row, num_styles_);
    if (!status.ok()) return status;
  }
  const int64_t items = static_cast<int64_t>(request.style_weights.size());
  const int64_t max_items =
      std::max<int64_t>(1, options_.max_queued_items / kJobShareDivisor);
  const int64_t max_bytes =
      std::max<int64_t>(1, options_.max_queued_bytes / kJobShareDivisor);
  if (items > max_items || items * bytes > max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "frame of ", frame->width, "x", frame->height, " with ", items,
        " styles needs ", items, " items and ", items * bytes,
        " bytes; one job may hold at most ", max_items, " items and ",
        max_bytes, " bytes"));
  }
  return absl::OkStatus();
}

bool QueueCore::HasRoomLocked(const JobState& job, int64_t items,
                              int64_t bytes) const {
  if (static_cast<int64_t>(job.frames.size()) >= job.max_in_flight) {
    return false;
  }
  if (items_ + items > options_.max_queued_items ||
      bytes_ + bytes > options_.max_queued_bytes) {
    return false;
  }
  // A job's share; a job holding nothing may always take one frame that fits
  // the queue (ValidateRequest bounds its size).
  if (job.held_items == 0) return true;
  return job.held_items + items <=
             options_.max_queued_items / kJobShareDivisor &&
         job.held_bytes + bytes <= options_.max_queued_bytes / kJobShareDivisor;
}

bool QueueCore::HasRoomToResumeLocked(const JobState& job, int64_t items,
                                      int64_t bytes) const {
  // Resume a blocked job only once a quarter of its frame limit is free, so
  // that it refills in bursts rather than one frame per delivered result.
  const int64_t slack = std::max(1, job.max_in_flight / 4);
  return HasRoomLocked(job, items, bytes) &&
         static_cast<int64_t>(job.frames.size()) + slack <= job.max_in_flight;
}

absl::Status QueueCore::NoRoomLocked(const JobState& job, int64_t items,
                                     int64_t bytes) const {
  const int64_t lanes = std::max<int64_t>(
      1, int64_t{options_.max_batch_size} * num_workers());
  const int64_t batches_ahead = std::max<int64_t>(1, CeilDiv(items_, lanes));
  const int64_t retry_ms = std::max<int64_t>(
      1, absl::ToInt64Milliseconds(batch_time_ * batches_ahead));
  if (static_cast<int64_t>(job.frames.size()) >= job.max_in_flight) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "job has ", job.frames.size(), " frames in flight (limit ",
        job.max_in_flight, "); retry in about ", retry_ms, " ms"));
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "job queue is full (", items_, " of ", options_.max_queued_items,
      " items, ", bytes_, " of ", options_.max_queued_bytes,
      " bytes; this frame needs ", items, " items, ", bytes,
      " bytes); retry in about ", retry_ms, " ms"));
}

absl::Status QueueCore::Submit(const std::shared_ptr<JobState>& job,
                               FrameRequest* request, bool wait) {
  absl::Status valid = ValidateRequest(*request);
  if (!valid.ok()) return valid;
  const int64_t items = static_cast<int64_t>(request->style_weights.size());
  const int64_t bytes =
      items * request->frame->width * request->frame->height * 3;
  absl::MutexLock lock(&mu_);
  auto settled = [&]() {
    mu_.AssertReaderHeld();
    return draining_ || stopping_ || job->cancelled ||
           HasRoomToResumeLocked(*job, items, bytes);
  };
  if (wait && !HasRoomLocked(*job, items, bytes)) {
    mu_.Await(absl::Condition(&settled));
  }
  if (draining_ || stopping_) {
    return absl::UnavailableError("job queue is shutting down");
  }
  if (job->cancelled) return absl::CancelledError("job was cancelled");
  if (!HasRoomLocked(*job, items, bytes)) {
    job->wanted_items = items;
    job->wanted_bytes = bytes;
    return NoRoomLocked(*job, items, bytes);
  }
  job->wanted_items = 1;
  job->wanted_bytes = 0;
  AdmitLocked(job, request);
  return absl::OkStatus();
}

void QueueCore::AdmitLocked(const std::shared_ptr<JobState>& job,
                            FrameRequest* request) {
  auto frame = std::make_shared<FrameState>();
  frame->job = job;
  frame->sequence = request->sequence;
  frame->frame = std::move(request->frame);
  frame->style_weights = std::move(request->style_weights);
  const int rows = static_cast<int>(frame->style_weights.size());
  const Shape shape(frame->frame->width, frame->frame->height);
  frame->item_bytes = int64_t{shape.first} * shape.second * 3;
  frame->items_left = rows;
  frame->outputs.resize(rows);
  job->frames.push_back(frame);
  ++pending_frames_;

  const absl::Time now = clock_->Now();
  if (now >= job->deadline) {
    frame->items_left = 0;
    frame->done = true;
    frame->status = absl::DeadlineExceededError(
        "job deadline passed before the frame was computed");
    frame->outputs.clear();
    if (observer_ != nullptr) {
      for (int r = 0; r < rows; ++r) observer_->OnItemDropped(frame->status);
    }
    PostDeliveryLocked(job);
    return;
  }

  std::unique_ptr<Lane>& lane = job->lanes[shape];
  if (lane == nullptr) {
    lane = std::make_unique<Lane>();
    lane->job = job.get();
    lane->shape = shape;
  }
  for (int r = 0; r < rows; ++r) lane->items.push_back(Item{frame, r, now});
  ShapeQueue& queue = shapes_[shape];
  if (!lane->in_ring) {
    lane->ring_pos = queue.ring.insert(queue.ring.end(), lane.get());
    lane->in_ring = true;
  }
  const int64_t before = queue.items;
  queue.items += rows;
  job->queued_items += rows;
  job->held_items += rows;
  job->held_bytes += rows * frame->item_bytes;
  items_ += rows;
  bytes_ += rows * frame->item_bytes;
  if (before == 0 || (before < options_.max_batch_size &&
                      queue.items >= options_.max_batch_size)) {
    ++epoch_;
  }
  ReportDepthLocked();
}

void QueueCore::NotifyWhenRoom(const std::shared_ptr<JobState>& job,
                               std::function<void()> callback) {
  absl::MutexLock lock(&mu_);
  if (draining_ || stopping_ || job->cancelled ||
      HasRoomLocked(*job, job->wanted_items, job->wanted_bytes)) {
    PostLocked(std::move(callback));
    return;
  }
  job->room_callbacks.push_back(std::move(callback));
  room_waiters_.insert(job);
}

void QueueCore::WakeRoomWaitersLocked() {
  for (auto it = room_waiters_.begin(); it != room_waiters_.end();) {
    JobState& job = **it;
    if (draining_ || stopping_ || job.cancelled ||
        HasRoomToResumeLocked(job, job.wanted_items, job.wanted_bytes)) {
      for (auto& callback : job.room_callbacks) {
        PostLocked(std::move(callback));
      }
      job.room_callbacks.clear();
      it = room_waiters_.erase(it);
    } else {
      ++it;
    }
  }
}

void QueueCore::Cancel(const std::shared_ptr<JobState>& job) {
  absl::MutexLock lock(&mu_);
  CancelLocked(job, absl::CancelledError("job was cancelled"));
}

void QueueCore::CancelLocked(const std::shared_ptr<JobState>& job,
                             const absl::Status& reason) {
  if (job->cancelled) return;
  job->cancelled = true;
  DropQueuedItemsLocked(job.get(), reason);
  // Frames with items still on the device fail now; those items' results
  // are discarded when their batch finishes.
  for (const std::shared_ptr<FrameState>& frame : job->frames) {
    if (frame->done) continue;
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
  job->queued_items = 0;
  if (items > 0) {
    ReleaseLocked(job, items, bytes);
    ReportDepthLocked();
    WakeRoomWaitersLocked();
  }
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

void QueueCore::ReportDepthLocked() const {
  if (observer_ != nullptr) observer_->OnQueueDepth(items_, bytes_);
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
    return !job->delivering || job->delivering_thread == self;
  };
  mu_.Await(absl::Condition(&idle));
  // If this thread is delivering (the Job was destroyed from on_result), the
  // delivery loop discards the rest and unregisters the job.
  if (job->delivering) return;
  pending_frames_ -= static_cast<int64_t>(job->frames.size());
  job->frames.clear();
  jobs_.erase(job->id);
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
  const absl::Status reason =
      absl::CancelledError("job queue shut down before the frame was computed");
  std::vector<std::shared_ptr<JobState>> jobs;
  for (auto& [id, job] : jobs_) jobs.push_back(job);
  for (const auto& job : jobs) CancelLocked(job, reason);
  WakeRoomWaitersLocked();
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
