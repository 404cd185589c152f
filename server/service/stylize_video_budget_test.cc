// StylizeVideo in the memory budget, on a real server (loopback port, job
// queue, a copying model) with movies made by the ffmpeg tool: a job reserves
// its fixed cost (spool memory, unsent output) when its VideoJob arrives and
// its frame window and encoders once the input is probed; a job that does not
// fit is refused with RESOURCE_EXHAUSTED, the numbers and a hint; everything
// is given back when jobs end.
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "server/media/testing/test_movies.h"
#include "server/media/video_pipeline.h"
#include "server/service/retry_info.h"
#include "server/service/server.h"
#include "server/service/status_util.h"
#include "server/service/stylize_video_reactor.h"
#include "server/service/testing/loopback_server.h"
#include "server/service/testing/eventually.h"
#include "stylizer/v1/stylizer.grpc.pb.h"

extern "C" {
#include <libavutil/log.h>
}

namespace stylizer {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
namespace movies = media::testing;
using ::stylizer::testing::Eventually;

// How long a reservation may take to come or go (video jobs end on threads
// of their own).
constexpr absl::Duration kPatience = absl::Seconds(60);

constexpr int64_t kGrpcShare = 600000;
constexpr int64_t kMiB = 1 << 20;
// A one-style job's fixed cost: 12 MiB of spool memory, 1 MiB of unsent
// output and one 64 KiB chunk per output plus one.
constexpr int64_t kFixedOneStyle = 12 * kMiB + kMiB + 2 * 64 * 1024;

// The frames of a 64x48 job with one style: a window of 16 frames (input and
// output) plus the one being decoded, and one encoder (ultrafast, 1 thread).
int64_t SmallFrames() {
  return 16 * 64 * 48 * 3 * 2 + 64 * 48 * 3 +
         media::VideoPipeline::EstimateEncoderBytes(64, 48, "ultrafast", 1);
}

// The decoder of a width x height 4:2:0 input with 2 threads: 16 reference
// frames, one per thread and the one being decoded.
int64_t Decoder(int width, int height) {
  return int64_t{width} * height * 3 / 2 * (16 + 2 + 1);
}

// Room for one job's fixed cost and the frames of a small movie, decoded
// from up to 320x240, not for two fixed costs.
int64_t Budget() {
  return kGrpcShare + kFixedOneStyle + SmallFrames() + Decoder(320, 240) +
         100000;
}

// What one StylizeVideo call returned.
struct VideoCall {
  grpc::Status status;
  bool accepted = false;
  bool summary = false;
  int64_t output_bytes = 0;
};

VideoCall CallVideo(v1::Stylizer::Stub* stub, const v1::VideoJob& job,
                    const std::string& bytes) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(120));
  auto stream = stub->StylizeVideo(&context);
  std::thread writer([&] {
    v1::StylizeVideoRequest request;
    *request.mutable_job() = job;
    if (!stream->Write(request)) return;
    for (size_t pos = 0; pos < bytes.size(); pos += 16 * 1024) {
      request.set_chunk(bytes.substr(pos, 16 * 1024));
      if (!stream->Write(request)) return;
    }
    stream->WritesDone();
  });
  VideoCall call;
  v1::StylizeVideoResponse response;
  while (stream->Read(&response)) {
    call.accepted |= response.has_accepted();
    call.summary |= response.has_summary();
    if (response.has_chunk())
      call.output_bytes += response.chunk().data().size();
  }
  writer.join();
  call.status = stream->Finish();
  return call;
}

class VideoMemoryBudgetTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    av_log_set_level(AV_LOG_ERROR);
    dir_ = new std::string(movies::MakeTempDir("video-budget-test"));
    const std::string x264 = "-c:v libx264 -preset ultrafast -pix_fmt yuv420p";
    ASSERT_TRUE(
        movies::MakeMovie(
            "-f lavfi -i testsrc2=size=64x48:rate=10:duration=1 " + x264,
            Path("small.mp4"))
            .ok());
    ASSERT_TRUE(
        movies::MakeMovie(
            "-f lavfi -i testsrc2=size=320x240:rate=10:duration=1 " + x264,
            Path("large.mp4"))
            .ok());
    ASSERT_TRUE(
        movies::MakeMovie(
            "-f lavfi -i testsrc2=size=1280x960:rate=10:duration=0.3 " + x264,
            Path("huge.mp4"))
            .ok());
  }

  void SetUp() override {
    Server::Options o = testing::LoopbackServerOptions();
    o.memory_budget_bytes = Budget();
    o.max_receive_message_bytes = 300000;
    o.grpc_memory_quota_bytes = kGrpcShare;
    StylizeVideoOptions video;
    video.spool_memory_bytes = 12 * kMiB;
    video.max_pending_output_bytes = kMiB;
    video.preset = "ultrafast";
    video.encoder_threads = 1;
    o.video = MakeStylizeVideoReactorFactory(video);
    absl::StatusOr<std::unique_ptr<Server>> server =
        testing::StartReadyServer(o);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = testing::LoopbackStub(*server_);
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Drain(absl::Seconds(10));
  }

  int64_t Reserved() const { return server_->memory_budget()->reserved(); }
  static std::string Path(const std::string& name) {
    return absl::StrCat(*dir_, "/", name);
  }
  static std::string Bytes(const std::string& name) {
    return movies::ReadFile(Path(name)).value_or("");
  }
  static v1::VideoJob OneStyle() {
    v1::VideoJob job;
    job.add_styles()->set_index(1);
    return job;
  }

  static std::string* dir_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<v1::Stylizer::Stub> stub_;
};

std::string* VideoMemoryBudgetTest::dir_ = nullptr;

// While one job holds its fixed cost (its VideoJob sent, no movie bytes yet),
// a second one does not fit: RESOURCE_EXHAUSTED with the numbers and a retry
// hint. Once the first ends, the second runs, and everything is given back.
TEST_F(VideoMemoryBudgetTest, ASecondMovieIsRefusedWhileTheFirstRuns) {
  ASSERT_EQ(Reserved(), kGrpcShare);
  // Two do not fit.
  ASSERT_GT(kFixedOneStyle, SmallFrames() + Decoder(320, 240) + 100000);
  const std::string movie = Bytes("small.mp4");
  ASSERT_FALSE(movie.empty());
  {
    grpc::ClientContext first_context;
    auto first = stub_->StylizeVideo(&first_context);
    v1::StylizeVideoRequest request;
    *request.mutable_job() = OneStyle();
    ASSERT_TRUE(first->Write(request));
    ASSERT_TRUE(Eventually([&] { return Reserved() > kGrpcShare; }, kPatience));
    EXPECT_EQ(Reserved(), kGrpcShare + kFixedOneStyle);

    VideoCall second = CallVideo(stub_.get(), OneStyle(), movie);
    EXPECT_EQ(second.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
        << second.status.error_message();
    EXPECT_THAT(
        second.status.error_message(),
        HasSubstr(absl::StrCat("upload spool (", 12 * kMiB, " bytes)")));
    EXPECT_THAT(second.status.error_message(), HasSubstr("retry"));
    // Busy: the hint a client waits for (RetryInfo in the details).
    EXPECT_TRUE(RetryDelay(FromGrpcStatus(second.status)).has_value());
    EXPECT_FALSE(second.accepted);
    EXPECT_EQ(Reserved(), kGrpcShare + kFixedOneStyle);

    first_context.TryCancel();
    v1::StylizeVideoResponse response;
    while (first->Read(&response)) {
    }
    EXPECT_EQ(first->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  ASSERT_TRUE(Eventually([&] { return Reserved() == kGrpcShare; }, kPatience))
      << Reserved();

  VideoCall alone = CallVideo(stub_.get(), OneStyle(), movie);
  EXPECT_TRUE(alone.status.ok()) << alone.status.error_message();
  EXPECT_TRUE(alone.summary);
  EXPECT_GT(alone.output_bytes, 0);
  EXPECT_TRUE(Eventually([&] { return Reserved() == kGrpcShare; }, kPatience))
      << Reserved();
}

// A small announced upload is charged its size, not the spool's whole
// memory.
TEST_F(VideoMemoryBudgetTest, AnAnnouncedSmallUploadIsChargedItsSize) {
  grpc::ClientContext context;
  auto stream = stub_->StylizeVideo(&context);
  v1::StylizeVideoRequest request;
  *request.mutable_job() = OneStyle();
  request.mutable_job()->set_input_size(1000);
  ASSERT_TRUE(stream->Write(request));
  ASSERT_TRUE(Eventually([&] { return Reserved() > kGrpcShare; }, kPatience));
  // One spool block of 1 MiB instead of 12 MiB.
  EXPECT_EQ(Reserved(), kGrpcShare + kFixedOneStyle - 11 * kMiB);
  context.TryCancel();
  v1::StylizeVideoResponse response;
  while (stream->Read(&response)) {
  }
  stream->Finish();
  EXPECT_TRUE(Eventually([&] { return Reserved() == kGrpcShare; }, kPatience))
      << Reserved();
}

// Once probed, a movie whose frame window and encoders do not fit beside its
// fixed cost is refused before JobAccepted, with the numbers and what to
// change; the same movie downscaled and with one style runs.
TEST_F(VideoMemoryBudgetTest, FramesThatDoNotFitAreRefusedAfterTheProbe) {
  v1::VideoJob job = OneStyle();
  job.add_styles()->set_index(2);
  VideoCall call = CallVideo(stub_.get(), job, Bytes("large.mp4"));
  EXPECT_EQ(call.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << call.status.error_message();
  EXPECT_FALSE(call.accepted);
  // 16 frames of 320x240 with 2 styles: 16 * 230400 * 3 + 230400.
  EXPECT_THAT(call.status.error_message(),
              HasSubstr("frame window (16 frames, 11289600 bytes)"));
  EXPECT_THAT(call.status.error_message(), HasSubstr("2 encoders"));
  EXPECT_THAT(call.status.error_message(), HasSubstr("320x240 video job"));
  EXPECT_THAT(call.status.error_message(), HasSubstr("max_side"));
  // Its own fixed cost is what leaves no room: waiting cannot help, so no
  // retry hint (it had one, and clients retried it in vain).
  EXPECT_THAT(call.status.error_message(),
              HasSubstr("this call already holds"));
  EXPECT_FALSE(RetryDelay(FromGrpcStatus(call.status)).has_value());
  EXPECT_TRUE(Eventually([&] { return Reserved() == kGrpcShare; }, kPatience))
      << Reserved();

  // As the hint says: downscaled, with one style, it fits.
  job = OneStyle();
  job.set_max_side(64);
  call = CallVideo(stub_.get(), job, Bytes("large.mp4"));
  EXPECT_TRUE(call.status.ok()) << call.status.error_message();
  EXPECT_TRUE(call.summary);
  EXPECT_TRUE(Eventually([&] { return Reserved() == kGrpcShare; }, kPatience))
      << Reserved();
}

// The decoder works at the input's own size, whatever max_side makes of
// the outputs: a large movie sent with a small max_side used to be charged
// for its small frames only (an 8192x8192 one held 2.4 GB uncounted). It is
// refused after the probe, saying that only a smaller input helps.
TEST_F(VideoMemoryBudgetTest, TheDecoderIsChargedAtTheInputsSize) {
  v1::VideoJob job = OneStyle();
  job.set_max_side(64);
  VideoCall call = CallVideo(stub_.get(), job, Bytes("huge.mp4"));
  EXPECT_EQ(call.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << call.status.error_message();
  EXPECT_FALSE(call.accepted);
  EXPECT_THAT(call.status.error_message(),
              HasSubstr(absl::StrCat("the decoder (", Decoder(1280, 960),
                                     " bytes, 1280x960 input)")));
  EXPECT_THAT(call.status.error_message(), HasSubstr("64x48 video job"));
  EXPECT_THAT(call.status.error_message(),
              HasSubstr("scale the movie down before sending it"));
  EXPECT_THAT(call.status.error_message(), Not(HasSubstr("max_side")));
  EXPECT_TRUE(Eventually([&] { return Reserved() == kGrpcShare; }, kPatience))
      << Reserved();
}

}  // namespace
}  // namespace stylizer
