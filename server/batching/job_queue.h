// The job queue: every caller (a still image, a frame stream, a movie) opens a
// Job and submits frames to it; each frame carries one style-weight row per
// requested output and becomes one work item per row. One queue forms device
// batches from the items of all jobs and runs them on the StyleModel.
//
// API CONTRACT (the service and video pipeline are written against it; the
// implementation may add members but must keep these meanings).
#ifndef STYLIZER_SERVER_BATCHING_JOB_QUEUE_H_
#define STYLIZER_SERVER_BATCHING_JOB_QUEUE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace stylizer {

// Pixels of one frame: packed RGB24, row-major.
struct RgbFrame {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;  // width * height * 3 bytes
};

// One frame to stylize into one output per style-weight row.
struct FrameRequest {
  // Shared by all of the frame's items; never modified by the queue.
  std::shared_ptr<const RgbFrame> frame;
  // One row per output; each row has the model's style count of entries,
  // already validated by the caller (see ValidateStyleWeights).
  std::vector<std::vector<float>> style_weights;
  // Caller's tag, echoed in the result.
  uint64_t sequence = 0;
};

// The outcome of one FrameRequest.
struct FrameResult {
  uint64_t sequence = 0;
  // OK, or why the frame was not computed: CANCELLED, DEADLINE_EXCEEDED,
  // UNAVAILABLE (queue shut down), RESOURCE_EXHAUSTED (device out of memory),
  // INTERNAL.
  absl::Status status;
  // On OK: one stylized frame per style-weight row, in row order, same size as
  // the input.
  std::vector<RgbFrame> outputs;
  // Longest time any of the frame's items waited in the queue.
  absl::Duration queue_wait;
  // Device time of the batches the frame's items ran in (summed).
  absl::Duration compute;
};

struct JobOptions {
  // Items not started by then are dropped with DEADLINE_EXCEEDED.
  absl::Time deadline = absl::InfiniteFuture();
  // Most frames of this job admitted but not yet delivered; 0 = the queue's
  // default (Options::max_frames_in_flight_per_job).
  int max_frames_in_flight = 0;
  // A single-frame job (a still image): refused when the queue is full,
  // never made to wait, so it may use the eighth of the queue that every
  // other job leaves free. Not inferred from max_frames_in_flight: a movie
  // of big frames in many styles may be allowed one frame at a time, and
  // such movies filled the reserve. Default false.
  bool single_frame = false;
  // Label for logs.
  std::string name;
  // Called once per submitted frame, in submission order, on a queue thread
  // (never on the submitting thread). Must not block for long.
  std::function<void(FrameResult)> on_result;
};

// One caller's stream of frames. Thread-safe. Destroying it cancels it:
// results not yet delivered are discarded (on_result is not called for them)
// and the destructor waits for a running on_result of this job to return, so
// the callback's captures may be freed right after (destroying the Job from
// inside its own on_result is allowed). Pending NotifyWhenRoom callbacks are
// dropped too (never run after the destructor returns), and a running one is
// waited for in the same way.
class Job {
 public:
  virtual ~Job() = default;

  // Admits *request if the job and the queue have room now: on OK the queue
  // owns it (moved from); otherwise *request is untouched and the status is
  // RESOURCE_EXHAUSTED (no room; message carries a retry hint), CANCELLED (job
  // cancelled) or UNAVAILABLE (queue draining or stopped). Never blocks.
  virtual absl::Status TrySubmit(FrameRequest* request) = 0;

  // Like TrySubmit but waits for room instead of RESOURCE_EXHAUSTED. For
  // threads that may block (the video decoder), never for RPC reactions.
  virtual absl::Status Submit(FrameRequest* request) = 0;

  // Runs `callback` once, on a queue thread, as soon as room may be available
  // for this job (immediately if it already is, or if the job is cancelled).
  // Used by streaming reactors to resume reading after TrySubmit said no.
  virtual void NotifyWhenRoom(std::function<void()> callback) = 0;

  // Drops every queued item of the job and frees its capacity; their frames'
  // results arrive with CANCELLED. Results of a batch already running are
  // discarded. Idempotent.
  virtual void Cancel() = 0;
};

// Hooks for metrics; implemented by the metrics component. Called from queue
// threads, and OnQueueDepth / OnItemDropped also from a submitting or
// cancelling thread, sometimes with the queue's lock held: implementations
// must be cheap, thread-safe, and must not call back into the queue.
class QueueObserver {
 public:
  virtual ~QueueObserver() = default;
  // Queue depth after a change.
  virtual void OnQueueDepth(int64_t items, int64_t bytes) {}
  // One device batch finished.
  virtual void OnBatch(int batch_size, absl::Duration compute) {}
  // One item was computed; `style_weights` is its (unnormalised) row.
  virtual void OnItemDone(const std::vector<float>& style_weights,
                          absl::Duration queue_wait) {}
  // One item was dropped without being computed (`reason` is its status).
  virtual void OnItemDropped(const absl::Status& reason) {}
};

class StyleModel;

// The shared queue and its device workers. Thread-safe.
class JobQueue {
 public:
  // Options: max_batch_size, batch_timeout, capacities (items and bytes),
  // max_frames_in_flight_per_job, workers, clock; each default documented
  // where the struct is defined (job_queue_options.h).
  struct Options;

  // INVALID_ARGUMENT naming the first option out of range (what Create
  // checks first), so that a server can refuse them before loading a model.
  static absl::Status ValidateOptions(const Options& options);

  // Validates `options` and starts the workers. `model` must outlive the
  // queue; `observer` may be null.
  static absl::StatusOr<std::unique_ptr<JobQueue>> Create(
      const Options& options, StyleModel* model, QueueObserver* observer);

  // Like Create, with several model instances (one per device or replica):
  // each runs Options::workers workers. Stylize calls on one instance are
  // never concurrent.
  static absl::StatusOr<std::unique_ptr<JobQueue>> Create(
      const Options& options, const std::vector<StyleModel*>& models,
      QueueObserver* observer);

  // Aborts: stops admission, delivers every undelivered frame as CANCELLED,
  // lets running batches finish (their results are discarded) and joins the
  // threads; no callback runs after it returns. Not from a queue thread.
  virtual ~JobQueue() = default;

  // Opens a job. UNAVAILABLE once draining. Jobs should be destroyed before
  // the queue; one that outlives it answers UNAVAILABLE and never calls back.
  virtual absl::StatusOr<std::unique_ptr<Job>> OpenJob(JobOptions options) = 0;

  // Stops admission (new jobs and submissions get UNAVAILABLE) and returns
  // when every queued item has been delivered. Batches close at once instead
  // of waiting for batch_timeout. Not from a queue thread (on_result).
  virtual void Drain() = 0;

  // INVALID_ARGUMENT where a width x height frame in `items` styles can
  // never be admitted (more than one job's share of the queue), so that a
  // caller can refuse it from its header, before decoding it.
  virtual absl::Status CheckFrameFits(int width, int height,
                                      int64_t items) const {
    return absl::OkStatus();
  }

  // Items and bytes queued or running now.
  virtual int64_t queued_items() const = 0;

  // Bytes those items account for (width * height * 3 each).
  virtual int64_t queued_bytes() const { return 0; }

  // The jobs' per-frame-size lanes: one per size with queued items (an
  // emptied lane is freed).
  virtual int64_t queued_lanes() const { return 0; }
};

}  // namespace stylizer

#endif  // STYLIZER_SERVER_BATCHING_JOB_QUEUE_H_
