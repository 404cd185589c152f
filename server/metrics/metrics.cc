// The metrics facade: its /metrics exposer and the calls that feed the
// series (metrics_impl.h); see metrics.h for the series and
// docs/operations.md for their meaning.
#include "server/metrics/metrics.h"

#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/common/host_port.h"
#include "server/metrics/metrics_impl.h"

namespace stylizer {
namespace {

// The /metrics HTTP server (CivetWeb) serves each connection on one of its
// worker threads, from the first byte of the request to the response. A
// client that connects and then sends nothing (or half a request) holds its
// worker until the request timeout, so the timeout is short and the workers
// several: it takes more than kExposerThreads such clients at once to delay
// a scrape at all, and each connection then costs it at most
// kExposerRequestTimeoutMs (CivetWeb's default is 30 s, three times
// Prometheus' default scrape timeout). A scraper sends its whole request at
// once, so 2 s is ample. Clients that reconnect at once hold workers all the
// time (64 of them timed every scrape out): only a private interface
// protects the endpoint (docs/operations.md).
constexpr int kExposerThreads = 8;
constexpr int kExposerRequestTimeoutMs = 2000;

}  // namespace

absl::string_view MethodLabel(absl::string_view method) {
  // Accept full gRPC paths ("/stylizer.v1.Stylizer/StylizeImage") too.
  const size_t slash = method.rfind('/');
  if (slash != absl::string_view::npos) method.remove_prefix(slash + 1);
  for (absl::string_view known : metrics_internal::kMethods) {
    if (method == known) return known;
  }
  return "other";
}

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
    impl->exposer_->RegisterCollectable(impl->spool_disk_);
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
  impl_->SetDeviceMemory(std::move(callback));
}

void Metrics::SetSpoolDiskCallback(SpoolDiskCallback callback) {
  impl_->SetSpoolDisk(std::move(callback));
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

std::string Metrics::Scrape() const { return impl_->Scrape(); }

}  // namespace stylizer