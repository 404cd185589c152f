// The job queue's settings, validated by JobQueue::Create. Each field's
// default is the value the server uses unless a flag overrides it.
#ifndef STYLIZER_SERVER_BATCHING_JOB_QUEUE_OPTIONS_H_
#define STYLIZER_SERVER_BATCHING_JOB_QUEUE_OPTIONS_H_

#include <cstdint>

#include "absl/time/time.h"
#include "server/batching/clock.h"
#include "server/batching/job_queue.h"

namespace stylizer {

// The most device workers one model instance may have (Options::workers).
inline constexpr int kMaxWorkersPerModel = 16;

struct JobQueue::Options {
  // Most items (frame x style-weight row) in one device batch. Default 8.
  // Must be >= 1.
  int max_batch_size = 8;

  // Most pixels (width * height summed over its items) in one device batch;
  // a batch always takes at least one item. 0: no cap (max_batch_size
  // alone). A forward pass cannot be interrupted: this bounds how long one
  // batch holds the device, so that what a large frame's batch keeps from
  // other jobs, or spends after its caller left, is one smaller batch's
  // time. Must be >= 0.
  int64_t max_batch_pixels = 0;

  // Longest time the oldest item of a not-yet-full batch waits for company
  // before the batch is sent anyway. Default 5 ms. Zero sends every batch as
  // soon as the worker is free. Must be >= 0.
  absl::Duration batch_timeout = absl::Milliseconds(5);

  // Most items admitted and not yet computed or dropped (queued, being
  // prepared, or on the device), across all jobs. Default 512. Must be
  // >= max_batch_size.
  int64_t max_queued_items = 512;

  // Most bytes those items account for (each item counts its frame's
  // width * height * 3: its share of the input and its output). Default
  // 1 GiB. Must be > 0. A frame that can never fit is INVALID_ARGUMENT.
  int64_t max_queued_bytes = int64_t{1} << 30;

  // Default per-job limit of frames admitted but not yet delivered (a job can
  // lower or raise it with JobOptions::max_frames_in_flight). Default 64.
  // Must be >= 1.
  int max_frames_in_flight_per_job = 64;

  // Device workers per model instance. Each worker has one host thread
  // (assembles the next batch and delivers results) and one device thread
  // (runs StyleModel::Stylize); calls on one model instance are serialised,
  // so more than one worker per instance only deepens the host pipeline.
  // Default 1. Must be in [1, kMaxWorkersPerModel].
  int workers = 1;

  // Time source for batch timeouts, deadlines and the measured durations.
  // Null = the process clock. Must outlive the queue.
  const Clock* clock = nullptr;
};

}  // namespace stylizer

#endif  // STYLIZER_SERVER_BATCHING_JOB_QUEUE_OPTIONS_H_
