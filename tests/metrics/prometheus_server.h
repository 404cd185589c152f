// A real Prometheus server (the Debian `prometheus` binary) for integration
// tests: started on loopback with a generated config that scrapes the given
// targets every second, queried through its HTTP API, killed on destruction.
#ifndef STYLIZER_TESTS_METRICS_PROMETHEUS_SERVER_H_
#define STYLIZER_TESTS_METRICS_PROMETHEUS_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/struct.pb.h"
#include "tests/metrics/subprocess.h"

namespace stylizer::testing {

class PrometheusServer {
 public:
  struct Options {
    // The server binary; the environment variable STYLIZER_PROMETHEUS
    // overrides the default.
    std::string binary = "/usr/bin/prometheus";
    // Existing directory for the config, the TSDB and the log.
    std::string dir;
    // host:port targets scraped as job "stylizer" (path /metrics).
    std::vector<std::string> targets;
    // Scrape interval (also the scrape timeout).
    absl::Duration scrape_interval = absl::Seconds(1);
    // How long Start() waits for /-/ready.
    absl::Duration start_timeout = absl::Seconds(60);
  };

  // Writes the config, starts Prometheus on a free loopback port and waits
  // until it is ready. NotFound when the binary is missing.
  static absl::StatusOr<std::unique_ptr<PrometheusServer>> Start(
      const Options& options);

  // Kills the server.
  ~PrometheusServer() = default;

  // Loopback port of the HTTP API.
  int port() const { return port_; }

  // Evaluates an instant query (GET /api/v1/query) that must yield one
  // sample or a scalar; returns its value. NotFound for an empty result,
  // FailedPrecondition for several series, Unavailable/Internal on API errors.
  absl::StatusOr<double> Query(absl::string_view expr) const;

  // OK when Prometheus accepts and evaluates `expr` (any result, even
  // empty); InvalidArgument with Prometheus's message when it does not.
  absl::Status Evaluate(absl::string_view expr) const;

  // Polls Query(expr) every 250 ms until it returns `want` or `timeout`
  // passes; returns the last result (value or error).
  absl::StatusOr<double> WaitForValue(absl::string_view expr, double want,
                                      absl::Duration timeout) const;

  // Prometheus's own output, for failure messages.
  std::string Log() const { return process_->Log(); }

 private:
  // GET /api/v1/query; the response's "data" object on success.
  absl::StatusOr<google::protobuf::Struct> Fetch(absl::string_view expr) const;

  PrometheusServer(std::unique_ptr<Subprocess> process, int port)
      : process_(std::move(process)), port_(port) {}
  std::unique_ptr<Subprocess> process_;
  int port_;
};

}  // namespace stylizer::testing

#endif  // STYLIZER_TESTS_METRICS_PROMETHEUS_SERVER_H_
