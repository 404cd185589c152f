// A real Prometheus server scrapes a Metrics exposer driven directly (no
// stylizer server): every series parses, and the values Prometheus stores are
// exactly what was recorded.
#include <cstdlib>
#include <fstream>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "server/metrics/metrics.h"
#include "tests/metrics/prometheus_server.h"
#include "tests/metrics/status_matchers.h"
#include "tests/metrics/subprocess.h"

namespace stylizer {
namespace {

using ::stylizer::testing::IsOkAndHolds;
using ::stylizer::testing::PrometheusServer;
using ::stylizer::testing::TempDir;
using ::testing::ElementsAre;

// Generous: the machine may be busy with other tests.
constexpr absl::Duration kWait = absl::Seconds(60);

std::string ReadSourceFile(const std::string& relative) {
  const char* root = std::getenv("STYLIZER_SOURCE_DIR");
  std::ifstream in(std::string(root != nullptr ? root : ".") + "/" + relative);
  EXPECT_TRUE(in.good()) << "cannot read " << relative;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Every PromQL expression of the Grafana dashboard, with Grafana's variables
// replaced by what Prometheus accepts.
std::vector<std::string> DashboardExpressions() {
  google::protobuf::Struct dashboard;
  const std::string json = ReadSourceFile("docs/grafana-dashboard.json");
  EXPECT_TRUE(
      google::protobuf::util::JsonStringToMessage(json, &dashboard).ok());
  std::vector<std::string> exprs;
  for (const auto& panel :
       dashboard.fields().at("panels").list_value().values()) {
    const auto& fields = panel.struct_value().fields();
    if (!fields.count("targets")) continue;
    for (const auto& target : fields.at("targets").list_value().values()) {
      std::string expr =
          target.struct_value().fields().at("expr").string_value();
      expr = std::regex_replace(expr, std::regex("\\$__rate_interval"), "1m");
      expr = std::regex_replace(expr, std::regex("\\$instance"), ".*");
      exprs.push_back(expr);
    }
  }
  return exprs;
}

// Every series name the exposition declares (with _bucket, _sum, _count for
// histograms).
std::set<std::string> ExportedNames(const std::string& exposition) {
  std::set<std::string> names;
  std::istringstream lines(exposition);
  std::string line;
  const std::regex type_line("# TYPE (\\w+) (\\w+)");
  std::smatch match;
  while (std::getline(lines, line)) {
    if (!std::regex_match(line, match, type_line)) continue;
    names.insert(match[1]);
    if (match[2] == "histogram") {
      for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        names.insert(match[1].str() + suffix);
      }
    }
  }
  return names;
}

// The stylizer_ series names mentioned in `text`.
std::set<std::string> MentionedNames(const std::string& text) {
  std::set<std::string> names;
  const std::regex name("stylizer_[a-z_]*[a-z]");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), name);
       it != std::sregex_iterator(); ++it) {
    names.insert(it->str());
  }
  return names;
}

TEST(MetricsDocsTest, DashboardAlertsAndDocsNameOnlyExportedSeries) {
  Metrics::Options options;
  options.port = -1;
  options.model.name = "seed";
  options.model.style_names = {"klimt"};
  options.device_memory = [] {
    return std::vector<DeviceMemoryStats>{DeviceMemoryStats{"cuda:0", 1, 2, 3}};
  };
  options.spool_disk = [] { return SpoolDiskStats{1, 2, 3, 4}; };
  auto metrics = Metrics::Create(options);
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  // Series that appear only once something happens.
  (*metrics)->queue_observer()->OnItemDropped(absl::CancelledError("gone"));
  RpcRecord busy;
  busy.method = "StylizeImage";
  busy.status = absl::ResourceExhaustedError("busy");
  busy.retry_delay = absl::Seconds(1);
  (*metrics)->FinishRpc(busy);
  const std::set<std::string> exported = ExportedNames((*metrics)->Scrape());
  ASSERT_GT(exported.size(), 20u);
  for (const char* doc : {"docs/grafana-dashboard.json",
                          "docs/prometheus-alerts.yml", "docs/operations.md"}) {
    const std::set<std::string> mentioned = MentionedNames(ReadSourceFile(doc));
    EXPECT_FALSE(mentioned.empty()) << doc;
    for (const std::string& name : mentioned) {
      EXPECT_TRUE(exported.count(name))
          << doc << " names " << name << ", which the server does not export";
    }
  }
}

// The dashboard's server error ratio counted busy refusals and draining
// (RESOURCE_EXHAUSTED, UNAVAILABLE) as server errors; the alert on that
// ratio and docs/operations.md count server faults only. Every status-code
// filter of the dashboard and the alerts is the same one.
TEST(PrometheusScrapeTest, DashboardAndAlertsCountTheSameServerErrors) {
  const std::regex filter("code=~\\\\?\"([^\"\\\\]*)");
  std::set<std::string> filters;
  for (const char* doc :
       {"docs/grafana-dashboard.json", "docs/prometheus-alerts.yml"}) {
    const std::string text = ReadSourceFile(doc);
    int found = 0;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), filter);
         it != std::sregex_iterator(); ++it, ++found) {
      filters.insert((*it)[1]);
    }
    EXPECT_GT(found, 0) << doc;
  }
  EXPECT_THAT(filters, ElementsAre("INTERNAL|UNKNOWN|DATA_LOSS"));
}

TEST(PrometheusScrapeTest, PrometheusStoresWhatMetricsRecorded) {
  auto dir = TempDir::Create();
  ASSERT_TRUE(dir.ok()) << dir.status();

  Metrics::Options options;
  options.bind_address = "127.0.0.1";
  options.port = 0;
  options.model.name = "seed";
  options.model.style_names = {"klimt", "monet", "hokusai"};
  options.model.device = "cpu";
  options.model.precision = "fp32";
  options.queue_capacity_items = 512;
  auto metrics = Metrics::Create(options);
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  (*metrics)->SetDeviceMemoryCallback([] {
    DeviceMemoryStats stats;
    stats.device = "cuda:0";
    stats.allocated_bytes = 1 << 20;
    stats.total_bytes = 1 << 30;
    return std::vector<DeviceMemoryStats>{stats};
  });

  PrometheusServer::Options prometheus_options;
  prometheus_options.dir = (*dir)->path();
  prometheus_options.targets = {absl::StrCat("127.0.0.1:", (*metrics)->port())};
  auto prometheus = PrometheusServer::Start(prometheus_options);
  ASSERT_TRUE(prometheus.ok()) << prometheus.status();
  const PrometheusServer& p = **prometheus;

  // The exposer is up and its text parses (a bad line fails the whole scrape).
  ASSERT_THAT(p.WaitForValue("up{job=\"stylizer\"}", 1, kWait),
              IsOkAndHolds(1.0))
      << p.Log();
  EXPECT_THAT(
      p.WaitForValue("stylizer_frames_total{style=\"klimt\"}", 0, kWait),
      IsOkAndHolds(0.0));

  // What a job queue and the service would report.
  QueueObserver* observer = (*metrics)->queue_observer();
  for (int i = 0; i < 7; ++i) {
    observer->OnItemDone({0, 0, 1}, absl::Milliseconds(3));
  }
  for (int i = 0; i < 3; ++i) {
    observer->OnItemDone({1, 1, 0}, absl::Milliseconds(3));
  }
  observer->OnBatch(4, absl::Milliseconds(30));
  observer->OnBatch(4, absl::Milliseconds(30));
  observer->OnBatch(2, absl::Milliseconds(20));
  (*metrics)->RecordRequest("StylizeImage", absl::StatusCode::kInvalidArgument,
                            absl::Milliseconds(2));
  (*metrics)->RecordRequest("StylizeVideo", absl::StatusCode::kOk,
                            absl::Seconds(3));

  // Wait for a scrape that includes everything (the last thing recorded).
  ASSERT_THAT(p.WaitForValue("stylizer_requests_total{method=\"StylizeVideo\","
                             "code=\"OK\"}",
                             1, kWait),
              IsOkAndHolds(1.0));
  EXPECT_THAT(p.Query("sum(stylizer_frames_total)"), IsOkAndHolds(10.0));
  EXPECT_THAT(p.Query("stylizer_frames_total{style=\"hokusai\"}"),
              IsOkAndHolds(7.0));
  EXPECT_THAT(p.Query("stylizer_frames_total{style=\"blend\"}"),
              IsOkAndHolds(3.0));
  EXPECT_THAT(p.Query("stylizer_batch_size_count"), IsOkAndHolds(3.0));
  EXPECT_THAT(p.Query("stylizer_batch_size_sum"), IsOkAndHolds(10.0));
  EXPECT_THAT(p.Query("stylizer_batch_size_bucket{le=\"2\"}"),
              IsOkAndHolds(1.0));
  EXPECT_THAT(p.Query("stylizer_batch_size_bucket{le=\"4\"}"),
              IsOkAndHolds(3.0));
  EXPECT_THAT(p.Query("stylizer_inference_seconds_count"), IsOkAndHolds(3.0));
  EXPECT_THAT(p.Query("stylizer_requests_total{method=\"StylizeImage\","
                      "code=\"INVALID_ARGUMENT\"}"),
              IsOkAndHolds(1.0));
  EXPECT_THAT(p.Query("stylizer_queue_capacity_items"), IsOkAndHolds(512.0));
  EXPECT_THAT(p.Query("stylizer_model_info{name=\"seed\",device=\"cpu\","
                      "precision=\"fp32\",styles=\"klimt,monet,hokusai\"}"),
              IsOkAndHolds(1.0));
  EXPECT_THAT(p.Query("count(stylizer_build_info)"), IsOkAndHolds(1.0));
  EXPECT_THAT(p.Query("stylizer_device_memory_bytes{kind=\"total\"}"),
              IsOkAndHolds(double{1 << 30}));
  // Every dashboard query is valid PromQL and evaluates.
  for (const std::string& expr : DashboardExpressions()) {
    EXPECT_TRUE(p.Evaluate(expr).ok()) << p.Evaluate(expr);
  }
  // The median batch size as a dashboard computes it.
  EXPECT_THAT(
      p.Query("histogram_quantile(0.5, stylizer_batch_size_bucket)"),
      IsOkAndHolds(::testing::AllOf(::testing::Gt(2.0), ::testing::Le(4.0))));
}

}  // namespace
}  // namespace stylizer
