// Starting and querying a real Prometheus server; see prometheus_server.h.
#include "tests/metrics/prometheus_server.h"

#include <cstdlib>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "server/metrics/testing/http_get.h"

namespace stylizer::testing {
namespace {

absl::StatusOr<double> ParseSampleValue(const google::protobuf::Value& value) {
  // A sample is [timestamp, "value"].
  if (!value.has_list_value() || value.list_value().values_size() != 2 ||
      !value.list_value().values(1).has_string_value()) {
    return absl::InternalError("unexpected sample shape");
  }
  const std::string& text = value.list_value().values(1).string_value();
  double parsed = 0;
  if (!absl::SimpleAtod(text, &parsed)) {
    return absl::InternalError(absl::StrCat("bad sample value '", text, "'"));
  }
  return parsed;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PrometheusServer>> PrometheusServer::Start(
    const Options& options) {
  std::string binary = options.binary;
  if (const char* env = std::getenv("STYLIZER_PROMETHEUS"); env && *env) {
    binary = env;
  }
  const std::string config_path = options.dir + "/prometheus.yml";
  {
    std::ofstream config(config_path);
    const std::string interval =
        absl::StrCat(absl::ToInt64Milliseconds(options.scrape_interval), "ms");
    config << "global:\n"
           << "  scrape_interval: " << interval << "\n"
           << "  scrape_timeout: " << interval << "\n"
           << "  evaluation_interval: " << interval << "\n"
           << "scrape_configs:\n"
           << "  - job_name: stylizer\n"
           << "    static_configs:\n"
           << "      - targets: [";
    for (size_t i = 0; i < options.targets.size(); ++i) {
      config << (i ? ", " : "") << "'" << options.targets[i] << "'";
    }
    config << "]\n";
    if (!config) return absl::InternalError("cannot write " + config_path);
  }
  // The port is picked before Prometheus binds it, so another process may
  // take it in between: retry with a fresh port when Prometheus exits early.
  absl::Status last_error;
  for (int attempt = 0; attempt < 3; ++attempt) {
    absl::StatusOr<int> port = PickFreePort();
    if (!port.ok()) return port.status();
    const std::string tsdb = absl::StrCat(options.dir, "/tsdb", attempt);
    auto process = Subprocess::Start(
        {binary, "--config.file=" + config_path, "--storage.tsdb.path=" + tsdb,
         absl::StrCat("--web.listen-address=127.0.0.1:", *port),
         "--log.level=warn"},
        options.dir + "/prometheus.log");
    if (!process.ok()) return process.status();
    std::unique_ptr<PrometheusServer> server(
        new PrometheusServer(std::move(*process), *port));
    const absl::Time give_up = absl::Now() + options.start_timeout;
    for (;;) {
      // Ready, and it is ours (not another test's Prometheus on that port).
      auto ready = HttpGet(*port, "/-/ready");
      if (ready.ok() && ready->status == 200) {
        auto flags = HttpGet(*port, "/api/v1/status/flags");
        if (flags.ok() && absl::StrContains(flags->body, tsdb)) return server;
      }
      if (!server->process_->Running()) {
        last_error = absl::InternalError("prometheus exited during startup:\n" +
                                         server->Log());
        break;
      }
      if (absl::Now() > give_up) {
        return absl::DeadlineExceededError("prometheus not ready in time:\n" +
                                           server->Log());
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
  }
  return last_error;
}

absl::StatusOr<google::protobuf::Struct> PrometheusServer::Fetch(
    absl::string_view expr) const {
  auto response =
      HttpGet(port_, absl::StrCat("/api/v1/query?query=", UrlEncode(expr)));
  if (!response.ok()) return response.status();
  google::protobuf::Struct body;
  if (!google::protobuf::util::JsonStringToMessage(response->body, &body)
           .ok()) {
    return absl::InternalError("not JSON: " + response->body);
  }
  const auto& fields = body.fields();
  if (response->status == 400 || response->status == 422) {
    return absl::InvalidArgumentError(
        absl::StrFormat("query '%s' rejected: %s", expr, response->body));
  }
  if (response->status != 200 || !fields.count("status") ||
      fields.at("status").string_value() != "success" ||
      !fields.count("data")) {
    return absl::UnavailableError(
        absl::StrFormat("query '%s' failed (HTTP %d): %s", expr,
                        response->status, response->body));
  }
  return fields.at("data").struct_value();
}

absl::Status PrometheusServer::Evaluate(absl::string_view expr) const {
  return Fetch(expr).status();
}

absl::StatusOr<double> PrometheusServer::Query(absl::string_view expr) const {
  absl::StatusOr<google::protobuf::Struct> fetched = Fetch(expr);
  if (!fetched.ok()) return fetched.status();
  const auto& data = fetched->fields();
  const std::string type = data.at("resultType").string_value();
  const google::protobuf::Value& result = data.at("result");
  if (type == "scalar") return ParseSampleValue(result);
  if (type != "vector") {
    return absl::InternalError("unexpected result type " + type);
  }
  const auto& series = result.list_value().values();
  if (series.empty()) {
    return absl::NotFoundError(absl::StrCat("no series for '", expr, "'"));
  }
  if (series.size() > 1) {
    return absl::FailedPreconditionError(
        absl::StrCat(series.size(), " series for '", expr, "'"));
  }
  return ParseSampleValue(series[0].struct_value().fields().at("value"));
}

absl::StatusOr<double> PrometheusServer::WaitForValue(
    absl::string_view expr, double want, absl::Duration timeout) const {
  const absl::Time give_up = absl::Now() + timeout;
  for (;;) {
    absl::StatusOr<double> value = Query(expr);
    if ((value.ok() && *value == want) || absl::Now() > give_up) return value;
    absl::SleepFor(absl::Milliseconds(250));
  }
}

}  // namespace stylizer::testing
