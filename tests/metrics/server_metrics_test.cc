// End to end: a stylizer-server and a real Prometheus server scraping it on
// loopback. Runs a still image, a bad request and a movie job over gRPC, then
// checks through Prometheus's HTTP API that the frame counter rose by exactly
// frames x styles, that the batch-size histogram counted every batch, and
// that the request counter recorded the INVALID_ARGUMENT.
#include <cmath>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/archive_file.h"
#include "stylizer/v1/stylizer.grpc.pb.h"
#include "tests/metrics/prometheus_server.h"
#include "tests/metrics/status_matchers.h"
#include "tests/metrics/subprocess.h"

#ifndef STYLIZER_SERVER_BINARY
#error "STYLIZER_SERVER_BINARY must name the stylizer-server executable"
#endif

namespace stylizer {
namespace {

using ::stylizer::testing::IsOkAndHolds;
using ::stylizer::testing::PrometheusServer;
using ::stylizer::testing::RunToCompletion;
using ::stylizer::testing::Subprocess;
using ::stylizer::testing::TempDir;
using ::testing::HasSubstr;

constexpr absl::Duration kWait = absl::Seconds(90);
constexpr int kMovieFrames = 12;  // 1 s at 12 fps

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream data;
  data << in.rdbuf();
  return data.str();
}

std::string BuildDir() {
  const char* dir = std::getenv("STYLIZER_BUILD_DIR");
  return dir != nullptr ? dir : ".";
}

v1::Style Index(uint32_t index) {
  v1::Style style;
  style.set_index(index);
  return style;
}

// What a finished StylizeVideo call returned.
struct VideoOutcome {
  grpc::Status status;
  v1::JobSummary summary;
  bool accepted = false;
  std::string job_id;
  uint64_t output_bytes = 0;  // of every OutputChunk
};

// Uploads `movie` as one StylizeVideo call and reads every response.
VideoOutcome RunVideoJob(v1::Stylizer::Stub& stub, const std::string& movie,
                         const v1::VideoJob& job) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
  context.AddMetadata("x-request-id", "movie-1");
  auto stream = stub.StylizeVideo(&context);
  VideoOutcome outcome;
  // Read concurrently with the upload so flow control never stalls either.
  std::thread reader([&] {
    v1::StylizeVideoResponse response;
    while (stream->Read(&response)) {
      if (response.has_accepted()) {
        outcome.accepted = true;
        outcome.job_id = response.accepted().job_id();
      }
      if (response.has_summary()) outcome.summary = response.summary();
      if (response.has_chunk()) {
        outcome.output_bytes += response.chunk().data().size();
      }
    }
  });
  v1::StylizeVideoRequest request;
  *request.mutable_job() = job;
  bool ok = stream->Write(request);
  constexpr size_t kChunk = 16 * 1024;
  for (size_t offset = 0; ok && offset < movie.size(); offset += kChunk) {
    request.set_chunk(movie.substr(offset, kChunk));
    ok = stream->Write(request);
  }
  stream->WritesDone();
  reader.join();
  outcome.status = stream->Finish();
  return outcome;
}

// The structured (JSON) lines of the server's log.
std::vector<google::protobuf::Struct> JsonLines(const std::string& log) {
  std::vector<google::protobuf::Struct> entries;
  const std::vector<std::string> lines =
      absl::StrSplit(log, '\n', absl::SkipEmpty());
  for (const std::string& line : lines) {
    if (line.front() != '{') continue;
    google::protobuf::Struct entry;
    if (google::protobuf::util::JsonStringToMessage(line, &entry).ok()) {
      entries.push_back(std::move(entry));
    }
  }
  return entries;
}

// Waits for the server's log line {"event": <event>, "port": N}; returns N.
absl::StatusOr<int> WaitForLoggedPort(Subprocess& server,
                                      absl::string_view event) {
  const absl::Time give_up = absl::Now() + kWait;
  for (;;) {
    for (const auto& entry : JsonLines(server.Log())) {
      const auto& fields = entry.fields();
      if (fields.count("event") && fields.at("event").string_value() == event &&
          fields.count("port")) {
        return static_cast<int>(fields.at("port").number_value());
      }
    }
    if (!server.Running() || absl::Now() > give_up) {
      return absl::UnavailableError(absl::StrCat(
          "no '", event, "' line from the server:\n", server.Log()));
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
}

class ServerMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create();
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = std::move(*dir);
    const std::string d = dir_->path();

    // Tiny inputs, made on the fly.
    ASSERT_TRUE(
        RunToCompletion({"/usr/bin/ffmpeg", "-v", "error", "-f", "lavfi", "-i",
                         absl::StrCat("testsrc=size=64x48:rate=12:"
                                      "duration=1"),
                         "-frames:v", absl::StrCat(kMovieFrames), "-c:v",
                         "libx264", "-pix_fmt", "yuv420p", d + "/movie.mp4"},
                        d + "/ffmpeg.log")
            .ok());
    ASSERT_TRUE(RunToCompletion(
                    {"/usr/bin/ffmpeg", "-v", "error", "-f", "lavfi", "-i",
                     "testsrc=size=40x32", "-frames:v", "1", d + "/image.png"},
                    d + "/ffmpeg.log")
                    .ok());

    // Port 0 for both: the server binds free ports and logs them.
    server_log_ = d + "/server.log";
    auto server = Subprocess::Start(
        {STYLIZER_SERVER_BINARY, "--port=0", "--metrics_port=0",
         "--model=" + BuildDir() + "/testdata/random4.pt", "--host=127.0.0.1",
         // fp32 skips the start-up precision benchmark; batches of at most 4
         // make a 12-frame movie in 2 styles take several batches.
         "--precision=fp32", "--max_batch_size=4", "--log_format=json"},
        server_log_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    auto grpc_port = WaitForLoggedPort(*server_, "listening");
    ASSERT_TRUE(grpc_port.ok()) << grpc_port.status();
    auto metrics_port = WaitForLoggedPort(*server_, "metrics");
    ASSERT_TRUE(metrics_port.ok()) << metrics_port.status();
    metrics_port_ = *metrics_port;

    stub_ = v1::Stylizer::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", *grpc_port),
                            grpc::InsecureChannelCredentials()));
    // Ready once GetModelInfo answers (the model is loaded and warmed; this
    // takes minutes on a busy 2-core machine).
    const absl::Time give_up = absl::Now() + absl::Seconds(300);
    for (;;) {
      ASSERT_TRUE(server_->Running()) << "server exited:\n" << server_->Log();
      grpc::ClientContext context;
      context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(2)));
      grpc::Status status =
          stub_->GetModelInfo(&context, v1::GetModelInfoRequest(), &model_);
      if (status.ok()) break;
      ASSERT_LT(absl::Now(), give_up)
          << "server not ready: " << status.error_message() << "\n"
          << server_->Log();
      absl::SleepFor(absl::Milliseconds(500));
    }
    ASSERT_GE(model_.styles_size(), 4);

    PrometheusServer::Options options;
    options.dir = d;
    options.targets = {absl::StrCat("127.0.0.1:", metrics_port_)};
    auto prometheus = PrometheusServer::Start(options);
    ASSERT_TRUE(prometheus.ok()) << prometheus.status();
    prometheus_ = std::move(*prometheus);
    ASSERT_THAT(prometheus_->WaitForValue("up{job=\"stylizer\"}", 1, kWait),
                IsOkAndHolds(1.0))
        << prometheus_->Log() << server_->Log();
  }

  void TearDown() override {
    prometheus_.reset();
    if (server_ != nullptr) server_->Stop();
    stub_.reset();
    server_.reset();
    dir_.reset();
  }

  // A counter's current value in Prometheus (0 when the series is absent).
  double Value(const std::string& expr) {
    auto value = prometheus_->Query(expr);
    if (value.status().code() == absl::StatusCode::kNotFound) return 0;
    EXPECT_TRUE(value.ok()) << value.status();
    return value.ok() ? *value : std::nan("");
  }

  std::unique_ptr<TempDir> dir_;  // destroyed last
  std::unique_ptr<Subprocess> server_;
  std::unique_ptr<PrometheusServer> prometheus_;
  std::unique_ptr<v1::Stylizer::Stub> stub_;
  v1::ModelInfo model_;
  std::string server_log_;
  int metrics_port_ = 0;
};

TEST_F(ServerMetricsTest, PrometheusSeesFramesBatchesAndErrors) {
  // The start-up warm-up frame is not traffic: it was counted as a frame
  // and a batch, under a style label "0" (the style names were not set yet).
  const double frames0 = Value("sum(stylizer_frames_total)");
  const double batches0 = Value("stylizer_batch_size_count");
  const double batch_items0 = Value("stylizer_batch_size_sum");
  const double inferences0 = Value("stylizer_inference_seconds_count");
  EXPECT_EQ(frames0, 0);
  EXPECT_EQ(batches0, 0);
  EXPECT_EQ(inferences0, 0);
  EXPECT_EQ(Value("count(stylizer_frames_total{style=\"0\"})"), 0);
  // One device, one worker: what the busy share divides by.
  EXPECT_EQ(Value("stylizer_device_workers"), 1);
  const double requests0 = Value("sum(stylizer_requests_total)");
  const std::string style1 = model_.styles(1).name();
  const double style1_frames0 =
      Value("sum(stylizer_frames_total{style=\"" + style1 + "\"})");

  // A still image in two styles.
  v1::StylizeImageRequest image_request;
  image_request.mutable_image()->set_encoded(
      ReadFile(dir_->path() + "/image.png"));
  *image_request.add_styles() = Index(0);
  *image_request.add_styles() = Index(2);
  {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
    context.AddMetadata("x-request-id", "good-image-1");
    context.AddMetadata(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    v1::StylizeImageResponse response;
    grpc::Status status =
        stub_->StylizeImage(&context, image_request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message() << "\n"
                             << server_->Log();
    ASSERT_EQ(response.images_size(), 2);
  }
  // A bad request: style index out of range.
  {
    v1::StylizeImageRequest bad = image_request;
    bad.clear_styles();
    *bad.add_styles() = Index(99);
    grpc::ClientContext context;
    // An id longer than the server keeps: its first 128 bytes are logged.
    context.AddMetadata("x-request-id", "bad-" + std::string(196, 'x'));
    // Not a valid traceparent (upper case): ignored, as W3C says.
    context.AddMetadata(
        "traceparent",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01");
    v1::StylizeImageResponse response;
    grpc::Status status = stub_->StylizeImage(&context, bad, &response);
    ASSERT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  // A movie in two outputs: one style, one blend of two.
  v1::VideoJob job;
  *job.add_styles() = Index(1);
  v1::Style blend;
  blend.mutable_blend()->add_indices(0);
  blend.mutable_blend()->add_indices(3);
  blend.mutable_blend()->add_weights(0.5f);
  blend.mutable_blend()->add_weights(0.5f);
  *job.add_styles() = blend;
  const std::string movie = ReadFile(dir_->path() + "/movie.mp4");
  job.set_input_size(movie.size());
  VideoOutcome video = RunVideoJob(*stub_, movie, job);
  ASSERT_TRUE(video.status.ok()) << video.status.error_message() << "\n"
                                 << server_->Log();
  ASSERT_TRUE(video.accepted);
  ASSERT_EQ(video.summary.outputs_size(), 2);
  uint64_t video_frames = 0;
  for (const auto& output : video.summary.outputs()) {
    EXPECT_EQ(output.frames(), static_cast<uint64_t>(kMovieFrames));
    video_frames += output.frames();
  }

  // Wait for a scrape that saw all three RPCs finish.
  ASSERT_THAT(prometheus_->WaitForValue("sum(stylizer_requests_total)",
                                        requests0 + 3, kWait),
              IsOkAndHolds(requests0 + 3))
      << server_->Log();

  // Frames: exactly frames x styles (2 image outputs + 2 x 12 movie frames).
  const double items = 2 + static_cast<double>(video_frames);
  EXPECT_EQ(Value("sum(stylizer_frames_total)") - frames0, items);
  EXPECT_EQ(Value("sum(stylizer_frames_total{style=\"" + style1 + "\"})") -
                style1_frames0,
            kMovieFrames);
  EXPECT_GE(Value("stylizer_frames_total{style=\"blend\"}"), kMovieFrames);
  // Every batch counted: batch sizes add up to the items computed, one
  // observation per inference, and no batch above the model's maximum.
  const double batches = Value("stylizer_batch_size_count") - batches0;
  EXPECT_EQ(Value("stylizer_batch_size_sum") - batch_items0, items);
  EXPECT_EQ(Value("stylizer_inference_seconds_count") - inferences0, batches);
  EXPECT_GE(batches,
            std::ceil(items / std::max<uint32_t>(1, model_.max_batch_size())));
  EXPECT_LE(batches, items);
  // The bad request.
  EXPECT_EQ(Value("stylizer_requests_total{method=\"StylizeImage\","
                  "code=\"INVALID_ARGUMENT\"}"),
            1);
  EXPECT_EQ(Value("stylizer_requests_total{method=\"StylizeVideo\","
                  "code=\"OK\"}"),
            1);
  EXPECT_EQ(Value("stylizer_video_jobs_total{outcome=\"OK\"}"), 1);
  EXPECT_EQ(Value("stylizer_video_job_duration_seconds_count"), 1);
  // FFmpeg time: one decode per input frame, one encode per output frame.
  EXPECT_EQ(Value("stylizer_decode_seconds_count"), kMovieFrames);
  EXPECT_EQ(Value("stylizer_encode_seconds_count"),
            static_cast<double>(video_frames));
  EXPECT_EQ(Value("count(stylizer_model_info{name=\"" + model_.name() + "\"})"),
            1);
  // The archive's digest, in GetModelInfo and model_info alike.
  auto archive = ReadArchiveFile(BuildDir() + "/testdata/random4.pt");
  ASSERT_TRUE(archive.ok()) << archive.status();
  EXPECT_EQ(model_.archive_sha256(), archive->sha256);
  EXPECT_EQ(Value("count(stylizer_model_info{sha256=\"" + archive->sha256 +
                  "\"})"),
            1);
  // Bytes as the client counted them; nothing left in flight.
  EXPECT_EQ(Value("stylizer_received_bytes_total{method=\"StylizeVideo\"}"),
            static_cast<double>(movie.size()));
  EXPECT_EQ(Value("stylizer_sent_bytes_total{method=\"StylizeVideo\"}"),
            static_cast<double>(video.output_bytes));
  EXPECT_GT(video.output_bytes, 0u);
  EXPECT_EQ(Value("stylizer_queue_items"), 0);
  EXPECT_EQ(Value("sum(stylizer_active_streams)"), 0);
  EXPECT_EQ(Value("stylizer_serving"), 1);

  // Logs in JSON: every structured line parses, one "rpc" line per RPC.
  int image_rpcs = 0;
  int invalid_argument_rpcs = 0;
  const std::vector<std::string> lines =
      absl::StrSplit(server_->Log(), '\n', absl::SkipEmpty());
  for (const std::string& line : lines) {
    if (line.front() != '{') continue;
    google::protobuf::Struct entry;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(line, &entry).ok())
        << line;
    const auto& fields = entry.fields();
    ASSERT_TRUE(fields.count("ts") && fields.count("level") &&
                fields.count("event"))
        << line;
    if (fields.at("event").string_value() != "rpc") continue;
    if (fields.at("method").string_value() != "StylizeImage") continue;
    ++image_rpcs;
    ASSERT_TRUE(fields.count("request_id")) << line;
    if (fields.at("code").string_value() == "INVALID_ARGUMENT") {
      ++invalid_argument_rpcs;
      EXPECT_THAT(fields.at("message").string_value(), HasSubstr("99"));
      EXPECT_EQ(fields.at("request_id").string_value(),
                "bad-" + std::string(124, 'x'));
      EXPECT_EQ(fields.count("trace_id"), 0u) << line;
    } else {
      EXPECT_EQ(fields.at("request_id").string_value(), "good-image-1");
      ASSERT_TRUE(fields.count("trace_id")) << line;
      EXPECT_EQ(fields.at("trace_id").string_value(),
                "4bf92f3577b34da6a3ce929d0e0e4736");
    }
  }
  EXPECT_EQ(image_rpcs, 2);
  EXPECT_EQ(invalid_argument_rpcs, 1);
  // One "job" line for the movie, with the job id the client was given.
  int job_lines = 0;
  for (const auto& entry : JsonLines(server_->Log())) {
    const auto& fields = entry.fields();
    if (fields.at("event").string_value() != "job") continue;
    ++job_lines;
    EXPECT_EQ(fields.at("code").string_value(), "OK");
    EXPECT_EQ(fields.at("job_id").string_value(), video.job_id);
    EXPECT_EQ(fields.at("request_id").string_value(), "movie-1");
    EXPECT_EQ(fields.at("outputs").number_value(), 2);
    EXPECT_EQ(fields.at("frames").number_value(), kMovieFrames);
    EXPECT_EQ(fields.at("bytes_in").number_value(),
              static_cast<double>(movie.size()));
  }
  EXPECT_EQ(job_lines, 1);
}

}  // namespace
}  // namespace stylizer
