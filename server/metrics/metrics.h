// Prometheus metrics of the stylizer server: one registry, an HTTP exposer on
// --metrics_port serving /metrics, the QueueObserver the job queue reports to,
// and the hooks the RPC layer and the video pipeline call. prometheus-cpp
// stays behind the pimpl so that including this header is cheap.
//
// Series (all prefixed stylizer_; label values are bounded: method names are
// the four RPCs or "other", codes are canonical status-code names, styles are
// the model's style names or "blend"):
//   requests_total{method,code}            request_duration_seconds{method}
//   busy_refusals_total{method}
//   active_streams{method}                 received_bytes_total{method}
//   sent_bytes_total{method}               frames_total{style}
//   items_dropped_total{reason}            queue_items, queue_bytes
//   queue_capacity_items, queue_capacity_bytes
//   queue_wait_seconds                     batch_size
//   inference_seconds                      video_jobs_total{outcome}
//   video_job_duration_seconds             decode_seconds, encode_seconds
//   model_info{name,device,precision,styles,sha256}
//   build_info{version,compiler}           serving, device_workers
//   device_memory_bytes{device,kind}       device_oom_retries_total{device}
//   memory_budget_bytes                    memory_reserved_bytes
//   spool_disk_bytes{kind}
// docs/operations.md explains each one and its buckets.
#ifndef STYLIZER_SERVER_METRICS_METRICS_H_
#define STYLIZER_SERVER_METRICS_METRICS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/batching/job_queue.h"
#include "server/model/style_model.h"

namespace stylizer {

// One device's memory, as reported by the model runtime (CUDA builds).
struct DeviceMemoryStats {
  std::string device;           // "cuda:0"
  int64_t allocated_bytes = 0;  // held by live tensors
  int64_t reserved_bytes = 0;   // held by the caching allocator
  int64_t total_bytes = 0;      // physical memory of the device
  int64_t oom_retries = 0;      // batches re-run in halves after running out
};

// Called at scrape time (on an exposer thread); must be thread-safe and quick.
using DeviceMemoryCallback = std::function<std::vector<DeviceMemoryStats>()>;

// The disk the video uploads spill to, as the server's disk budget sees it.
struct SpoolDiskStats {
  int64_t uploads_bytes = 0;  // held by the uploads in progress
  int64_t free_bytes = 0;     // the disk's free room
  int64_t size_bytes = 0;     // the disk's size (0: it cannot be read)
  int64_t limit_bytes = 0;    // --spool_disk_bytes (0: none)
};

// Called at scrape time, like DeviceMemoryCallback.
using SpoolDiskCallback = std::function<SpoolDiskStats()>;

// Everything one RPC reports when it ends: recorded as requests_total,
// request_duration_seconds (and, for StylizeVideo, as one video job in
// video_jobs_total and video_job_duration_seconds), and logged as one "rpc"
// line.
struct RpcRecord {
  std::string method;   // "StylizeImage", "StylizeFrames", "StylizeVideo", ...
  std::string peer;     // grpc::ServerContext::peer(); logged only
  absl::Status status;  // the status sent to the client (code + message)
  absl::Duration duration;
  int64_t frames = 0;     // frames stylized (per output), logged only
  // Payload bytes received (image bytes, chunks) and sent; logged only (the
  // byte counters take them as they flow: AddBytesReceived, AddBytesSent).
  int64_t bytes_in = 0;
  int64_t bytes_out = 0;
  std::string job_id;     // video jobs; logged only when non-empty
  // The caller's x-request-id (call_log.h); logged only when non-empty.
  std::string request_id;
  // The trace id of the caller's traceparent; logged only when non-empty.
  std::string trace_id;
  // The retry hint the client was given: set when the server refused the
  // call because it was busy (server/service/retry_info.h).
  std::optional<absl::Duration> retry_delay;
};

// The one log line of a finished RPC (method, peer, code, message, job id,
// frames, bytes, seconds): info for OK and CANCELLED, error for server faults,
// warning otherwise. Metrics::FinishRpc writes it; so does a server without
// metrics.
void LogRpc(const RpcRecord& record);

// The details of one finished video job, for its "job" log line (the
// counters are fed by the FinishRpc/RecordRequest of its StylizeVideo call).
struct VideoJobRecord {
  std::string job_id;
  std::string peer;
  // The caller's x-request-id (call_log.h); logged only when non-empty.
  std::string request_id;
  // The trace id of the caller's traceparent; logged only when non-empty.
  std::string trace_id;
  absl::Status status;  // outcome: OK, INVALID_ARGUMENT, CANCELLED, ...
  absl::Duration duration;
  int64_t frames = 0;  // frames decoded from the input
  // Damaged video packets skipped (their frames are missing); logged as
  // `skipped_packets` only when non-zero.
  int64_t packets_skipped = 0;
  // Joined recordings' timestamp jumps followed; logged as `timestamp_jumps`
  // only when non-zero.
  int64_t timestamp_jumps = 0;
  int outputs = 0;     // number of styled outputs
  int64_t bytes_in = 0;
  int64_t bytes_out = 0;
  int width = 0;
  int height = 0;
  // The input's HDR transfer ("smpte2084", "arib-std-b67") when its frames
  // were tone-mapped to SDR; logged as `hdr` only when non-empty.
  std::string hdr_transfer;
};

// Logs a finished video job's details as one "job" line (job id, request id,
// input size, outputs, frames). Records no metric, so a server without
// metrics writes it too: the job's StylizeVideo RPC is what counts.
void LogVideoJob(const VideoJobRecord& record);

class Metrics {
 public:
  struct Options {
    // Address the /metrics endpoint binds to.
    std::string bind_address = "0.0.0.0";
    // TCP port of the /metrics endpoint. 0 picks a free port (see port());
    // -1 serves nothing (the registry still records; tests, embedding).
    int port = 9464;
    // Model facts for model_info and the style names of frames_total. May
    // also be set later with SetModel(); empty name = not yet known.
    ModelDescription model;
    // Queue capacities for queue_capacity_items/bytes (0 = unknown). May also
    // be set later with SetQueueCapacity().
    int64_t queue_capacity_items = 0;
    int64_t queue_capacity_bytes = 0;
    // Version label of build_info; default: the project's version.
    std::string version;
    // Optional: device memory, sampled at scrape time. May also be set later
    // with SetDeviceMemoryCallback().
    DeviceMemoryCallback device_memory;
    // Optional: the spool disk, sampled at scrape time. May also be set
    // later with SetSpoolDiskCallback().
    SpoolDiskCallback spool_disk;
  };

  // Builds the registry and, unless port is -1, starts the HTTP exposer
  // (8 worker threads, one request per connection, 2 s for a client to send
  // its request: idle connections cannot hold scrapes up for long).
  // InvalidArgument for a port outside [-1, 65535]; Unavailable when the port
  // cannot be bound.
  static absl::StatusOr<std::unique_ptr<Metrics>> Create(
      const Options& options);

  // Stops the exposer.
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // The bound TCP port of /metrics (the picked one when Options::port was 0),
  // or -1 when nothing is served.
  int port() const;

  // The observer to pass to JobQueue::Create; owned by this object, valid for
  // its lifetime. Feeds frames_total, queue_*, batch_size, inference_seconds,
  // items_dropped_total.
  QueueObserver* queue_observer();

  // --- model and queue facts (callable any time, thread-safe) ---

  // Sets model_info and the style names used by frames_total.
  void SetModel(const ModelDescription& model);
  // Sets queue_capacity_items and queue_capacity_bytes.
  void SetQueueCapacity(int64_t items, int64_t bytes);
  // Sets the device-memory sampler (replaces any earlier one).
  void SetDeviceMemoryCallback(DeviceMemoryCallback callback);
  // Sets the spool-disk sampler (replaces any earlier one).
  void SetSpoolDiskCallback(SpoolDiskCallback callback);
  // Sets the serving gauge (1 = health SERVING, 0 = not serving/draining).
  void SetServing(bool serving);
  // Sets device_workers: the job queue's workers, one per device. Inference
  // seconds per second divided by it is the devices' mean busy share.
  void SetDeviceWorkers(int workers);
  // Sets memory_budget_bytes: the server's memory budget (0 = none).
  void SetMemoryBudget(int64_t capacity_bytes);
  // Sets memory_reserved_bytes: the bytes reserved in it now. Cheap (one
  // atomic store): the budget calls it on every reservation and release.
  void SetMemoryReserved(int64_t bytes);

  // --- RPC hooks (thread-safe, cheap; never block) ---

  // Records one finished RPC (counter + duration; a StylizeVideo call also
  // counts as one video job with its code as outcome) without logging.
  void RecordRequest(absl::string_view method, absl::StatusCode code,
                     absl::Duration duration);
  // Records *and* logs a finished RPC: the call the service makes once per
  // RPC, when it finishes.
  void FinishRpc(const RpcRecord& record);
  // A streaming RPC started / ended: active_streams{method} +1 / -1.
  void StreamStarted(absl::string_view method);
  void StreamEnded(absl::string_view method);
  // Payload bytes received from / sent to clients, as they flow, so that a
  // long stream's bytes show while it runs.
  void AddBytesReceived(absl::string_view method, int64_t bytes);
  void AddBytesSent(absl::string_view method, int64_t bytes);

  // --- video pipeline hooks ---

  // Time to demux + decode + convert one frame.
  void RecordDecode(absl::Duration per_frame);
  // Time to convert + encode + mux one frame of one output.
  void RecordEncode(absl::Duration per_frame);
  // The current exposition text (what GET /metrics returns). For tests and
  // debugging.
  std::string Scrape() const;

 private:
  class Impl;
  explicit Metrics(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Maps an RPC method name to its bounded label value: one of the service's
// method names, or "other".
absl::string_view MethodLabel(absl::string_view method);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_METRICS_METRICS_H_
