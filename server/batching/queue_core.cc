// The job queue's admission: opening jobs, validating frames, capacity and
// flow control, and queuing a frame's items. Cancellation and shutdown are in
// queue_core_cancel.cc, delivery in queue_core_delivery.cc, batch formation
// and the worker loops in queue_core_workers.cc.
#include "server/batching/queue_core.h"

#include <algorithm>
#include <cstdint>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/service/retry_info.h"

namespace stylizer {
namespace batching_internal {
namespace {

// One job may hold at most this fraction of the queue's capacity, so that a
// long movie never locks every other caller out.
constexpr int64_t kJobShareDivisor = 2;
// Streaming jobs (more than one frame in flight) leave this fraction of the
// queue's capacity to single-frame jobs (StylizeImage): streams wait for room,
// a still image is refused, so without it a few movies and frame streams
// could fill the queue and every image caller in the meantime would get
// RESOURCE_EXHAUSTED (2 of 4061 images in the 5-minute soak).
constexpr int64_t kSingleFrameReserveDivisor = 8;

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
  job->single_frame = options.single_frame;
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
  return CheckFrameFits(frame->width, frame->height,
                        static_cast<int64_t>(request.style_weights.size()));
}

absl::Status QueueCore::CheckFrameFits(int width, int height,
                                       int64_t items) const {
  const int64_t bytes = int64_t{width} * height * 3;
  const int64_t max_items =
      std::max<int64_t>(1, options_.max_queued_items / kJobShareDivisor);
  const int64_t max_bytes =
      std::max<int64_t>(1, options_.max_queued_bytes / kJobShareDivisor);
  if (items > max_items || items * bytes > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("frame of ", width, "x", height, " with ", items,
                     items == 1 ? " style needs " : " styles needs ", items,
                     items == 1 ? " item and " : " items and ", items * bytes,
                     " bytes; one job may hold at most ", max_items,
                     " items and ", max_bytes,
                     " bytes (half the queue); send a smaller frame or fewer "
                     "styles per frame"));
  }
  return absl::OkStatus();
}

bool QueueCore::HasRoomLocked(const JobState& job, int64_t items,
                              int64_t bytes) const {
  if (static_cast<int64_t>(job.frames.size()) >= job.max_in_flight) {
    return false;
  }
  const bool streaming = !job.single_frame;
  const int64_t item_reserve =
      streaming ? options_.max_queued_items / kSingleFrameReserveDivisor : 0;
  const int64_t byte_reserve =
      streaming ? options_.max_queued_bytes / kSingleFrameReserveDivisor : 0;
  if (items_ + items > options_.max_queued_items - item_reserve ||
      bytes_ + bytes > options_.max_queued_bytes - byte_reserve) {
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

int64_t QueueCore::MaxBatchItems(const Shape& shape) const {
  const int64_t most = options_.max_batch_size;
  if (options_.max_batch_pixels <= 0) return most;
  const int64_t pixels =
      std::max<int64_t>(1, int64_t{shape.first} * shape.second);
  return std::clamp<int64_t>(options_.max_batch_pixels / pixels, 1, most);
}

absl::Status QueueCore::NoRoomLocked(const JobState& job, int64_t items,
                                     int64_t bytes) const {
  // The items ahead, shared by the workers, at the recent time per item.
  // (It counted batches of max_batch_size: under max_batch_pixels a hint up
  // to that many times too short.)
  const int64_t per_worker =
      std::max<int64_t>(1, CeilDiv(items_, int64_t{num_workers()}));
  const int64_t retry_ms =
      std::max<int64_t>(1, absl::ToInt64Milliseconds(item_time_ * per_worker));
  if (static_cast<int64_t>(job.frames.size()) >= job.max_in_flight) {
    return WithRetryDelay(
        absl::ResourceExhaustedError(absl::StrCat(
            "job has ", job.frames.size(), " frames in flight (limit ",
            job.max_in_flight, "); retry in about ", retry_ms, " ms")),
        absl::Milliseconds(retry_ms));
  }
  return WithRetryDelay(
      absl::ResourceExhaustedError(absl::StrCat(
          "job queue is full (", items_, " of ", options_.max_queued_items,
          " items, ", bytes_, " of ", options_.max_queued_bytes,
          " bytes; this frame needs ", items, " items, ", bytes,
          " bytes); retry in about ", retry_ms, " ms")),
      absl::Milliseconds(retry_ms));
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
  if (!job->active) {
    job->active_pos = active_.insert(active_.end(), job.get());
    job->active = true;
  }
  const int64_t before = queue.items;
  queue.items += rows;
  job->queued_items += rows;
  job->held_items += rows;
  job->held_bytes += rows * frame->item_bytes;
  items_ += rows;
  bytes_ += rows * frame->item_bytes;
  const int64_t full = MaxBatchItems(shape);
  if (before == 0 || (before < full && queue.items >= full)) {
    ++epoch_;
  }
  ReportDepthLocked();
}

void QueueCore::NotifyWhenRoom(const std::shared_ptr<JobState>& job,
                               std::function<void()> callback) {
  absl::MutexLock lock(&mu_);
  if (draining_ || stopping_ || job->cancelled ||
      HasRoomLocked(*job, job->wanted_items, job->wanted_bytes)) {
    PostRoomCallbackLocked(job, std::move(callback));
    return;
  }
  job->room_callbacks.push_back(std::move(callback));
  room_waiters_.insert(job);
}

}  // namespace batching_internal
}  // namespace stylizer
