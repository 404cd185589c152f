// Scrape-time sampling; see sampled_collector.h.
#include "server/metrics/sampled_collector.h"

#include <utility>

namespace stylizer {
namespace {

prometheus::MetricFamily GaugeFamily(const char* name, const char* help) {
  prometheus::MetricFamily family;
  family.name = name;
  family.help = help;
  family.type = prometheus::MetricType::Gauge;
  return family;
}

void AddGauge(prometheus::MetricFamily& family,
              std::vector<prometheus::ClientMetric::Label> labels,
              int64_t value) {
  prometheus::ClientMetric metric;
  metric.label = std::move(labels);
  metric.gauge.value = static_cast<double>(value);
  family.metric.push_back(std::move(metric));
}

}  // namespace

void SampledCollector::Set(Sampler sampler) {
  absl::MutexLock lock(&mu_);
  sampler_ = std::move(sampler);
}

std::vector<prometheus::MetricFamily> SampledCollector::Collect() const {
  Sampler sampler;
  {
    absl::MutexLock lock(&mu_);
    sampler = sampler_;
  }
  if (!sampler) return {};
  return sampler();
}

std::vector<prometheus::MetricFamily> DeviceMemoryFamilies(
    const std::vector<DeviceMemoryStats>& devices) {
  if (devices.empty()) return {};
  prometheus::MetricFamily memory = GaugeFamily(
      "stylizer_device_memory_bytes",
      "Device memory by kind: allocated (live tensors), reserved (caching "
      "allocator), total (physical)");
  prometheus::MetricFamily ooms;
  ooms.name = "stylizer_device_oom_retries_total";
  ooms.help =
      "Batches that ran out of device memory and were run again in halves";
  ooms.type = prometheus::MetricType::Counter;
  for (const DeviceMemoryStats& device : devices) {
    AddGauge(memory, {{"device", device.device}, {"kind", "allocated"}},
             device.allocated_bytes);
    AddGauge(memory, {{"device", device.device}, {"kind", "reserved"}},
             device.reserved_bytes);
    AddGauge(memory, {{"device", device.device}, {"kind", "total"}},
             device.total_bytes);
    prometheus::ClientMetric metric;
    metric.label = {{"device", device.device}};
    metric.counter.value = static_cast<double>(device.oom_retries);
    ooms.metric.push_back(std::move(metric));
  }
  return {std::move(memory), std::move(ooms)};
}

std::vector<prometheus::MetricFamily> SpoolDiskFamilies(
    const SpoolDiskStats& disk) {
  prometheus::MetricFamily family = GaugeFamily(
      "stylizer_spool_disk_bytes",
      "The disk of the video uploads' spill files: uploads (held by the "
      "uploads in progress, written or claimed), free, size, limit "
      "(--spool_disk_bytes, when set)");
  AddGauge(family, {{"kind", "uploads"}}, disk.uploads_bytes);
  // A disk that cannot be read (removed after start) has no free or size.
  if (disk.size_bytes > 0) {
    AddGauge(family, {{"kind", "free"}}, disk.free_bytes);
    AddGauge(family, {{"kind", "size"}}, disk.size_bytes);
  }
  if (disk.limit_bytes > 0) {
    AddGauge(family, {{"kind", "limit"}}, disk.limit_bytes);
  }
  return {std::move(family)};
}

}  // namespace stylizer
