// The "job" log line of a movie, on a real server (loopback port, job queue,
// a copying model) without a metrics endpoint (`--metrics_port=-1`): the line
// is written all the same, and it names the caller's x-request-id and the
// trace id of its traceparent next to the job id, so an operator can go from
// a user's report, or a trace, to the job.
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "server/media/disk_budget.h"
#include "server/media/testing/test_movies.h"
#include "server/metrics/log.h"
#include "server/service/retry_info.h"
#include "server/service/server.h"
#include "server/service/status_util.h"
#include "server/service/stylize_video_reactor.h"
#include "server/service/testing/copy_model.h"
#include "server/service/testing/eventually.h"
#include "server/service/testing/loopback_server.h"
#include "server/service/testing/raw_stream.h"
#include "stylizer/v1/stylizer.grpc.pb.h"

extern "C" {
#include <libavutil/log.h>
}

namespace stylizer {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
namespace movies = media::testing;

class VideoJobLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    av_log_set_level(AV_LOG_ERROR);
    dir_ = movies::MakeTempDir("video-log-test");
    ASSERT_TRUE(movies::MakeMovie("-f lavfi -i testsrc2=size=64x48:rate=10:"
                                  "duration=1 -c:v libx264 -preset ultrafast "
                                  "-pix_fmt yuv420p",
                                  dir_ + "/small.mp4")
                    .ok());
    SetLogSink([this](absl::string_view line) {
      absl::MutexLock lock(&mu_);
      lines_.emplace_back(line);
    });
    Server::Options o = testing::LoopbackServerOptions();
    StylizeVideoOptions video;
    video.preset = "ultrafast";
    video.encoder_threads = 1;
    o.video = MakeStylizeVideoReactorFactory(video);
    Configure(&o);
    // No o.metrics: the server of --metrics_port=-1.
    absl::StatusOr<std::unique_ptr<Server>> server =
        testing::StartReadyServer(o);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = testing::LoopbackStub(*server_);
  }
  virtual void Configure(Server::Options* o) {}
  void TearDown() override {
    if (server_ != nullptr) server_->Drain(absl::Seconds(10));
    server_.reset();
    SetLogSink(nullptr);
  }

  // Sends `movie` as one job in one style; returns the call's status and
  // sets *accepted.
  grpc::Status RunJob(const std::string& movie, grpc::ClientContext* context,
                      v1::JobAccepted* accepted,
                      v1::JobSummary* summary = nullptr) {
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(120));
    auto stream = stub_->StylizeVideo(context);
    std::thread writer([&] {
      v1::StylizeVideoRequest request;
      request.mutable_job()->add_styles()->set_index(1);
      if (!stream->Write(request)) return;
      request.set_chunk(movie);
      if (stream->Write(request)) stream->WritesDone();
    });
    v1::StylizeVideoResponse response;
    while (stream->Read(&response)) {
      if (response.has_accepted()) *accepted = response.accepted();
      if (response.has_summary() && summary != nullptr) {
        *summary = response.summary();
      }
    }
    writer.join();
    return stream->Finish();
  }

  // Sends `movie` as one job in one style at CRF 1 on a connection of its
  // own with a fixed 64 KiB window (no growth by bandwidth probes), reads
  // nothing for `wait`, cancels, and returns the job's log line: the output
  // a client does not read stalls after that window.
  std::string RunUnreadJob(const std::string& movie, absl::Duration wait) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 64 * 1024);
    auto stub = v1::Stylizer::NewStub(
        grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                  grpc::InsecureChannelCredentials(), args));
    grpc::ClientContext context;
    auto stream = stub->StylizeVideo(&context);
    v1::StylizeVideoRequest request;
    request.mutable_job()->add_styles()->set_index(1);
    request.mutable_job()->set_crf(1);
    if (!stream->Write(request)) return "";
    request.set_chunk(movie);
    if (!stream->Write(request)) return "";
    stream->WritesDone();
    absl::SleepFor(wait);
    context.TryCancel();
    stream->Finish();
    std::vector<std::string> jobs;
    if (!testing::Eventually(
            [&] { return !(jobs = LinesWith(" job job_id=")).empty(); })) {
      return "";
    }
    return jobs[0];
  }

  std::vector<std::string> LinesWith(absl::string_view text) {
    absl::MutexLock lock(&mu_);
    std::vector<std::string> found;
    for (const std::string& line : lines_) {
      if (absl::StrContains(line, text)) found.push_back(line);
    }
    return found;
  }

  std::string dir_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<v1::Stylizer::Stub> stub_;
  absl::Mutex mu_;
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
};

TEST_F(VideoJobLogTest, TheJobLineNamesTheRequestIdWithoutMetrics) {
  const std::string movie = movies::ReadFile(dir_ + "/small.mp4").value_or("");
  ASSERT_FALSE(movie.empty());
  grpc::ClientContext context;
  context.AddMetadata("x-request-id", "movie-7f3a");
  context.AddMetadata(
      "traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  v1::JobAccepted accepted;
  v1::JobSummary summary;
  const grpc::Status status = RunJob(movie, &context, &accepted, &summary);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(summary.skipped_packets(), 0u);
  const std::string job_id = accepted.job_id();
  ASSERT_FALSE(job_id.empty());
  EXPECT_EQ(accepted.input().hdr_transfer(), "");

  // The job line is written before the status is sent.
  const std::vector<std::string> jobs = LinesWith(" job job_id=");
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_THAT(jobs[0],
              HasSubstr(" job job_id=" + job_id + " request_id=movie-7f3a "));
  EXPECT_THAT(jobs[0], HasSubstr(" code=OK "));
  EXPECT_THAT(jobs[0], HasSubstr(" frames=10 "));
  EXPECT_THAT(jobs[0], Not(HasSubstr(" hdr=")));
  EXPECT_THAT(jobs[0], Not(HasSubstr(" skipped_packets=")));
}

// The acceptance names the model archive that stylizes the job: the CLI's
// --split checks that every segment had the same (replicas serve different
// archives during a rollout).
class VideoJobArchiveTest : public VideoJobLogTest {
  void Configure(Server::Options* o) override {
    o->load_model = []() -> absl::StatusOr<std::unique_ptr<StyleModel>> {
      auto model = std::make_unique<testing::CopyModel>(4);
      model->mutable_description().archive_sha256 = std::string(64, 'c');
      return std::unique_ptr<StyleModel>(std::move(model));
    };
  }
};

TEST_F(VideoJobArchiveTest, TheAcceptanceNamesTheModelArchive) {
  const std::string movie = movies::ReadFile(dir_ + "/small.mp4").value_or("");
  ASSERT_FALSE(movie.empty());
  grpc::ClientContext context;
  v1::JobAccepted accepted;
  v1::JobSummary summary;
  ASSERT_TRUE(RunJob(movie, &context, &accepted, &summary).ok());
  EXPECT_EQ(accepted.archive_sha256(), std::string(64, 'c'));
}

// A damaged frame (here a JPEG whose frame header names arithmetic coding)
// is skipped, as ffmpeg skips it, and the job line and the client's
// JobSummary count it: the outputs were a frame short and nothing said so.
TEST_F(VideoJobLogTest, ASkippedDamagedFrameIsCountedInTheJobLineAndSummary) {
  ASSERT_TRUE(movies::MakeMovie("-f lavfi -i testsrc2=size=64x48:rate=10:"
                                "duration=1 -c:v mjpeg -f avi",
                                dir_ + "/mjpeg.avi")
                  .ok());
  std::string movie = movies::ReadFile(dir_ + "/mjpeg.avi").value_or("");
  size_t at = 0;
  for (int i = 0; i < 5; ++i) {
    at = movie.find("\xff\xc0", i == 0 ? 0 : at + 1);
    ASSERT_NE(at, std::string::npos);
  }
  movie[at + 1] = '\xc9';  // the fifth frame's SOF0 becomes SOF9
  grpc::ClientContext context;
  v1::JobAccepted accepted;
  v1::JobSummary summary;
  const grpc::Status status = RunJob(movie, &context, &accepted, &summary);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(summary.skipped_packets(), 1u);
  ASSERT_EQ(summary.outputs_size(), 1);
  EXPECT_EQ(summary.outputs(0).frames(), 9u);
  const std::vector<std::string> jobs = LinesWith(" job job_id=");
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_THAT(jobs[0], HasSubstr(" code=OK "));
  EXPECT_THAT(jobs[0], HasSubstr(" frames=9 skipped_packets=1 "));
}

// Two MPEG-TS recordings joined with `cat` (both start at 1.4 s): the
// second's frames were squeezed one tick apart after the first's, so the
// output lasted 1 s of the 2 and the job ended OK without a word. They now
// follow on, and the job line counts the jump.
TEST_F(VideoJobLogTest, JoinedRecordingsKeepTheirDurationAndAreCounted) {
  ASSERT_TRUE(movies::MakeMovie("-f lavfi -i testsrc2=size=64x48:rate=10:"
                                "duration=1 -c:v libx264 -preset ultrafast "
                                "-pix_fmt yuv420p -f mpegts",
                                dir_ + "/part.ts")
                  .ok());
  const std::string part = movies::ReadFile(dir_ + "/part.ts").value_or("");
  ASSERT_FALSE(part.empty());
  grpc::ClientContext context;
  v1::JobAccepted accepted;
  v1::JobSummary summary;
  const grpc::Status status =
      RunJob(part + part, &context, &accepted, &summary);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(summary.outputs_size(), 1);
  EXPECT_EQ(summary.outputs(0).frames(), 20u);
  EXPECT_NEAR(summary.outputs(0).duration_seconds(), 2.0, 0.01);
  const std::vector<std::string> jobs = LinesWith(" job job_id=");
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_THAT(jobs[0], HasSubstr(" frames=20 timestamp_jumps=1 "));
}

// A client that cancels its call, before its VideoJob or while uploading:
// the call is logged (and counted) as CANCELLED. The cancel ends the
// server's pending read too, and that used to be taken for the end of the
// upload: "the stream ended before the VideoJob message" (INVALID_ARGUMENT)
// or a truncated movie handed to the decoder.
TEST_F(VideoJobLogTest, ACancelledCallIsLoggedAsCancelled) {
  const std::string movie = movies::ReadFile(dir_ + "/small.mp4").value_or("");
  ASSERT_FALSE(movie.empty());
  constexpr int kCalls = 8;
  for (int i = 0; i < kCalls; ++i) {
    grpc::ClientContext context;
    auto stream = stub_->StylizeVideo(&context);
    if (i % 2 == 1) {
      v1::StylizeVideoRequest request;
      request.mutable_job()->add_styles()->set_index(1);
      ASSERT_TRUE(stream->Write(request));
      request.set_chunk(movie.substr(0, movie.size() / 2));
      ASSERT_TRUE(stream->Write(request));
    }
    absl::SleepFor(absl::Milliseconds(100));
    context.TryCancel();
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  std::vector<std::string> calls;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while ((calls = LinesWith(" rpc method=StylizeVideo ")).size() < kCalls &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_EQ(calls.size(), static_cast<size_t>(kCalls));
  for (const std::string& line : calls) {
    EXPECT_THAT(line, HasSubstr("code=CANCELLED")) << line;
  }
}

// An HDR movie: JobAccepted names its transfer (the frames are tone-mapped
// to SDR), and so does the job line, for operators who count such jobs.
TEST_F(VideoJobLogTest, AnHdrMovieIsNamedInJobAcceptedAndTheJobLine) {
  ASSERT_TRUE(movies::MakeMovie("-f lavfi -i testsrc2=size=64x48:rate=10:"
                                "duration=0.5 -vf format=yuv420p10le -c:v "
                                "libx264 -preset ultrafast -color_primaries "
                                "bt2020 -color_trc arib-std-b67 -colorspace "
                                "bt2020nc",
                                dir_ + "/hlg.mkv")
                  .ok());
  const std::string movie = movies::ReadFile(dir_ + "/hlg.mkv").value_or("");
  ASSERT_FALSE(movie.empty());
  grpc::ClientContext context;
  v1::JobAccepted accepted;
  const grpc::Status status = RunJob(movie, &context, &accepted);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(accepted.input().hdr_transfer(), "arib-std-b67");
  const std::vector<std::string> jobs = LinesWith(" job job_id=");
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_THAT(jobs[0], HasSubstr(" height=48 hdr=arib-std-b67 frames=5 "));
}

// The bytes sent are counted as their writes complete. They were counted as
// the encoders queued them: a call that ended with output queued for a
// client that never read it logged (and counted in sent_bytes_total) up to
// --video_pending_output_bytes it never sent.
TEST_F(VideoJobLogTest, BytesOutAreTheBytesWritten) {
  // A small upload that becomes a large output at CRF 1.
  ASSERT_TRUE(movies::MakeMovie("-f lavfi -i testsrc2=size=1280x720:rate=30:"
                                "duration=4 -c:v libx264 -preset ultrafast "
                                "-crf 40 -pix_fmt yuv420p",
                                dir_ + "/large-output.mp4")
                  .ok());
  const std::string movie =
      movies::ReadFile(dir_ + "/large-output.mp4").value_or("");
  ASSERT_FALSE(movie.empty());
  // Nothing read: the encoders fill the server's output backlog (4 MiB).
  const std::string job = RunUnreadJob(movie, absl::Seconds(3));
  ASSERT_FALSE(job.empty());
  const size_t at = job.find(" bytes_out=");
  ASSERT_NE(at, std::string::npos) << job;
  const int64_t bytes_out = std::stoll(job.substr(at + 11));
  // The window, gRPC's and the sockets' buffers: far below the backlog.
  EXPECT_LT(bytes_out, 2 << 20) << job;
}

// A call that ends early counts in its rpc line the outputs it had produced:
// it said frames=0 for every job that did not end OK. Here the client
// cancels once it has the first output bytes (frames were stylized and
// encoded before them).
TEST_F(VideoJobLogTest, ACallThatEndsEarlyCountsItsOutputs) {
  const std::string movie = movies::ReadFile(dir_ + "/small.mp4").value_or("");
  ASSERT_FALSE(movie.empty());
  grpc::ClientContext context;
  auto stream = stub_->StylizeVideo(&context);
  v1::StylizeVideoRequest request;
  request.mutable_job()->add_styles()->set_index(1);
  ASSERT_TRUE(stream->Write(request));
  request.set_chunk(movie);
  ASSERT_TRUE(stream->Write(request));
  stream->WritesDone();
  v1::StylizeVideoResponse response;
  bool output = false;
  while (!output && stream->Read(&response)) {
    output = response.has_chunk();
    ASSERT_FALSE(response.has_summary()) << "the job ended before its output";
  }
  ASSERT_TRUE(output);
  context.TryCancel();
  while (stream->Read(&response)) {
  }
  stream->Finish();
  std::vector<std::string> calls;
  ASSERT_TRUE(testing::Eventually([&] {
    return !(calls = LinesWith(" rpc method=StylizeVideo ")).empty();
  }));
  // Mostly CANCELLED; OK where the server finished this short job first,
  // and then its summary's frames count. Either way not 0.
  const size_t at = calls[0].find(" frames=");
  ASSERT_NE(at, std::string::npos) << calls[0];
  EXPECT_GT(std::stoll(calls[0].substr(at + 8)), 0) << calls[0];
}

// A job that fails counts in its job line the frames it had decoded: it said
// frames=0 for every job that failed before its first progress report, a
// truncated movie among them (where how many frames came is the question).
TEST_F(VideoJobLogTest, AFailedJobCountsTheFramesItDecoded) {
  ASSERT_TRUE(movies::MakeMovie("-f lavfi -i testsrc2=size=64x48:rate=10:"
                                "duration=2 -c:v libx264 -preset ultrafast "
                                "-g 1 -pix_fmt yuv420p -movflags +faststart",
                                dir_ + "/whole.mp4")
                  .ok());
  const std::string whole = movies::ReadFile(dir_ + "/whole.mp4").value_or("");
  ASSERT_FALSE(whole.empty());
  grpc::ClientContext context;
  v1::JobAccepted accepted;
  const grpc::Status status =
      RunJob(whole.substr(0, whole.size() * 6 / 10), &context, &accepted);
  ASSERT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << status.error_message();
  ASSERT_THAT(status.error_message(), HasSubstr("truncated"));
  std::vector<std::string> jobs;
  ASSERT_TRUE(testing::Eventually(
      [&] { return !(jobs = LinesWith(" job job_id=")).empty(); }));
  const size_t at = jobs[0].find(" frames=");
  ASSERT_NE(at, std::string::npos) << jobs[0];
  const int frames = std::stoi(jobs[0].substr(at + 8));
  EXPECT_GT(frames, 0) << jobs[0];
  EXPECT_LT(frames, 20) << jobs[0];
}

// An upload that ends before the input_size its job announced is refused:
// a Matroska or MPEG-TS movie cut short came out OK with the frames it had,
// and an MP4 was called truncated.
TEST_F(VideoJobLogTest, AnUploadShorterThanItsInputSizeIsRefused) {
  const std::string movie = movies::ReadFile(dir_ + "/small.mp4").value_or("");
  ASSERT_FALSE(movie.empty());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(120));
  auto stream = stub_->StylizeVideo(&context);
  v1::StylizeVideoRequest request;
  request.mutable_job()->add_styles()->set_index(1);
  request.mutable_job()->set_input_size(movie.size());
  ASSERT_TRUE(stream->Write(request));
  request.set_chunk(movie.substr(0, movie.size() / 2));
  ASSERT_TRUE(stream->Write(request));
  stream->WritesDone();
  v1::StylizeVideoResponse response;
  while (stream->Read(&response)) {
  }
  const grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(
      status.error_message(),
      HasSubstr(absl::StrCat("the upload ended after ", movie.size() / 2,
                             " of the ", movie.size(), " bytes")));
}

// A damaged message in the middle of an upload fails the job, naming it:
// gRPC's typed reactor took it for the end of the upload, and the part
// before it was stylized as a whole movie (or called truncated).
TEST_F(VideoJobLogTest, ADamagedMessageFailsTheUpload) {
  ASSERT_TRUE(movies::MakeMovie("-f lavfi -i testsrc2=size=64x48:rate=10:"
                                "duration=1 -c:v libx264 -preset ultrafast "
                                "-pix_fmt yuv420p -f mpegts",
                                dir_ + "/small.ts")
                  .ok());
  const std::string movie = movies::ReadFile(dir_ + "/small.ts").value_or("");
  ASSERT_FALSE(movie.empty());
  v1::StylizeVideoRequest job;
  job.mutable_job()->add_styles()->set_index(1);
  v1::StylizeVideoRequest head, tail;
  head.set_chunk(movie.substr(0, movie.size() * 6 / 10));
  tail.set_chunk(movie.substr(movie.size() * 6 / 10));
  // Field 2 (chunk) whose length runs past the end of the message.
  const std::string damaged("\x12\xff\xff\xff\xff\x0f", 6);
  const testing::RawStreamResult result = testing::RawStreamCall(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                          grpc::InsecureChannelCredentials()),
      "/stylizer.v1.Stylizer/StylizeVideo",
      {job.SerializeAsString(), head.SerializeAsString(), damaged,
       tail.SerializeAsString()});
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << result.status.error_message();
  EXPECT_THAT(result.status.error_message(),
              HasSubstr("is not a StylizeVideoRequest"));
}

class CallLogLimitTest : public VideoJobLogTest {
 protected:
  void Configure(Server::Options* o) override {
    o->max_receive_message_bytes = 100000;
  }
};

// A frame stream whose second message is over --max_receive_message_bytes:
// gRPC ends the server's reads as a half-close would, and its client gets
// RESOURCE_EXHAUSTED. The call's rpc line said code=OK, and its client
// quotes the request id of a failed call.
TEST_F(CallLogLimitTest, AnOversizedMessageIsNotLoggedOk) {
  grpc::ClientContext context;
  context.AddMetadata("x-request-id", "oversized-frame");
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(60));
  auto stream = stub_->StylizeFrames(&context);
  v1::StylizeFramesRequest request;
  request.add_styles()->set_index(1);
  v1::StylizeFramesResponse response;
  // 192 bytes, answered; then 270000: the server has nothing left to do
  // when its read fails.
  for (const int side : {8, 300}) {
    v1::RawImage* raw = request.mutable_image()->mutable_raw();
    raw->set_width(side);
    raw->set_height(side);
    raw->set_rgb(std::string(side * side * 3, '\x40'));
    request.set_sequence(side);
    if (!stream->Write(request) || side == 300) break;
    ASSERT_TRUE(stream->Read(&response));
  }
  stream->WritesDone();
  while (stream->Read(&response)) {
  }
  const grpc::Status status = stream->Finish();
  ASSERT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << status.error_message();
  std::vector<std::string> calls;
  ASSERT_TRUE(testing::Eventually([&] {
    return !(calls = LinesWith("request_id=oversized-frame")).empty();
  }));
  EXPECT_THAT(calls[0], Not(HasSubstr("code=OK"))) << calls[0];
  EXPECT_THAT(calls[0], HasSubstr("--max_receive_message_bytes")) << calls[0];
}

class VideoJobBacklogTest : public VideoJobLogTest {
 protected:
  void Configure(Server::Options* o) override {
    StylizeVideoOptions video;
    video.preset = "ultrafast";
    video.encoder_threads = 1;
    video.max_pending_output_bytes = 256 << 10;
    o->video = MakeStylizeVideoReactorFactory(video);
  }
};

// A client that stops reading stops the job: the encoders wait while the
// output backlog is over its bound, so the window fills and decoding stops,
// instead of the whole movie being stylized, encoded and held in memory for
// a reader that may never come. (No test looked at the bound: with its wait
// gone every test passed.) Bytes, not time, cap the frames here, so a slow
// machine cannot fail the test; on one slow enough the unbounded job might
// not finish in the wait either, and the test would miss that fault there.
TEST_F(VideoJobBacklogTest, AClientThatStopsReadingStopsTheJob) {
  // Noise: every frame is large at CRF 1 (about 60 KB at 320x180).
  constexpr int kFrames = 100;
  ASSERT_TRUE(movies::MakeMovie("-f lavfi -i testsrc2=size=320x180:rate=10:"
                                "duration=10 -vf noise=alls=60:allf=t "
                                "-c:v libx264 -preset ultrafast -crf 30 "
                                "-pix_fmt yuv420p",
                                dir_ + "/noise.mp4")
                  .ok());
  const std::string movie = movies::ReadFile(dir_ + "/noise.mp4").value_or("");
  ASSERT_FALSE(movie.empty());
  // Nothing read. Unbounded, the copying model and ultrafast encoder finish
  // the 100 frames in about a second here.
  const std::string job = RunUnreadJob(movie, absl::Seconds(5));
  ASSERT_FALSE(job.empty());
  const size_t at = job.find(" frames=");
  ASSERT_NE(at, std::string::npos) << job;
  const int frames = std::stoi(job.substr(at + 8));
  // The frames decoded, as last reported: 256 KiB of backlog and 64 KiB of
  // window hold a few frames, the frame window a few more (0 was reported
  // here; 100 with the wait gone).
  EXPECT_LT(frames, kFrames * 6 / 10) << job;
}

class VideoJobDiskBudgetTest : public VideoJobLogTest {
 protected:
  void Configure(Server::Options* o) override {
    movie_ = movies::ReadFile(dir_ + "/small.mp4").value_or("");
    budget_ = std::make_shared<media::DiskBudget>(movie_.size() + 100);
    StylizeVideoOptions video;
    video.preset = "ultrafast";
    video.encoder_threads = 1;
    video.spool_memory_bytes = 1;  // every upload goes to the disk
    video.spool_disk_budget = budget_;
    o->video = MakeStylizeVideoReactorFactory(video);
  }

  // Opens a job announcing `input_size` and sends `chunk` (maybe none).
  std::unique_ptr<grpc::ClientReaderWriter<v1::StylizeVideoRequest,
                                           v1::StylizeVideoResponse>>
  Open(grpc::ClientContext* context, uint64_t input_size,
       const std::string& chunk) {
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(120));
    auto stream = stub_->StylizeVideo(context);
    v1::StylizeVideoRequest request;
    request.mutable_job()->add_styles()->set_index(1);
    request.mutable_job()->set_input_size(input_size);
    stream->Write(request);
    if (!chunk.empty()) {
      request.set_chunk(chunk);
      stream->Write(request);
    }
    return stream;
  }

  static grpc::Status Finish(
      grpc::ClientReaderWriter<v1::StylizeVideoRequest,
                               v1::StylizeVideoResponse>* stream) {
    stream->WritesDone();
    v1::StylizeVideoResponse response;
    while (stream->Read(&response)) {
    }
    return stream->Finish();
  }

  std::string movie_;
  std::shared_ptr<media::DiskBudget> budget_;
};

// The calls' spool files share the disk budget (--spool_disk_bytes), and an
// announced upload takes its room before it sends a byte: busy (retry hint)
// while another upload holds it, refused for good when larger than all of
// it; a job gives its room back when it ends.
TEST_F(VideoJobDiskBudgetTest, UploadsShareTheDiskBudget) {
  ASSERT_FALSE(movie_.empty());
  grpc::ClientContext holder_context;
  auto holder =
      Open(&holder_context, movie_.size(), movie_.substr(0, movie_.size() / 2));
  ASSERT_TRUE(
      testing::Eventually([&] { return budget_->used() == movie_.size(); }));

  grpc::ClientContext busy_context;
  const grpc::Status busy =
      Finish(Open(&busy_context, movie_.size(), "").get());
  EXPECT_EQ(busy.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(busy.error_message(), HasSubstr("--spool_disk_bytes"));
  EXPECT_TRUE(RetryDelay(FromGrpcStatus(busy)).has_value());

  grpc::ClientContext large_context;
  const grpc::Status large =
      Finish(Open(&large_context, 3 * movie_.size(), "").get());
  EXPECT_EQ(large.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(large.error_message(),
              HasSubstr("larger than the server's disk"));
  EXPECT_FALSE(RetryDelay(FromGrpcStatus(large)).has_value());

  holder_context.TryCancel();
  Finish(holder.get());
  ASSERT_TRUE(testing::Eventually([&] { return budget_->used() == 0; }))
      << budget_->used();
  grpc::ClientContext context;
  const grpc::Status whole =
      Finish(Open(&context, movie_.size(), movie_).get());
  EXPECT_TRUE(whole.ok()) << whole.error_message();
  EXPECT_TRUE(testing::Eventually([&] { return budget_->used() == 0; }));
}

class VideoJobLogOneStreamTest : public VideoJobLogTest {
 protected:
  void Configure(Server::Options* o) override {
    o->limits.max_concurrent_streams = 1;
  }
};

// A call refused at the door (no stream slot free) was never a job the
// server took on: its rpc line says so, and no job line is written (one was,
// with the job id of a job that never existed).
TEST_F(VideoJobLogOneStreamTest, ARefusedCallWritesNoJobLine) {
  grpc::ClientContext holder_context;
  auto holder = stub_->StylizeVideo(&holder_context);
  // The holder's slot is taken once its reactor has started.
  ASSERT_TRUE(testing::Eventually(
      [&] { return server_->context()->active_streams() == 1; }));
  grpc::ClientContext context;
  context.AddMetadata("x-request-id", "refused-1");
  v1::JobAccepted accepted;
  const grpc::Status status = RunJob("", &context, &accepted);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << status.error_message();
  EXPECT_EQ(LinesWith("request_id=refused-1").size(), 1u);  // the rpc line
  EXPECT_TRUE(LinesWith(" job job_id=").empty());
  holder_context.TryCancel();
  holder->Finish().ok();
}

}  // namespace
}  // namespace stylizer
