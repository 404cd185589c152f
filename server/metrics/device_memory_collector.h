// A prometheus Collectable that samples device memory at scrape time through
// a callback the model runtime provides (CUDA builds), so that this component
// needs no LibTorch. Emits stylizer_device_memory_bytes{device,kind} with kind
// allocated, reserved or total, and stylizer_device_oom_retries_total{device}.
// Internal to the metrics component.
#ifndef STYLIZER_SERVER_METRICS_DEVICE_MEMORY_COLLECTOR_H_
#define STYLIZER_SERVER_METRICS_DEVICE_MEMORY_COLLECTOR_H_

#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"
#include "server/metrics/metrics.h"

namespace stylizer {

class DeviceMemoryCollector : public prometheus::Collectable {
 public:
  // Replaces the sampler; an empty one emits nothing.
  void SetCallback(DeviceMemoryCallback callback) ABSL_LOCKS_EXCLUDED(mu_);

  // One gauge family (empty when no callback is set or it reports nothing).
  std::vector<prometheus::MetricFamily> Collect() const override
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  DeviceMemoryCallback callback_ ABSL_GUARDED_BY(mu_);
};

}  // namespace stylizer

#endif  // STYLIZER_SERVER_METRICS_DEVICE_MEMORY_COLLECTOR_H_
