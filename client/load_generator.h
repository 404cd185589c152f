// The load generator behind `stylizer bench`: N workers issue requests for a
// duration or a count, each request's latency is recorded, and the report
// gives throughput and latency percentiles (text or JSON).
#ifndef STYLIZER_CLIENT_LOAD_GENERATOR_H_
#define STYLIZER_CLIENT_LOAD_GENERATOR_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace stylizer::client {

struct LoadOptions {
  // Workers issuing requests at the same time. Default 1.
  int concurrency = 1;
  // Run time when count is 0. Default 10 s.
  absl::Duration duration = absl::Seconds(10);
  // Total requests to issue; 0 = run for `duration`. Default 0.
  int64_t count = 0;
  // Optional. Once it reads true (Ctrl-C), no request starts, and a request
  // that ends after it is not counted (it was cut short): the report covers
  // the run so far.
  const std::atomic<bool>* stop_early = nullptr;
};

struct LoadReport {
  // Successful requests.
  int64_t requests = 0;
  // Failed requests.
  int64_t errors = 0;
  // Stylized frames (frames x styles) returned by the successful requests.
  int64_t frames = 0;
  // Whether stop_early ended the run.
  bool stopped_early = false;
  // Wall time from the first request to the last answer.
  double elapsed_seconds = 0;
  double requests_per_second = 0;
  double frames_per_second = 0;
  // Latency of successful requests in milliseconds.
  double latency_mean_ms = 0;
  double latency_p50_ms = 0;
  double latency_p90_ms = 0;
  double latency_p99_ms = 0;
  double latency_max_ms = 0;
  // Failed requests by status code name.
  std::map<std::string, int64_t> errors_by_code;
  // The first failure's message ("" if none).
  std::string first_error;
};

// One request made by worker `worker` (0-based); returns the number of
// stylized frames it produced.
using LoadRequest = std::function<absl::StatusOr<int64_t>(int worker)>;

// Runs the load. A failure that more requests cannot fix (UNAVAILABLE,
// UNAUTHENTICATED, INVALID_ARGUMENT, ...) stops every worker; overload
// answers (RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED) are counted and the run goes
// on; after a busy refusal the worker waits the server's retry hint (at most
// kMaxServerRetryDelay, never past the run's end) before its next request.
LoadReport RunLoad(const LoadOptions& options, const LoadRequest& request);

// The p-th percentile (0 <= p <= 100) of `values` by linear interpolation
// between closest ranks; 0 for an empty list. Sorts `values`.
double Percentile(std::vector<double>* values, double p);

// Fills the derived fields (rates, percentiles) from raw latencies.
void Summarize(std::vector<double> latencies_ms, LoadReport* report);

// The report as a human-readable block, preceded by `title`.
std::string ReportText(const LoadReport& report, const std::string& title);

// The report as one JSON object; `context` adds string fields (mode, size,
// ...), `numbers` integer ones (concurrency).
std::string ReportJson(const LoadReport& report,
                       const std::map<std::string, std::string>& context,
                       const std::map<std::string, int64_t>& numbers = {});

}  // namespace stylizer::client

#endif  // STYLIZER_CLIENT_LOAD_GENERATOR_H_
