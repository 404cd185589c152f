// The metrics registry, its /metrics exposer and the queue observer; see
// metrics.h for the series and docs/operations.md for their meaning.
#include "server/metrics/metrics.h"

#include <exception>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "prometheus/counter.h"
#include "prometheus/exposer.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"
#include "server/common/host_port.h"
#include "server/metrics/device_memory_collector.h"
#include "server/metrics/log.h"
#include "server/metrics/log_sampler.h"

#ifndef STYLIZER_VERSION
#define STYLIZER_VERSION "unknown"
#endif

namespace stylizer {
namespace {

// rpc lines of refused credentials written a second, at most.
constexpr int kRefusalLinesPerSecond = 20;

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;

// The /metrics HTTP server (CivetWeb) serves each connection on one of its
// worker threads, from the first byte of the request to the response. A
// client that connects and then sends nothing (or half a request) holds its
// worker until the request timeout, so the timeout is short and the workers
// several: it takes more than kExposerThreads such clients at once to delay
// a scrape at all, and each one then costs it at most kExposerRequestTimeoutMs
// (CivetWeb's default is 30 s, three times Prometheus' default scrape
// timeout). A scraper sends its whole request at once, so 2 s is ample.
constexpr int kExposerThreads = 8;
constexpr int kExposerRequestTimeoutMs = 2000;

// Bucket boundaries, chosen for what each histogram measures (the reasoning
// is in docs/operations.md).

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

constexpr absl::string_view kMethods[] = {"GetModelInfo", "StylizeImage",
                                          "StylizeFrames", "StylizeVideo"};
constexpr absl::string_view kPayloadMethods[] = {
    "StylizeImage", "StylizeFrames", "StylizeVideo"};

std::string CodeLabel(absl::StatusCode code) {
  std::string name = absl::StatusCodeToString(code);
  return name.empty() ? "UNKNOWN" : name;
}

// Client mistakes and cancellations are routine; server faults are errors.
LogLevel LevelFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
    case absl::StatusCode::kCancelled:
      return LogLevel::kInfo;
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kUnimplemented:
      return LogLevel::kError;
    default:
      return LogLevel::kWarning;
  }
}

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

absl::string_view MethodLabel(absl::string_view method) {
  // Accept full gRPC paths ("/stylizer.v1.Stylizer/StylizeImage") too.
  const size_t slash = method.rfind('/');
  if (slash != absl::string_view::npos) method.remove_prefix(slash + 1);
  for (absl::string_view known : kMethods) {
    if (method == known) return known;
  }
  return "other";
}

// Holds every series; is also the queue observer.
class Metrics::Impl : public QueueObserver {
 public:
  explicit Impl(const Options& options)
      : registry_(std::make_shared<prometheus::Registry>()),
        device_memory_(std::make_shared<DeviceMemoryCollector>()),
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
        queue_capacity_bytes_(
            Plain(prometheus::BuildGauge()
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
      for (absl::string_view code :
           {"OK", "INTERNAL", "UNKNOWN", "DATA_LOSS"}) {
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
    for (absl::string_view outcome :
         {"OK", "INTERNAL", "UNKNOWN", "DATA_LOSS"}) {
      video_jobs_.Add({{"outcome", std::string(outcome)}});
    }
    for (absl::string_view reason :
         {"CANCELLED", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "INTERNAL"}) {
      items_dropped_.Add({{"reason", std::string(reason)}});
    }
    blend_frames_ = &frames_.Add({{"style", "blend"}});
    if (!options.model.name.empty()) SetModel(options.model);
    SetQueueCapacity(options.queue_capacity_items,
                     options.queue_capacity_bytes);
    if (options.device_memory)
      device_memory_->SetCallback(options.device_memory);
  }

  // --- QueueObserver ---
  void OnQueueDepth(int64_t items, int64_t bytes) override {
    queue_items_.Set(static_cast<double>(items));
    queue_bytes_.Set(static_cast<double>(bytes));
  }
  void OnBatch(int batch_size, absl::Duration compute) override {
    batch_size_.Observe(batch_size);
    inference_.Observe(absl::ToDoubleSeconds(compute));
  }
  void OnItemDone(const std::vector<float>& style_weights,
                  absl::Duration queue_wait) override {
    queue_wait_.Observe(absl::ToDoubleSeconds(queue_wait));
    StyleCounter(style_weights).Increment();
  }
  void OnItemDropped(const absl::Status& reason) override {
    items_dropped_.Add({{"reason", CodeLabel(reason.code())}}).Increment();
  }

  void SetModel(const ModelDescription& model) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (model_info_gauge_ != nullptr) model_info_.Remove(model_info_gauge_);
    model_info_gauge_ =
        &model_info_.Add({{"name", model.name},
                          {"device", model.device},
                          {"precision", model.precision},
                          {"styles", absl::StrJoin(model.style_names, ",")},
                          {"sha256", model.archive_sha256}});
    model_info_gauge_->Set(1);
    style_frames_.clear();
    for (const std::string& style : model.style_names) {
      style_frames_.push_back(&frames_.Add({{"style", style}}));
    }
  }

  void SetQueueCapacity(int64_t items, int64_t bytes) {
    queue_capacity_items_.Set(static_cast<double>(items));
    queue_capacity_bytes_.Set(static_cast<double>(bytes));
  }

  // For StylizeVideo, counted as a job, but a job duration only if
  // `job_started` (the call got a job id: it was not refused at the door,
  // for a missing token, a model still loading, a drain) and it was not
  // `busy_refusal` (refused with a retry hint). Refusals take microseconds,
  // and any caller could drag the quantiles to 0 with them.
  void RecordRequest(absl::string_view method, absl::StatusCode code,
                     absl::Duration duration, bool job_started = true,
                     bool busy_refusal = false) {
    const std::string m(MethodLabel(method));
    const std::string code_label = CodeLabel(code);
    requests_.Add({{"method", m}, {"code", code_label}}).Increment();
    request_duration_.Add({{"method", m}}, RequestBuckets())
        .Observe(absl::ToDoubleSeconds(duration));
    // One StylizeVideo call is one video job (DESIGN: the job message comes
    // first, exactly once).
    if (m == "StylizeVideo") {
      video_jobs_.Add({{"outcome", code_label}}).Increment();
      if (job_started && !busy_refusal) {
        video_job_duration_.Observe(absl::ToDoubleSeconds(duration));
      }
    }
  }

  void AddStreams(absl::string_view method, double delta) {
    active_streams_.Add({{"method", std::string(MethodLabel(method))}})
        .Increment(delta);
  }

  void AddBytes(Family<Counter>& family, absl::string_view method,
                int64_t bytes) {
    if (bytes <= 0) return;
    family.Add({{"method", std::string(MethodLabel(method))}})
        .Increment(static_cast<double>(bytes));
  }

  std::string Scrape() const {
    std::vector<prometheus::MetricFamily> families = registry_->Collect();
    for (auto& family : device_memory_->Collect()) {
      families.push_back(std::move(family));
    }
    return prometheus::TextSerializer().Serialize(families);
  }

  const std::shared_ptr<prometheus::Registry> registry_;
  const std::shared_ptr<DeviceMemoryCollector> device_memory_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = -1;

  Family<Counter>& requests_;
  Family<Histogram>& request_duration_;
  Family<Counter>& busy_refusals_;
  Family<Gauge>& active_streams_;
  Family<Counter>& received_bytes_;
  Family<Counter>& sent_bytes_;
  Family<Counter>& frames_;
  Family<Counter>& items_dropped_;
  Gauge& queue_items_;
  Gauge& queue_bytes_;
  Gauge& queue_capacity_items_;
  Gauge& queue_capacity_bytes_;
  Histogram& queue_wait_;
  Histogram& batch_size_;
  Histogram& inference_;
  Family<Counter>& video_jobs_;
  Histogram& video_job_duration_;
  Histogram& decode_;
  Histogram& encode_;
  Family<Gauge>& model_info_;
  Gauge& serving_;
  Gauge& device_workers_;
  Gauge& memory_budget_;
  Gauge& memory_reserved_;

 private:
  // The single series of a family without labels.
  static Gauge& Plain(Family<Gauge>& family) { return family.Add({}); }
  static Histogram& Plain(Family<Histogram>& family,
                          const Histogram::BucketBoundaries& buckets) {
    return family.Add({}, buckets);
  }

  // frames_total{style}: the style's name for a one-hot row, else "blend".
  Counter& StyleCounter(const std::vector<float>& weights)
      ABSL_LOCKS_EXCLUDED(mu_) {
    int hot = -1;
    for (size_t i = 0; i < weights.size(); ++i) {
      if (weights[i] == 0.0f) continue;
      if (hot >= 0) return *blend_frames_;
      hot = static_cast<int>(i);
    }
    if (hot < 0) return *blend_frames_;
    {
      absl::ReaderMutexLock lock(&mu_);
      if (static_cast<size_t>(hot) < style_frames_.size()) {
        return *style_frames_[hot];
      }
    }
    // Model not described yet: label by index.
    return frames_.Add({{"style", absl::StrCat(hot)}});
  }

  Counter* blend_frames_ = nullptr;
  absl::Mutex mu_;
  Gauge* model_info_gauge_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::vector<Counter*> style_frames_ ABSL_GUARDED_BY(mu_);
};

absl::StatusOr<std::unique_ptr<Metrics>> Metrics::Create(
    const Options& options) {
  if (options.port < -1 || options.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metrics port must be in [0, 65535] (or -1 for none), got ",
        options.port));
  }
  auto impl = std::make_unique<Impl>(options);
  if (options.port >= 0) {
    const bool ipv6 = options.bind_address.find(':') != std::string::npos;
    const std::string listen = HostPort(options.bind_address, options.port);
    try {
      // One request per connection (no keep-alive): a scraper's connection
      // never holds a worker between scrapes.
      const std::pair<const char*, std::string> settings[] = {
          {"listening_ports", listen},
          {"num_threads", absl::StrCat(kExposerThreads)},
          {"request_timeout_ms", absl::StrCat(kExposerRequestTimeoutMs)},
          {"enable_keep_alive", "no"}};
      std::vector<std::string> civetweb;  // name, value, name, value, ...
      for (const auto& [name, value] : settings) {
        civetweb.push_back(name);
        civetweb.push_back(value);
      }
      impl->exposer_ =
          std::make_unique<prometheus::Exposer>(std::move(civetweb));
    } catch (const std::exception& e) {
      // Debian 12's civetweb, under prometheus-cpp, is built without IPv6:
      // every IPv6 address fails the same way a port in use does.
      return absl::UnavailableError(absl::StrCat(
          "cannot serve metrics on ", listen, ": ", e.what(),
          ipv6 ? " (the HTTP server library of this build, civetweb, may "
                 "have no IPv6 support: give --metrics_host an IPv4 address, "
                 "such as 0.0.0.0, or check that the port is free)"
               : " (port in use? pick another with --metrics_port)"));
    }
    impl->exposer_->RegisterCollectable(impl->registry_);
    impl->exposer_->RegisterCollectable(impl->device_memory_);
    const std::vector<int> ports = impl->exposer_->GetListeningPorts();
    if (ports.empty()) {
      return absl::UnavailableError(
          absl::StrCat("metrics exposer on ", listen, " bound no port"));
    }
    impl->port_ = ports.front();
  }
  return std::unique_ptr<Metrics>(new Metrics(std::move(impl)));
}

Metrics::Metrics(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Metrics::~Metrics() {
  // Stop serving before the series go away.
  impl_->exposer_.reset();
}

int Metrics::port() const { return impl_->port_; }

QueueObserver* Metrics::queue_observer() { return impl_.get(); }

void Metrics::SetModel(const ModelDescription& model) {
  impl_->SetModel(model);
}

void Metrics::SetQueueCapacity(int64_t items, int64_t bytes) {
  impl_->SetQueueCapacity(items, bytes);
}

void Metrics::SetDeviceMemoryCallback(DeviceMemoryCallback callback) {
  impl_->device_memory_->SetCallback(std::move(callback));
}

void Metrics::SetServing(bool serving) { impl_->serving_.Set(serving ? 1 : 0); }

void Metrics::SetDeviceWorkers(int workers) {
  impl_->device_workers_.Set(workers);
}

void Metrics::SetMemoryBudget(int64_t capacity_bytes) {
  impl_->memory_budget_.Set(static_cast<double>(capacity_bytes));
}

void Metrics::SetMemoryReserved(int64_t bytes) {
  impl_->memory_reserved_.Set(static_cast<double>(bytes));
}

void Metrics::RecordRequest(absl::string_view method, absl::StatusCode code,
                            absl::Duration duration) {
  impl_->RecordRequest(method, code, duration);
}

void Metrics::FinishRpc(const RpcRecord& record) {
  const absl::StatusCode code = record.status.code();
  const bool busy = code == absl::StatusCode::kResourceExhausted &&
                    record.retry_delay.has_value();
  impl_->RecordRequest(record.method, code, record.duration,
                       /*job_started=*/!record.job_id.empty(), busy);
  if (busy) {
    impl_->busy_refusals_
        .Add({{"method", std::string(MethodLabel(record.method))}})
        .Increment();
  }
  LogRpc(record);
}

void LogRpc(const RpcRecord& record) {
  const absl::StatusCode code = record.status.code();
  // Refusals of a caller's credentials: what a flood of them writes is
  // bounded (the metrics count every one).
  int64_t left_out = 0;
  if (code == absl::StatusCode::kUnauthenticated ||
      code == absl::StatusCode::kPermissionDenied) {
    static LogSampler* const sampler = new LogSampler(kRefusalLinesPerSecond);
    if (!sampler->Admit(absl::Now(), &left_out)) return;
  }
  LogEvent line(LevelFor(code), "rpc");
  line.Str("method", record.method)
      .Str("peer", record.peer)
      .Str("code", CodeLabel(code));
  if (!record.status.ok()) line.Str("message", record.status.message());
  if (!record.request_id.empty()) line.Str("request_id", record.request_id);
  if (!record.trace_id.empty()) line.Str("trace_id", record.trace_id);
  if (!record.job_id.empty()) line.Str("job_id", record.job_id);
  if (record.retry_delay.has_value()) {
    line.Int("retry_ms", absl::ToInt64Milliseconds(*record.retry_delay));
  }
  line.Int("frames", record.frames)
      .Int("bytes_in", record.bytes_in)
      .Int("bytes_out", record.bytes_out)
      .Seconds("seconds", record.duration);
  if (left_out > 0) line.Int("refusals_not_logged", left_out);
}

void Metrics::StreamStarted(absl::string_view method) {
  impl_->AddStreams(method, 1);
}

void Metrics::StreamEnded(absl::string_view method) {
  impl_->AddStreams(method, -1);
}

void Metrics::AddBytesReceived(absl::string_view method, int64_t bytes) {
  impl_->AddBytes(impl_->received_bytes_, method, bytes);
}

void Metrics::AddBytesSent(absl::string_view method, int64_t bytes) {
  impl_->AddBytes(impl_->sent_bytes_, method, bytes);
}

void Metrics::RecordDecode(absl::Duration per_frame) {
  impl_->decode_.Observe(absl::ToDoubleSeconds(per_frame));
}

void Metrics::RecordEncode(absl::Duration per_frame) {
  impl_->encode_.Observe(absl::ToDoubleSeconds(per_frame));
}

void LogVideoJob(const VideoJobRecord& record) {
  const absl::StatusCode code = record.status.code();
  LogEvent line(LevelFor(code), "job");
  line.Str("job_id", record.job_id);
  if (!record.request_id.empty()) line.Str("request_id", record.request_id);
  if (!record.trace_id.empty()) line.Str("trace_id", record.trace_id);
  line.Str("peer", record.peer)
      .Str("code", CodeLabel(code));
  if (!record.status.ok()) line.Str("message", record.status.message());
  line.Int("width", record.width).Int("height", record.height);
  if (!record.hdr_transfer.empty()) line.Str("hdr", record.hdr_transfer);
  line.Int("frames", record.frames)
      .Int("outputs", record.outputs)
      .Int("bytes_in", record.bytes_in)
      .Int("bytes_out", record.bytes_out)
      .Seconds("seconds", record.duration);
}

std::string Metrics::Scrape() const { return impl_->Scrape(); }

}  // namespace stylizer
