// The registry's series: their names, help texts and buckets, and the
// series created up front; see metrics_impl.h.
#include <string>

#include "absl/strings/str_cat.h"
#include "server/metrics/metrics_impl.h"

#ifndef STYLIZER_VERSION
#define STYLIZER_VERSION "unknown"
#endif

namespace stylizer {
namespace metrics_internal {

using prometheus::Histogram;

// Whole RPCs: a still image on a GPU takes milliseconds, a CPU image a few
// seconds, a movie minutes to hours (as far as video jobs' buckets).
const Histogram::BucketBoundaries& RequestBuckets() {
  static const auto* b = new Histogram::BucketBoundaries{
      0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,  1,    2.5,  5,
      10,    30,   60,    120,  300, 600,  1800, 3600, 7200, 14400};
  return *b;
}

// Time an item waits for a batch: ideally under the batch timeout (a few
// ms); seconds mean the device is saturated.
const Histogram::BucketBoundaries& QueueWaitBuckets() {
  static const auto* b = new Histogram::BucketBoundaries{
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
      0.1,    0.25,  0.5,    1,     2.5,  5,     10};
  return *b;
}

// Items per device batch: every size up to 8 exactly (where small batches
// show up), then coarser up to 128.
const Histogram::BucketBoundaries& BatchSizeBuckets() {
  static const auto* b = new Histogram::BucketBoundaries{
      1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 24, 32, 48, 64, 96, 128};
  return *b;
}

// One forward pass of one batch: ~1 ms (small frames, GPU) to tens of
// seconds (large batch of HD frames on a CPU).
const Histogram::BucketBoundaries& InferenceBuckets() {
  static const auto* b = new Histogram::BucketBoundaries{
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
      0.25,  0.5,    1,     2.5,  5,     10,   30};
  return *b;
}

// Decoding or encoding one frame: ~0.1 ms for tiny frames to ~1 s for 4K
// H.264 at slow presets.
const Histogram::BucketBoundaries& CodecBuckets() {
  static const auto* b = new Histogram::BucketBoundaries{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
      0.025,  0.05,    0.1,    0.25,  0.5,    1};
  return *b;
}

// Whole video jobs: seconds (clips) to hours (feature films on a CPU).
const Histogram::BucketBoundaries& VideoJobBuckets() {
  static const auto* b = new Histogram::BucketBoundaries{
      1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400};
  return *b;
}

}  // namespace metrics_internal

namespace {

std::string CompilerLabel() {
#if defined(__clang__)
  return absl::StrCat("clang-", __clang_major__, ".", __clang_minor__);
#elif defined(__GNUC__)
  return absl::StrCat("gcc-", __GNUC__, ".", __GNUC_MINOR__);
#else
  return "unknown";
#endif
}

}  // namespace

using metrics_internal::BatchSizeBuckets;
using metrics_internal::CodecBuckets;
using metrics_internal::InferenceBuckets;
using metrics_internal::kMethods;
using metrics_internal::kPayloadMethods;
using metrics_internal::QueueWaitBuckets;
using metrics_internal::RequestBuckets;
using metrics_internal::VideoJobBuckets;

Metrics::Impl::Impl(const Options& options)
    : registry_(std::make_shared<prometheus::Registry>()),
      device_memory_(std::make_shared<SampledCollector>()),
      spool_disk_(std::make_shared<SampledCollector>()),
      requests_(prometheus::BuildCounter()
                    .Name("stylizer_requests_total")
                    .Help("Finished RPCs by method and gRPC status code")
                    .Register(*registry_)),
      request_duration_(
          prometheus::BuildHistogram()
              .Name("stylizer_request_duration_seconds")
              .Help("Wall time of finished RPCs, first message to status")
              .Register(*registry_)),
      busy_refusals_(prometheus::BuildCounter()
                         .Name("stylizer_busy_refusals_total")
                         .Help("RPCs refused because the server was busy "
                               "(RESOURCE_EXHAUSTED with a retry hint: "
                               "stream slots, memory budget, queue or work "
                               "pool held by other calls), by method")
                         .Register(*registry_)),
      active_streams_(prometheus::BuildGauge()
                          .Name("stylizer_active_streams")
                          .Help("RPCs in progress by method")
                          .Register(*registry_)),
      received_bytes_(prometheus::BuildCounter()
                          .Name("stylizer_received_bytes_total")
                          .Help("Payload bytes received from clients "
                                "(images, video chunks) by method")
                          .Register(*registry_)),
      sent_bytes_(prometheus::BuildCounter()
                      .Name("stylizer_sent_bytes_total")
                      .Help("Payload bytes sent to clients by method")
                      .Register(*registry_)),
      frames_(prometheus::BuildCounter()
                  .Name("stylizer_frames_total")
                  .Help("Stylized frames (one per frame and style) by "
                        "style name; 'blend' for mixed styles")
                  .Register(*registry_)),
      items_dropped_(prometheus::BuildCounter()
                         .Name("stylizer_items_dropped_total")
                         .Help("Queued items dropped without computing, "
                               "by reason (status code)")
                         .Register(*registry_)),
      queue_items_(Plain(prometheus::BuildGauge()
                             .Name("stylizer_queue_items")
                             .Help("Items (frame x style) queued or running")
                             .Register(*registry_))),
      queue_bytes_(Plain(prometheus::BuildGauge()
                             .Name("stylizer_queue_bytes")
                             .Help("Pixel bytes queued or running")
                             .Register(*registry_))),
      queue_capacity_items_(Plain(prometheus::BuildGauge()
                                      .Name("stylizer_queue_capacity_items")
                                      .Help("Most items the queue admits")
                                      .Register(*registry_))),
      queue_capacity_bytes_(Plain(prometheus::BuildGauge()
                                      .Name("stylizer_queue_capacity_bytes")
                                      .Help("Most pixel bytes the queue admits")
                                      .Register(*registry_))),
      queue_wait_(Plain(prometheus::BuildHistogram()
                            .Name("stylizer_queue_wait_seconds")
                            .Help("Time from admission to the start of the "
                                  "item's device batch")
                            .Register(*registry_),
                        QueueWaitBuckets())),
      batch_size_(Plain(prometheus::BuildHistogram()
                            .Name("stylizer_batch_size")
                            .Help("Items per device batch")
                            .Register(*registry_),
                        BatchSizeBuckets())),
      inference_(Plain(prometheus::BuildHistogram()
                           .Name("stylizer_inference_seconds")
                           .Help("Device time of one batch (upload, "
                                 "forward, download)")
                           .Register(*registry_),
                       InferenceBuckets())),
      video_jobs_(
          prometheus::BuildCounter()
              .Name("stylizer_video_jobs_total")
              .Help("Finished video jobs (StylizeVideo calls) by outcome "
                    "(status code)")
              .Register(*registry_)),
      video_job_duration_(Plain(
          prometheus::BuildHistogram()
              .Name("stylizer_video_job_duration_seconds")
              .Help("Wall time of finished video jobs (StylizeVideo calls)")
              .Register(*registry_),
          VideoJobBuckets())),
      decode_(Plain(prometheus::BuildHistogram()
                        .Name("stylizer_decode_seconds")
                        .Help("Demux + decode + RGB conversion time per "
                              "input frame, less waits for upload bytes")
                        .Register(*registry_),
                    CodecBuckets())),
      encode_(Plain(prometheus::BuildHistogram()
                        .Name("stylizer_encode_seconds")
                        .Help("Conversion + encode + mux time per output "
                              "frame, less waits for a slow reader")
                        .Register(*registry_),
                    CodecBuckets())),
      model_info_(prometheus::BuildGauge()
                      .Name("stylizer_model_info")
                      .Help("The loaded model (value 1)")
                      .Register(*registry_)),
      serving_(Plain(prometheus::BuildGauge()
                         .Name("stylizer_serving")
                         .Help("1 while the health service says SERVING")
                         .Register(*registry_))),
      device_workers_(
          Plain(prometheus::BuildGauge()
                    .Name("stylizer_device_workers")
                    .Help("Device workers of the job queue, one per device "
                          "(each GPU, or the CPU); 0 until the model is "
                          "loaded")
                    .Register(*registry_))),
      memory_budget_(
          Plain(prometheus::BuildGauge()
                    .Name("stylizer_memory_budget_bytes")
                    .Help("The memory budget for what the server holds for "
                          "callers (--memory_budget_bytes; 0 = no budget)")
                    .Register(*registry_))),
      memory_reserved_(Plain(
          prometheus::BuildGauge()
              .Name("stylizer_memory_reserved_bytes")
              .Help("Bytes reserved in the memory budget now: gRPC's quota, "
                    "frames, images and video jobs being served")
              .Register(*registry_))) {
  prometheus::BuildGauge()
      .Name("stylizer_build_info")
      .Help("Build of this server (value 1)")
      .Register(*registry_)
      .Add({{"version",
             options.version.empty() ? STYLIZER_VERSION : options.version},
            {"compiler", CompilerLabel()}})
      .Set(1);
  // Create the usual series up front so that rate() and dashboards see
  // zeros instead of gaps. rate() takes a series' first sample as its
  // start, so a counter the alerts read (docs/prometheus-alerts.yml) that
  // appeared at its first event would hide that event: those are here too.
  for (absl::string_view method : kMethods) {
    const std::string m(method);
    for (absl::string_view code : {"OK", "INTERNAL", "UNKNOWN", "DATA_LOSS"}) {
      requests_.Add({{"method", m}, {"code", std::string(code)}});
    }
    request_duration_.Add({{"method", m}}, RequestBuckets());
  }
  for (absl::string_view method : kPayloadMethods) {
    const std::string m(method);
    active_streams_.Add({{"method", m}});
    received_bytes_.Add({{"method", m}});
    sent_bytes_.Add({{"method", m}});
    busy_refusals_.Add({{"method", m}});
  }
  for (absl::string_view outcome : {"OK", "INTERNAL", "UNKNOWN", "DATA_LOSS"}) {
    video_jobs_.Add({{"outcome", std::string(outcome)}});
  }
  for (absl::string_view reason :
       {"CANCELLED", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "INTERNAL"}) {
    items_dropped_.Add({{"reason", std::string(reason)}});
  }
  blend_frames_ = &frames_.Add({{"style", "blend"}});
  if (!options.model.name.empty()) SetModel(options.model);
  SetQueueCapacity(options.queue_capacity_items, options.queue_capacity_bytes);
  SetDeviceMemory(options.device_memory);
  SetSpoolDisk(options.spool_disk);
}

}  // namespace stylizer
