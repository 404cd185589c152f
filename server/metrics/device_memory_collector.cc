// Scrape-time sampling of device memory; see device_memory_collector.h.
#include "server/metrics/device_memory_collector.h"

#include <utility>

namespace stylizer {

void DeviceMemoryCollector::SetCallback(DeviceMemoryCallback callback) {
  absl::MutexLock lock(&mu_);
  callback_ = std::move(callback);
}

std::vector<prometheus::MetricFamily> DeviceMemoryCollector::Collect() const {
  DeviceMemoryCallback callback;
  {
    absl::MutexLock lock(&mu_);
    callback = callback_;
  }
  if (!callback) return {};
  // The sampler runs outside the lock: it may take a while on a busy device.
  const std::vector<DeviceMemoryStats> stats = callback();
  if (stats.empty()) return {};

  prometheus::MetricFamily family;
  family.name = "stylizer_device_memory_bytes";
  family.help =
      "Device memory by kind: allocated (live tensors), reserved (caching "
      "allocator), total (physical)";
  family.type = prometheus::MetricType::Gauge;
  for (const DeviceMemoryStats& device : stats) {
    const std::pair<const char*, int64_t> kinds[] = {
        {"allocated", device.allocated_bytes},
        {"reserved", device.reserved_bytes},
        {"total", device.total_bytes}};
    for (const auto& [kind, bytes] : kinds) {
      prometheus::ClientMetric metric;
      metric.label = {{"device", device.device}, {"kind", kind}};
      metric.gauge.value = static_cast<double>(bytes);
      family.metric.push_back(std::move(metric));
    }
  }
  prometheus::MetricFamily ooms;
  ooms.name = "stylizer_device_oom_retries_total";
  ooms.help =
      "Batches that ran out of device memory and were run again in halves";
  ooms.type = prometheus::MetricType::Counter;
  for (const DeviceMemoryStats& device : stats) {
    prometheus::ClientMetric metric;
    metric.label = {{"device", device.device}};
    metric.counter.value = static_cast<double>(device.oom_retries);
    ooms.metric.push_back(std::move(metric));
  }
  return {std::move(family), std::move(ooms)};
}

}  // namespace stylizer
