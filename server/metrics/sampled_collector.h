// A prometheus Collectable whose series are sampled at scrape time by a
// function (numbers that change without any call: device memory, the spool
// disk's free room), and the functions that turn the samples the server's
// parts report into series, so that this component needs neither LibTorch
// nor the media code. Internal to the metrics component.
#ifndef STYLIZER_SERVER_METRICS_SAMPLED_COLLECTOR_H_
#define STYLIZER_SERVER_METRICS_SAMPLED_COLLECTOR_H_

#include <functional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"
#include "server/metrics/metrics.h"

namespace stylizer {

class SampledCollector : public prometheus::Collectable {
 public:
  using Sampler = std::function<std::vector<prometheus::MetricFamily>()>;

  // Replaces the sampler; an empty one emits nothing.
  void Set(Sampler sampler) ABSL_LOCKS_EXCLUDED(mu_);

  // The sampler's families, called outside the lock (it may take a while:
  // a busy device).
  std::vector<prometheus::MetricFamily> Collect() const override
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  Sampler sampler_ ABSL_GUARDED_BY(mu_);
};

// stylizer_device_memory_bytes{device,kind} with kind allocated, reserved or
// total, and stylizer_device_oom_retries_total{device}; none for no devices.
std::vector<prometheus::MetricFamily> DeviceMemoryFamilies(
    const std::vector<DeviceMemoryStats>& devices);

// stylizer_spool_disk_bytes{kind} with kind uploads, free and size (when the
// disk could be read) and limit (when set).
std::vector<prometheus::MetricFamily> SpoolDiskFamilies(
    const SpoolDiskStats& disk);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_METRICS_SAMPLED_COLLECTOR_H_
