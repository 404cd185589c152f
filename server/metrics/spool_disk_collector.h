// A prometheus Collectable that samples the upload spools' disk at scrape
// time through a callback (the disk budget's numbers and the disk's free room
// by statvfs, which change without any call). Emits
// stylizer_spool_disk_bytes{kind} with kind uploads (what the video jobs'
// uploads hold: written or claimed), free, size, and limit (with
// --spool_disk_bytes). Internal to the metrics component.
#ifndef STYLIZER_SERVER_METRICS_SPOOL_DISK_COLLECTOR_H_
#define STYLIZER_SERVER_METRICS_SPOOL_DISK_COLLECTOR_H_

#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"
#include "server/metrics/metrics.h"

namespace stylizer {

class SpoolDiskCollector : public prometheus::Collectable {
 public:
  // Replaces the sampler; an empty one emits nothing.
  void SetCallback(SpoolDiskCallback callback) ABSL_LOCKS_EXCLUDED(mu_);

  // One gauge family (empty when no callback is set).
  std::vector<prometheus::MetricFamily> Collect() const override
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  SpoolDiskCallback callback_ ABSL_GUARDED_BY(mu_);
};

}  // namespace stylizer

#endif  // STYLIZER_SERVER_METRICS_SPOOL_DISK_COLLECTOR_H_
