// Scrape-time sampling of the spools' disk; see spool_disk_collector.h.
#include "server/metrics/spool_disk_collector.h"

#include <utility>

namespace stylizer {

void SpoolDiskCollector::SetCallback(SpoolDiskCallback callback) {
  absl::MutexLock lock(&mu_);
  callback_ = std::move(callback);
}

std::vector<prometheus::MetricFamily> SpoolDiskCollector::Collect() const {
  SpoolDiskCallback callback;
  {
    absl::MutexLock lock(&mu_);
    callback = callback_;
  }
  if (!callback) return {};
  const SpoolDiskStats stats = callback();
  prometheus::MetricFamily family;
  family.name = "stylizer_spool_disk_bytes";
  family.help =
      "The disk of the video uploads' spill files: uploads (held by the "
      "uploads in progress, written or claimed), free, size, limit "
      "(--spool_disk_bytes, when set)";
  family.type = prometheus::MetricType::Gauge;
  auto add = [&family](const char* kind, int64_t bytes) {
    prometheus::ClientMetric metric;
    metric.label = {{"kind", kind}};
    metric.gauge.value = static_cast<double>(bytes);
    family.metric.push_back(std::move(metric));
  };
  add("uploads", stats.uploads_bytes);
  // A disk that cannot be read (removed after start) has no free or size.
  if (stats.size_bytes > 0) {
    add("free", stats.free_bytes);
    add("size", stats.size_bytes);
  }
  if (stats.limit_bytes > 0) add("limit", stats.limit_bytes);
  return {std::move(family)};
}

}  // namespace stylizer
