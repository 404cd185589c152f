// Tests of Metrics: every series reaches /metrics over a real loopback HTTP
// scrape, labels stay bounded, the exposer's port handling and errors.
#include "server/metrics/metrics.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/metrics/log.h"
#include "server/metrics/testing/exposition.h"
#include "server/metrics/testing/http_get.h"

namespace stylizer {
namespace {

using ::stylizer::testing::CountSeries;
using ::stylizer::testing::FindValue;
using ::stylizer::testing::HttpGet;
using ::stylizer::testing::ParseExposition;
using ::stylizer::testing::Sample;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Optional;

ModelDescription TwoStyles() {
  ModelDescription model;
  model.name = "seed";
  model.style_names = {"klimt", "monet"};
  model.device = "cpu";
  model.precision = "fp32";
  return model;
}

Metrics::Options LoopbackOptions() {
  Metrics::Options options;
  options.bind_address = "127.0.0.1";
  options.port = 0;
  options.model = TwoStyles();
  return options;
}

// Scrapes /metrics over HTTP and parses it.
std::vector<Sample> ScrapeHttp(const Metrics& metrics) {
  auto response = HttpGet(metrics.port(), "/metrics");
  EXPECT_TRUE(response.ok()) << response.status();
  if (!response.ok()) return {};
  EXPECT_EQ(response->status, 200);
  auto samples = ParseExposition(response->body);
  EXPECT_TRUE(samples.ok()) << samples.status();
  return samples.ok() ? *samples : std::vector<Sample>{};
}

class MetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetLogSink([this](absl::string_view line) { log_.emplace_back(line); });
    auto metrics = Metrics::Create(LoopbackOptions());
    ASSERT_TRUE(metrics.ok()) << metrics.status();
    metrics_ = std::move(*metrics);
  }
  void TearDown() override { SetLogSink(nullptr); }

  std::unique_ptr<Metrics> metrics_;
  std::vector<std::string> log_;
};

TEST_F(MetricsTest, PortZeroPicksAFreePortAndServesMetrics) {
  ASSERT_GT(metrics_->port(), 0);
  auto samples = ScrapeHttp(*metrics_);
  EXPECT_THAT(FindValue(samples, "stylizer_build_info"), Optional(1.0));
  EXPECT_THAT(FindValue(samples, "stylizer_model_info",
                        {{"name", "seed"},
                         {"device", "cpu"},
                         {"precision", "fp32"},
                         {"styles", "klimt,monet"}}),
              Optional(1.0));
  // Usual series exist from the start (zeros, not gaps).
  EXPECT_THAT(FindValue(samples, "stylizer_requests_total",
                        {{"method", "StylizeVideo"}, {"code", "OK"}}),
              Optional(0.0));
  EXPECT_THAT(FindValue(samples, "stylizer_frames_total", {{"style", "monet"}}),
              Optional(0.0));
  EXPECT_THAT(FindValue(samples, "stylizer_active_streams",
                        {{"method", "StylizeFrames"}}),
              Optional(0.0));
}

// rate() and increase() take a series' first sample as their start: a
// counter that appears at its first event, already at 1, never shows that
// event. The first out-of-memory burst, INTERNAL error or failed video job of
// a pod fired no alert. Every series an alert in docs/prometheus-alerts.yml
// reads is there at zero from the start.
TEST_F(MetricsTest, SeriesTheAlertsReadStartAtZero) {
  auto samples = ScrapeHttp(*metrics_);
  for (const char* method :
       {"GetModelInfo", "StylizeImage", "StylizeFrames", "StylizeVideo"}) {
    for (const char* code : {"OK", "INTERNAL", "UNKNOWN", "DATA_LOSS"}) {
      EXPECT_THAT(FindValue(samples, "stylizer_requests_total",
                            {{"method", method}, {"code", code}}),
                  Optional(0.0))
          << method << " " << code;
    }
  }
  for (const char* method : {"StylizeImage", "StylizeFrames", "StylizeVideo"}) {
    EXPECT_THAT(FindValue(samples, "stylizer_busy_refusals_total",
                          {{"method", method}}),
                Optional(0.0))
        << method;
  }
  for (const char* reason :
       {"CANCELLED", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "INTERNAL"}) {
    EXPECT_THAT(FindValue(samples, "stylizer_items_dropped_total",
                          {{"reason", reason}}),
                Optional(0.0))
        << reason;
  }
  for (const char* outcome : {"OK", "INTERNAL", "UNKNOWN", "DATA_LOSS"}) {
    EXPECT_THAT(
        FindValue(samples, "stylizer_video_jobs_total", {{"outcome", outcome}}),
        Optional(0.0))
        << outcome;
  }
}

// A StylizeVideo or StylizeFrames stream may run for hours; the request
// buckets stopped at 1 h, so every longer call fell in +Inf and the
// dashboard's p95 of the method stuck at 3600 s.
TEST_F(MetricsTest, RequestDurationsReachAsFarAsVideoJobs) {
  metrics_->RecordRequest("StylizeVideo", absl::StatusCode::kOk,
                          absl::Hours(2));
  auto samples = ScrapeHttp(*metrics_);
  EXPECT_THAT(FindValue(samples, "stylizer_request_duration_seconds_bucket",
                        {{"method", "StylizeVideo"}, {"le", "3600"}}),
              Optional(0.0));
  EXPECT_THAT(FindValue(samples, "stylizer_request_duration_seconds_bucket",
                        {{"method", "StylizeVideo"}, {"le", "7200"}}),
              Optional(1.0));
  EXPECT_THAT(FindValue(samples, "stylizer_request_duration_seconds_bucket",
                        {{"method", "StylizeVideo"}, {"le", "14400"}}),
              Optional(1.0));
}

TEST_F(MetricsTest, UnknownPathIsNotFound) {
  auto response = HttpGet(metrics_->port(), "/nothing");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 404);
}

TEST_F(MetricsTest, QueueObserverFeedsFramesBatchesAndQueue) {
  QueueObserver* observer = metrics_->queue_observer();
  ASSERT_NE(observer, nullptr);
  for (int i = 0; i < 3; ++i)
    observer->OnItemDone({1, 0}, absl::Milliseconds(2));
  observer->OnItemDone({0, 2.5}, absl::Milliseconds(20));
  observer->OnItemDone({0.5, 0.5}, absl::Milliseconds(1));
  observer->OnItemDone({0, 0}, absl::Milliseconds(1));  // degenerate row
  observer->OnBatch(3, absl::Milliseconds(40));
  observer->OnBatch(3, absl::Milliseconds(40));
  observer->OnBatch(5, absl::Seconds(2));
  observer->OnQueueDepth(7, 7 * 64 * 64 * 3);
  observer->OnItemDropped(absl::CancelledError("client went away"));
  observer->OnItemDropped(absl::DeadlineExceededError("late"));
  observer->OnItemDropped(absl::CancelledError("client went away"));
  metrics_->SetQueueCapacity(256, 1 << 30);

  auto samples = ScrapeHttp(*metrics_);
  EXPECT_THAT(FindValue(samples, "stylizer_frames_total", {{"style", "klimt"}}),
              Optional(3.0));
  EXPECT_THAT(FindValue(samples, "stylizer_frames_total", {{"style", "monet"}}),
              Optional(1.0));
  EXPECT_THAT(FindValue(samples, "stylizer_frames_total", {{"style", "blend"}}),
              Optional(2.0));
  EXPECT_EQ(CountSeries(samples, "stylizer_frames_total"), 3);
  EXPECT_THAT(FindValue(samples, "stylizer_queue_wait_seconds_count"),
              Optional(6.0));
  EXPECT_THAT(FindValue(samples, "stylizer_queue_wait_seconds_bucket",
                        {{"le", "0.005"}}),
              Optional(5.0));
  EXPECT_THAT(FindValue(samples, "stylizer_batch_size_count"), Optional(3.0));
  EXPECT_THAT(FindValue(samples, "stylizer_batch_size_sum"), Optional(11.0));
  EXPECT_THAT(FindValue(samples, "stylizer_batch_size_bucket", {{"le", "3"}}),
              Optional(2.0));
  EXPECT_THAT(FindValue(samples, "stylizer_batch_size_bucket", {{"le", "4"}}),
              Optional(2.0));
  EXPECT_THAT(FindValue(samples, "stylizer_batch_size_bucket", {{"le", "5"}}),
              Optional(3.0));
  EXPECT_THAT(FindValue(samples, "stylizer_inference_seconds_count"),
              Optional(3.0));
  EXPECT_THAT(
      FindValue(samples, "stylizer_inference_seconds_bucket", {{"le", "0.05"}}),
      Optional(2.0));
  EXPECT_THAT(FindValue(samples, "stylizer_queue_items"), Optional(7.0));
  EXPECT_THAT(FindValue(samples, "stylizer_queue_bytes"),
              Optional(7.0 * 64 * 64 * 3));
  EXPECT_THAT(FindValue(samples, "stylizer_queue_capacity_items"),
              Optional(256.0));
  EXPECT_THAT(FindValue(samples, "stylizer_items_dropped_total",
                        {{"reason", "CANCELLED"}}),
              Optional(2.0));
  EXPECT_THAT(FindValue(samples, "stylizer_items_dropped_total",
                        {{"reason", "DEADLINE_EXCEEDED"}}),
              Optional(1.0));
}

TEST_F(MetricsTest, RequestsStreamsAndBytes) {
  metrics_->RecordRequest("StylizeImage", absl::StatusCode::kOk,
                          absl::Milliseconds(30));
  metrics_->RecordRequest("/stylizer.v1.Stylizer/StylizeImage",
                          absl::StatusCode::kInvalidArgument,
                          absl::Milliseconds(1));
  metrics_->RecordRequest("NoSuchMethod", absl::StatusCode::kUnimplemented,
                          absl::Milliseconds(1));
  metrics_->StreamStarted("StylizeVideo");
  metrics_->StreamStarted("StylizeVideo");
  metrics_->StreamEnded("StylizeVideo");
  metrics_->AddBytesReceived("StylizeVideo", 1000);
  metrics_->AddBytesReceived("StylizeVideo", 24);
  metrics_->AddBytesSent("StylizeVideo", 512);

  auto samples = ScrapeHttp(*metrics_);
  EXPECT_THAT(FindValue(samples, "stylizer_requests_total",
                        {{"method", "StylizeImage"}, {"code", "OK"}}),
              Optional(1.0));
  EXPECT_THAT(
      FindValue(samples, "stylizer_requests_total",
                {{"method", "StylizeImage"}, {"code", "INVALID_ARGUMENT"}}),
      Optional(1.0));
  EXPECT_THAT(FindValue(samples, "stylizer_requests_total",
                        {{"method", "other"}, {"code", "UNIMPLEMENTED"}}),
              Optional(1.0));
  EXPECT_THAT(FindValue(samples, "stylizer_request_duration_seconds_count",
                        {{"method", "StylizeImage"}}),
              Optional(2.0));
  EXPECT_THAT(FindValue(samples, "stylizer_active_streams",
                        {{"method", "StylizeVideo"}}),
              Optional(1.0));
  EXPECT_THAT(FindValue(samples, "stylizer_received_bytes_total",
                        {{"method", "StylizeVideo"}}),
              Optional(1024.0));
  EXPECT_THAT(FindValue(samples, "stylizer_sent_bytes_total",
                        {{"method", "StylizeVideo"}}),
              Optional(512.0));
  EXPECT_TRUE(log_.empty()) << "RecordRequest must not log";
}

TEST_F(MetricsTest, FinishRpcRecordsAndLogsOneLine) {
  RpcRecord record;
  record.method = "StylizeImage";
  record.peer = "ipv4:127.0.0.1:4242";
  record.status = absl::InvalidArgumentError("style index 9 out of range");
  record.duration = absl::Milliseconds(3);
  record.bytes_in = 100;
  record.request_id = "5f2c9e0d";
  record.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  metrics_->FinishRpc(record);

  auto samples = ScrapeHttp(*metrics_);
  EXPECT_THAT(
      FindValue(samples, "stylizer_requests_total",
                {{"method", "StylizeImage"}, {"code", "INVALID_ARGUMENT"}}),
      Optional(1.0));
  // The bytes are the log line's: the counters take them as they flow
  // (AddBytesReceived), so FinishRpc adding them too would count them twice.
  EXPECT_EQ(FindValue(samples, "stylizer_received_bytes_total",
                      {{"method", "StylizeImage"}})
                .value_or(0),
            0);
  ASSERT_EQ(log_.size(), 1u);
  EXPECT_THAT(log_[0], HasSubstr("bytes_in=100"));
  EXPECT_THAT(log_[0], HasSubstr(" warning rpc method=StylizeImage "
                                 "peer=ipv4:127.0.0.1:4242 "
                                 "code=INVALID_ARGUMENT"));
  EXPECT_THAT(log_[0], HasSubstr("message=\"style index 9 out of range\""));
  EXPECT_THAT(log_[0], HasSubstr(" request_id=5f2c9e0d "
                                 "trace_id=4bf92f3577b34da6a3ce929d0e0e4736 "));
  EXPECT_THAT(log_[0], HasSubstr("seconds=0.003"));
}

// A flood of calls refused for their credentials writes a bounded number of
// lines (one connection made 20000 a second); every call is still counted,
// and the next line written says how many were left out.
TEST_F(MetricsTest, RefusedCredentialsAreLoggedAtABoundedRate) {
  // The sampler is the process's: a second apart, whatever ran before has
  // left it its whole burst.
  absl::SleepFor(absl::Seconds(1.1));
  RpcRecord record;
  record.method = "StylizeImage";
  record.status = absl::UnauthenticatedError("no token");
  for (int i = 0; i < 500; ++i) metrics_->FinishRpc(record);
  EXPECT_THAT(
      FindValue(ScrapeHttp(*metrics_), "stylizer_requests_total",
                {{"method", "StylizeImage"}, {"code", "UNAUTHENTICATED"}}),
      Optional(500.0));
  EXPECT_LE(log_.size(), 40u);  // a burst of 20, and what a slow run refills
  EXPECT_GE(log_.size(), 20u);
  absl::SleepFor(absl::Milliseconds(200));  // room for one more line
  const size_t before = log_.size();
  metrics_->FinishRpc(record);
  ASSERT_EQ(log_.size(), before + 1);
  EXPECT_THAT(log_.back(), HasSubstr(" refusals_not_logged="));
  // Other calls are not held back.
  record.status = absl::InvalidArgumentError("bad");
  for (int i = 0; i < 50; ++i) metrics_->FinishRpc(record);
  EXPECT_EQ(log_.size(), before + 51);
}

// Busy refusals (a retry hint given) are counted apart from inputs too
// large, which are RESOURCE_EXHAUSTED too, and their hint is logged.
TEST_F(MetricsTest, BusyRefusalsAreCountedApartAndLogTheirHint) {
  RpcRecord busy;
  busy.method = "StylizeFrames";
  busy.status = absl::ResourceExhaustedError("the server already serves 1");
  busy.retry_delay = absl::Seconds(1);
  metrics_->FinishRpc(busy);
  RpcRecord too_large;
  too_large.method = "StylizeFrames";
  too_large.status = absl::ResourceExhaustedError("send less at once");
  metrics_->FinishRpc(too_large);

  auto samples = ScrapeHttp(*metrics_);
  EXPECT_THAT(
      FindValue(samples, "stylizer_requests_total",
                {{"method", "StylizeFrames"}, {"code", "RESOURCE_EXHAUSTED"}}),
      Optional(2.0));
  EXPECT_THAT(FindValue(samples, "stylizer_busy_refusals_total",
                        {{"method", "StylizeFrames"}}),
              Optional(1.0));
  ASSERT_EQ(log_.size(), 2u);
  EXPECT_THAT(log_[0], HasSubstr(" retry_ms=1000 "));
  EXPECT_THAT(log_[1], Not(HasSubstr("retry_ms")));
}

TEST_F(MetricsTest, VideoJobsAndCodecTimes) {
  metrics_->RecordDecode(absl::Microseconds(800));
  metrics_->RecordEncode(absl::Milliseconds(4));
  metrics_->RecordEncode(absl::Milliseconds(4));
  // Each StylizeVideo call is one job.
  metrics_->RecordRequest("StylizeVideo", absl::StatusCode::kOk,
                          absl::Seconds(12));
  RpcRecord rpc;
  rpc.method = "StylizeVideo";
  rpc.status = absl::CancelledError("client cancelled");
  rpc.duration = absl::Seconds(3);
  rpc.job_id = "job-2";
  metrics_->FinishRpc(rpc);
  // Other methods are not jobs.
  metrics_->RecordRequest("StylizeFrames", absl::StatusCode::kOk,
                          absl::Seconds(12));

  auto samples = ScrapeHttp(*metrics_);
  EXPECT_THAT(FindValue(samples, "stylizer_decode_seconds_count"),
              Optional(1.0));
  EXPECT_THAT(
      FindValue(samples, "stylizer_encode_seconds_bucket", {{"le", "0.005"}}),
      Optional(2.0));
  EXPECT_THAT(
      FindValue(samples, "stylizer_video_jobs_total", {{"outcome", "OK"}}),
      Optional(1.0));
  EXPECT_THAT(FindValue(samples, "stylizer_video_jobs_total",
                        {{"outcome", "CANCELLED"}}),
              Optional(1.0));
  EXPECT_THAT(FindValue(samples, "stylizer_video_job_duration_seconds_count"),
              Optional(2.0));
  EXPECT_THAT(FindValue(samples, "stylizer_video_job_duration_seconds_bucket",
                        {{"le", "5"}}),
              Optional(1.0));
  ASSERT_EQ(log_.size(), 1u);
  EXPECT_THAT(log_[0], HasSubstr(" info rpc method=StylizeVideo "));
  EXPECT_THAT(log_[0], HasSubstr("job_id=job-2"));
}

// A StylizeVideo call refused because the server was busy is counted as a
// video job (by its outcome) but is not a job duration: refusals take
// microseconds, and under overload pulled the job-time quantiles to 0.
TEST_F(MetricsTest, BusyRefusedVideoCallsAreNoJobDuration) {
  RpcRecord refused;
  refused.method = "StylizeVideo";
  refused.status = absl::ResourceExhaustedError("all stream slots are taken");
  refused.retry_delay = absl::Seconds(1);
  refused.duration = absl::Microseconds(300);
  metrics_->FinishRpc(refused);
  RpcRecord done;
  done.method = "StylizeVideo";
  done.duration = absl::Seconds(20);
  done.job_id = "job-3";
  metrics_->FinishRpc(done);
  auto samples = ScrapeHttp(*metrics_);
  EXPECT_THAT(FindValue(samples, "stylizer_video_jobs_total",
                        {{"outcome", "RESOURCE_EXHAUSTED"}}),
              Optional(1.0));
  EXPECT_THAT(FindValue(samples, "stylizer_video_job_duration_seconds_count"),
              Optional(1.0));
  EXPECT_THAT(FindValue(samples, "stylizer_video_job_duration_seconds_bucket",
                        {{"le", "10"}}),
              Optional(0.0));
}

// So is one refused at the door (no token, a model still loading, a
// drain), before it became a job with an id: any caller could pull the job
// quantiles to 0 with calls that lack a token.
TEST_F(MetricsTest, VideoCallsRefusedAtTheDoorAreNoJobDuration) {
  for (const absl::Status& status :
       {absl::UnauthenticatedError("no token"),
        absl::UnavailableError("the model is still loading")}) {
    RpcRecord refused;
    refused.method = "StylizeVideo";
    refused.status = status;
    refused.duration = absl::Microseconds(20);
    metrics_->FinishRpc(refused);
  }
  auto samples = ScrapeHttp(*metrics_);
  EXPECT_THAT(FindValue(samples, "stylizer_video_jobs_total",
                        {{"outcome", "UNAUTHENTICATED"}}),
              Optional(1.0));
  EXPECT_THAT(FindValue(samples, "stylizer_video_job_duration_seconds_count"),
              Optional(0.0));
}

TEST_F(MetricsTest, LogVideoJobLogsAndRecordsNothing) {
  VideoJobRecord job;
  job.job_id = "job-1";
  job.peer = "ipv6:[::1]:5000";
  job.request_id = "5f2c9e0d";
  job.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  job.status = absl::InvalidArgumentError("no video stream");
  job.duration = absl::Seconds(1);
  job.width = 640;
  job.height = 360;
  job.hdr_transfer = "arib-std-b67";
  job.frames = 48;
  job.outputs = 2;
  LogVideoJob(job);
  auto samples = ScrapeHttp(*metrics_);
  EXPECT_THAT(FindValue(samples, "stylizer_video_job_duration_seconds_count"),
              Optional(0.0));
  ASSERT_EQ(log_.size(), 1u);
  EXPECT_THAT(log_[0], HasSubstr(" warning job job_id=job-1 "
                                 "request_id=5f2c9e0d "
                                 "trace_id=4bf92f3577b34da6a3ce929d0e0e4736 "
                                 "peer=ipv6:[::1]:5000 code=INVALID_ARGUMENT "
                                 "message=\"no video stream\" width=640 "
                                 "height=360 hdr=arib-std-b67 frames=48 "
                                 "outputs=2"));
}

TEST_F(MetricsTest, SetModelReplacesModelInfo) {
  ModelDescription other = TwoStyles();
  other.name = "retrained";
  other.style_names = {"a", "b", "c"};
  metrics_->SetModel(other);
  metrics_->queue_observer()->OnItemDone({0, 0, 1}, absl::ZeroDuration());
  auto samples = ScrapeHttp(*metrics_);
  EXPECT_EQ(CountSeries(samples, "stylizer_model_info"), 1);
  EXPECT_THAT(FindValue(samples, "stylizer_model_info",
                        {{"name", "retrained"}, {"styles", "a,b,c"}}),
              Optional(1.0));
  EXPECT_THAT(FindValue(samples, "stylizer_frames_total", {{"style", "c"}}),
              Optional(1.0));
}

TEST_F(MetricsTest, ServingGauge) {
  metrics_->SetServing(true);
  EXPECT_THAT(FindValue(ScrapeHttp(*metrics_), "stylizer_serving"),
              Optional(1.0));
  metrics_->SetServing(false);
  EXPECT_THAT(FindValue(ScrapeHttp(*metrics_), "stylizer_serving"),
              Optional(0.0));
}

TEST_F(MetricsTest, MemoryBudgetGauges) {
  // Present from the start (0: no budget, nothing reserved).
  std::vector<Sample> samples = ScrapeHttp(*metrics_);
  EXPECT_THAT(FindValue(samples, "stylizer_memory_budget_bytes"),
              Optional(0.0));
  EXPECT_THAT(FindValue(samples, "stylizer_memory_reserved_bytes"),
              Optional(0.0));
  metrics_->SetMemoryBudget(int64_t{12} << 30);
  metrics_->SetMemoryReserved(3000000);
  samples = ScrapeHttp(*metrics_);
  EXPECT_THAT(FindValue(samples, "stylizer_memory_budget_bytes"),
              Optional(static_cast<double>(int64_t{12} << 30)));
  EXPECT_THAT(FindValue(samples, "stylizer_memory_reserved_bytes"),
              Optional(3000000.0));
  metrics_->SetMemoryReserved(0);
  EXPECT_THAT(
      FindValue(ScrapeHttp(*metrics_), "stylizer_memory_reserved_bytes"),
      Optional(0.0));
}

TEST_F(MetricsTest, DeviceMemoryIsSampledAtScrapeTime) {
  EXPECT_EQ(CountSeries(ScrapeHttp(*metrics_), "stylizer_device_memory_bytes"),
            0);
  int calls = 0;
  metrics_->SetDeviceMemoryCallback([&calls] {
    ++calls;
    DeviceMemoryStats stats;
    stats.device = "cuda:0";
    stats.allocated_bytes = 100 * calls;
    stats.reserved_bytes = 200;
    stats.total_bytes = 1000;
    stats.oom_retries = 3;
    return std::vector<DeviceMemoryStats>{stats};
  });
  auto first = ScrapeHttp(*metrics_);
  auto second = ScrapeHttp(*metrics_);
  EXPECT_THAT(FindValue(first, "stylizer_device_memory_bytes",
                        {{"device", "cuda:0"}, {"kind", "allocated"}}),
              Optional(100.0));
  EXPECT_THAT(FindValue(second, "stylizer_device_memory_bytes",
                        {{"device", "cuda:0"}, {"kind", "allocated"}}),
              Optional(200.0));
  EXPECT_THAT(FindValue(second, "stylizer_device_memory_bytes",
                        {{"device", "cuda:0"}, {"kind", "total"}}),
              Optional(1000.0));
  EXPECT_THAT(FindValue(second, "stylizer_device_oom_retries_total",
                        {{"device", "cuda:0"}}),
              Optional(3.0));
}

// The spool disk changes without any call (other files fill it): sampled at
// each scrape; a disk that cannot be read shows only the uploads' bytes.
TEST_F(MetricsTest, SpoolDiskIsSampledAtScrapeTime) {
  EXPECT_EQ(CountSeries(ScrapeHttp(*metrics_), "stylizer_spool_disk_bytes"), 0);
  int calls = 0;
  metrics_->SetSpoolDiskCallback([&calls] {
    ++calls;
    SpoolDiskStats stats;
    stats.uploads_bytes = 100;
    stats.free_bytes = 1000 - 100 * calls;
    stats.size_bytes = calls < 3 ? 5000 : 0;
    return stats;
  });
  auto first = ScrapeHttp(*metrics_);
  auto second = ScrapeHttp(*metrics_);
  EXPECT_THAT(FindValue(first, "stylizer_spool_disk_bytes", {{"kind", "free"}}),
              Optional(900.0));
  EXPECT_THAT(
      FindValue(second, "stylizer_spool_disk_bytes", {{"kind", "free"}}),
      Optional(800.0));
  EXPECT_THAT(
      FindValue(second, "stylizer_spool_disk_bytes", {{"kind", "uploads"}}),
      Optional(100.0));
  EXPECT_THAT(
      FindValue(second, "stylizer_spool_disk_bytes", {{"kind", "size"}}),
      Optional(5000.0));
  // No --spool_disk_bytes: no limit series.
  EXPECT_EQ(CountSeries(second, "stylizer_spool_disk_bytes"), 3);
  auto unreadable = ScrapeHttp(*metrics_);
  EXPECT_EQ(CountSeries(unreadable, "stylizer_spool_disk_bytes"), 1);
}

TEST_F(MetricsTest, ConcurrentUpdatesAreAllCounted) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 5000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this] {
      for (int i = 0; i < kPerThread; ++i) {
        metrics_->queue_observer()->OnItemDone({1, 0}, absl::ZeroDuration());
        metrics_->queue_observer()->OnBatch(1, absl::ZeroDuration());
        metrics_->RecordRequest("StylizeFrames", absl::StatusCode::kOk,
                                absl::ZeroDuration());
      }
    });
  }
  // Scrape while they run: must not crash or deadlock.
  for (int i = 0; i < 5; ++i) ScrapeHttp(*metrics_);
  for (auto& thread : threads) thread.join();
  auto samples = ScrapeHttp(*metrics_);
  const double total = kThreads * kPerThread;
  EXPECT_THAT(FindValue(samples, "stylizer_frames_total", {{"style", "klimt"}}),
              Optional(total));
  EXPECT_THAT(FindValue(samples, "stylizer_batch_size_count"), Optional(total));
  EXPECT_THAT(FindValue(samples, "stylizer_requests_total",
                        {{"method", "StylizeFrames"}, {"code", "OK"}}),
              Optional(total));
}

TEST(MetricsCreateTest, PortInUseIsUnavailable) {
  auto first = Metrics::Create(LoopbackOptions());
  ASSERT_TRUE(first.ok()) << first.status();
  Metrics::Options options = LoopbackOptions();
  options.port = (*first)->port();
  auto second = Metrics::Create(options);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(),
              HasSubstr(absl::StrCat("127.0.0.1:", options.port)));
}

// Debian 12's civetweb has no IPv6: an IPv6 address failed with "port in
// use?", which sent operators the wrong way. Where the library has IPv6,
// the endpoint simply works.
TEST(MetricsCreateTest, AnIPv6AddressThatCannotBeServedSaysSo) {
  Metrics::Options options = LoopbackOptions();
  options.bind_address = "::1";
  auto metrics = Metrics::Create(options);
  if (metrics.ok()) GTEST_SKIP() << "this civetweb listens on IPv6";
  EXPECT_EQ(metrics.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(metrics.status().message(), HasSubstr("[::1]:"));
  EXPECT_THAT(metrics.status().message(), HasSubstr("no IPv6 support"));
  EXPECT_THAT(metrics.status().message(),
              Not(HasSubstr("port in use? pick another")));
}

TEST(MetricsCreateTest, BadPortIsInvalidArgument) {
  for (int port : {-2, 65536, 100000}) {
    Metrics::Options options = LoopbackOptions();
    options.port = port;
    EXPECT_EQ(Metrics::Create(options).status().code(),
              absl::StatusCode::kInvalidArgument)
        << port;
  }
}

TEST(MetricsCreateTest, UnresolvableBindAddressIsUnavailable) {
  Metrics::Options options = LoopbackOptions();
  options.bind_address = "not-an-address";
  EXPECT_EQ(Metrics::Create(options).status().code(),
            absl::StatusCode::kUnavailable);
}

// Client connections that send `prefix` (possibly nothing) and then go
// quiet, as a stuck or hostile client would; closed on destruction.
class IdleClients {
 public:
  IdleClients(int port, int count, absl::string_view prefix) {
    for (int i = 0; i < count; ++i) {
      const int fd = socket(AF_INET, SOCK_STREAM, 0);
      if (fd < 0) continue;
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(static_cast<uint16_t>(port));
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        close(fd);
        continue;
      }
      if (!prefix.empty()) {
        (void)!send(fd, prefix.data(), prefix.size(), MSG_NOSIGNAL);
      }
      fds_.push_back(fd);
    }
  }
  ~IdleClients() {
    for (int fd : fds_) close(fd);
  }
  IdleClients(const IdleClients&) = delete;
  IdleClients& operator=(const IdleClients&) = delete;

  const std::vector<int>& fds() const { return fds_; }

 private:
  std::vector<int> fds_;
};

// Whether the server closes `fd` (end of stream, or a reset) before
// `deadline`; whatever it sends first (an error page) is read and dropped.
bool ClosedByServerBefore(int fd, absl::Time deadline) {
  char buffer[4096];
  for (;;) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    pollfd p{fd, POLLIN, 0};
    const int ready =
        poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return false;
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) return true;
  }
}

// Idle clients (connections that send nothing, or half a request line) hold
// an HTTP worker each only until the request timeout: with more of them than
// workers, a scrape still answers well within Prometheus' default 10 s scrape
// timeout (it used to wait 30 s per pair of idle clients).
TEST(MetricsExposerTest, IdleClientsDoNotBlockScrapes) {
  auto metrics = Metrics::Create(LoopbackOptions());
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  const int port = (*metrics)->port();
  IdleClients silent(port, 6, "");
  IdleClients partial(port, 6, "GET /metr");
  ASSERT_EQ(silent.fds().size() + partial.fds().size(), 12u);
  const absl::Time start = absl::Now();
  auto response = HttpGet(port, "/metrics");
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(response.ok()) << response.status() << " after " << took;
  EXPECT_EQ(response->status, 200);
  EXPECT_THAT(response->body, HasSubstr("stylizer_build_info"));
  EXPECT_LT(took, absl::Seconds(10));
}

// The server drops an idle client after the request timeout instead of
// keeping it (and a worker) for 30 s.
TEST(MetricsExposerTest, IdleClientsAreDisconnected) {
  auto metrics = Metrics::Create(LoopbackOptions());
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  IdleClients silent((*metrics)->port(), 2, "");
  IdleClients partial((*metrics)->port(), 2, "GET /metrics HTTP/1.1\r\n");
  ASSERT_EQ(silent.fds().size() + partial.fds().size(), 4u);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  for (int fd : silent.fds()) EXPECT_TRUE(ClosedByServerBefore(fd, deadline));
  for (int fd : partial.fds()) EXPECT_TRUE(ClosedByServerBefore(fd, deadline));
}

TEST(MetricsCreateTest, NoExposerStillRecords) {
  Metrics::Options options;
  options.port = -1;
  auto metrics = Metrics::Create(options);
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ((*metrics)->port(), -1);
  (*metrics)->queue_observer()->OnItemDone({0, 1, 0}, absl::ZeroDuration());
  auto samples = ParseExposition((*metrics)->Scrape());
  ASSERT_TRUE(samples.ok()) << samples.status();
  // Without a model description the style is labelled by index.
  EXPECT_THAT(FindValue(*samples, "stylizer_frames_total", {{"style", "1"}}),
              Optional(1.0));
  EXPECT_THAT(FindValue(*samples, "stylizer_model_info"), std::nullopt);
  EXPECT_THAT(FindValue(*samples, "stylizer_build_info"), Optional(1.0));
}

TEST(MethodLabelTest, BoundsMethodNames) {
  EXPECT_EQ(MethodLabel("StylizeImage"), "StylizeImage");
  EXPECT_EQ(MethodLabel("/stylizer.v1.Stylizer/GetModelInfo"), "GetModelInfo");
  EXPECT_EQ(MethodLabel("/grpc.health.v1.Health/Check"), "other");
  EXPECT_EQ(MethodLabel(""), "other");
}

}  // namespace
}  // namespace stylizer
