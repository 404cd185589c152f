// The series of the metrics registry, behind Metrics (metrics.h): shared by
// metrics.cc (the public calls and the /metrics exposer), metrics_series.cc
// (the series' definitions and buckets) and metrics_log.cc (the rpc and job
// log lines). Not for other users: it brings prometheus-cpp's headers.
#ifndef STYLIZER_SERVER_METRICS_METRICS_IMPL_H_
#define STYLIZER_SERVER_METRICS_METRICS_IMPL_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/exposer.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"
#include "server/metrics/metrics.h"
#include "server/metrics/sampled_collector.h"

namespace stylizer {
namespace metrics_internal {

// The methods with series of their own, and those that carry payloads.
inline constexpr absl::string_view kMethods[] = {
    "GetModelInfo", "StylizeImage", "StylizeFrames", "StylizeVideo"};
inline constexpr absl::string_view kPayloadMethods[] = {
    "StylizeImage", "StylizeFrames", "StylizeVideo"};

// The `code` label of a status code ("UNKNOWN" for one absl cannot name).
std::string CodeLabel(absl::StatusCode code);

// Bucket boundaries, chosen for what each histogram measures (the reasoning
// is in docs/operations.md); defined in metrics_series.cc.
const prometheus::Histogram::BucketBoundaries& RequestBuckets();
const prometheus::Histogram::BucketBoundaries& QueueWaitBuckets();
const prometheus::Histogram::BucketBoundaries& BatchSizeBuckets();
const prometheus::Histogram::BucketBoundaries& InferenceBuckets();
const prometheus::Histogram::BucketBoundaries& CodecBuckets();
const prometheus::Histogram::BucketBoundaries& VideoJobBuckets();

}  // namespace metrics_internal

// Holds every series; is also the queue observer.
class Metrics::Impl : public QueueObserver {
 public:
  using Counter = prometheus::Counter;
  using Gauge = prometheus::Gauge;
  using Histogram = prometheus::Histogram;
  template <typename T>
  using Family = prometheus::Family<T>;

  // Registers every series (metrics_series.cc).
  explicit Impl(const Options& options);

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
    items_dropped_.Add({{"reason", metrics_internal::CodeLabel(reason.code())}})
        .Increment();
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
    const std::string code_label = metrics_internal::CodeLabel(code);
    requests_.Add({{"method", m}, {"code", code_label}}).Increment();
    request_duration_.Add({{"method", m}}, metrics_internal::RequestBuckets())
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

  // Sample at scrape time through `callback` (none: nothing).
  void SetDeviceMemory(DeviceMemoryCallback callback) {
    device_memory_->Set(
        callback ? SampledCollector::Sampler([callback = std::move(callback)] {
          return DeviceMemoryFamilies(callback());
        })
                 : nullptr);
  }
  void SetSpoolDisk(SpoolDiskCallback callback) {
    spool_disk_->Set(
        callback ? SampledCollector::Sampler([callback = std::move(callback)] {
          return SpoolDiskFamilies(callback());
        })
                 : nullptr);
  }

  std::string Scrape() const {
    std::vector<prometheus::MetricFamily> families = registry_->Collect();
    for (auto& family : device_memory_->Collect()) {
      families.push_back(std::move(family));
    }
    for (auto& family : spool_disk_->Collect()) {
      families.push_back(std::move(family));
    }
    return prometheus::TextSerializer().Serialize(families);
  }

  const std::shared_ptr<prometheus::Registry> registry_;
  const std::shared_ptr<SampledCollector> device_memory_;
  const std::shared_ptr<SampledCollector> spool_disk_;
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

}  // namespace stylizer

#endif  // STYLIZER_SERVER_METRICS_METRICS_IMPL_H_
