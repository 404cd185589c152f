// StylizeVideo's idle timeout on a real server (loopback port, job queue, a
// copying model, the real pipeline): a call that fails while one of its
// answers waits on a client that does not read still ends, and gives back its
// slot, once that write has stalled for the idle timeout; a client that sent
// every byte its input_size announced owes nothing more, half-closed or not.
#include <atomic>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "server/media/testing/test_movies.h"
#include "server/service/server.h"
#include "server/service/stylize_video_reactor.h"
#include "server/service/testing/eventually.h"
#include "server/service/testing/loopback_server.h"
#include "stylizer/v1/stylizer.grpc.pb.h"

extern "C" {
#include <libavutil/log.h>
}

namespace stylizer {
namespace {

namespace movies = media::testing;
using ::stylizer::testing::Eventually;

// The copying model, whose first batch takes `delay`: the server works that
// long with nothing to send.
class SlowFirstBatchModel : public testing::CopyModel {
 public:
  explicit SlowFirstBatchModel(absl::Duration delay) : delay_(delay) {}
  absl::Status Stylize(const FrameBatch& batch) override {
    if (!slept_.exchange(true)) absl::SleepFor(delay_);
    return CopyModel::Stylize(batch);
  }

 private:
  const absl::Duration delay_;
  std::atomic<bool> slept_{false};
};

class VideoIdleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    av_log_set_level(AV_LOG_ERROR);
    dir_ = movies::MakeTempDir("video-idle-test");
    // A small upload (a plain picture, strongly compressed) that becomes a
    // large output at CRF 1; its index first, so that (with input_size)
    // decoding starts before the upload ends.
    ASSERT_TRUE(movies::MakeMovie(
                    "-f lavfi -i testsrc2=size=1280x720:rate=30:duration=4 "
                    "-c:v libx264 -preset ultrafast -crf 40 -pix_fmt yuv420p "
                    "-movflags +faststart",
                    dir_ + "/movie.mp4")
                    .ok());
    // Matroska, whose demuxer reads on until the end of the file (an MP4's
    // stops after the last sample its index lists).
    ASSERT_TRUE(movies::MakeMovie(
                    "-f lavfi -i testsrc2=size=160x120:rate=10:duration=1 "
                    "-c:v libx264 -preset ultrafast -pix_fmt yuv420p",
                    dir_ + "/small.mkv")
                    .ok());
    Server::Options o = testing::LoopbackServerOptions();
    // Longer than the steps below, so that the call fails on its second
    // VideoJob before the timer could end it.
    o.limits.stream_idle_timeout = absl::Seconds(3);
    Configure(&o);
    StylizeVideoOptions video;
    video.preset = "ultrafast";
    video.encoder_threads = 1;
    o.video = MakeStylizeVideoReactorFactory(video);
    absl::StatusOr<std::unique_ptr<Server>> server =
        testing::StartReadyServer(o);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Drain(absl::Seconds(10));
    std::filesystem::remove_all(dir_);
  }
  // The server's options, changed before it starts.
  virtual void Configure(Server::Options* o) {}

  // Opens a StylizeVideo call on `context` (a 60 s deadline) and sends its
  // job: style 1, input_size the size of `movie`.
  std::unique_ptr<grpc::ClientReaderWriter<v1::StylizeVideoRequest,
                                           v1::StylizeVideoResponse>>
  OpenAnnouncedUpload(grpc::ClientContext* context, const std::string& movie) {
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(60));
    auto stream = testing::LoopbackStub(*server_)->StylizeVideo(context);
    v1::StylizeVideoRequest request;
    request.mutable_job()->add_styles()->set_index(1);
    request.mutable_job()->set_input_size(movie.size());
    stream->Write(request);
    return stream;
  }

  // Sends a job announcing the whole of small.mkv and all of its bytes, and
  // then, without half-closing, reads the answers until the call ends: its
  // status, and whether the summary came.
  grpc::Status UploadWithoutHalfClose(bool* summary) {
    *summary = false;
    const std::string movie =
        movies::ReadFile(dir_ + "/small.mkv").value_or("");
    if (movie.empty()) return grpc::Status(grpc::StatusCode::INTERNAL, "movie");
    grpc::ClientContext context;
    auto stream = OpenAnnouncedUpload(&context, movie);
    v1::StylizeVideoRequest request;
    for (size_t pos = 0; pos < movie.size(); pos += 4096) {
      request.set_chunk(movie.substr(pos, 4096));
      stream->Write(request);
    }
    v1::StylizeVideoResponse response;
    while (stream->Read(&response)) *summary |= response.has_summary();
    return stream->Finish();
  }

  std::string dir_;
  std::unique_ptr<Server> server_;
};

// The call fails (a second VideoJob) while its output waits on a client that
// does not read: Finish waits on that write, and the idle timer must still
// end the call.
TEST_F(VideoIdleTest, FailedCallWithAStalledWriteStillEnds) {
  absl::StatusOr<std::string> movie = movies::ReadFile(dir_ + "/movie.mp4");
  ASSERT_TRUE(movie.ok()) << movie.status();
  // A connection of its own, so that its unread answers block no one else,
  // with a fixed 64 KiB window (no growth by bandwidth probes): the output
  // fills it within a few frames.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 64 * 1024);
  auto stub = v1::Stylizer::NewStub(grpc::CreateCustomChannel(
      absl::StrCat("127.0.0.1:", server_->port()),
      grpc::InsecureChannelCredentials(), args));
  grpc::ClientContext context;  // no deadline: only the server can end it
  auto stream = stub->StylizeVideo(&context);
  v1::StylizeVideoRequest request;
  request.mutable_job()->add_styles()->set_index(1);
  request.mutable_job()->set_crf(1);
  request.mutable_job()->set_input_size(movie->size());
  ASSERT_TRUE(stream->Write(request));
  // All but the last bytes: the upload stays open, the movie's frames are
  // stylized and their output fills the stream's window.
  const size_t kept_back = 4096;
  ASSERT_GT(movie->size(), kept_back);
  for (size_t pos = 0; pos + kept_back < movie->size(); pos += 16 * 1024) {
    request.set_chunk(
        movie->substr(pos, std::min<size_t>(16 * 1024,
                                            movie->size() - kept_back - pos)));
    ASSERT_TRUE(stream->Write(request));
  }
  absl::SleepFor(absl::Seconds(1));  // the output stalls meanwhile
  request.mutable_job()->add_styles()->set_index(0);  // a second VideoJob
  stream->Write(request);
  EXPECT_TRUE(Eventually([&] {
    return server_->context()->active_streams() == 0;
  })) << "the failed call never ended";
  context.TryCancel();  // so that the test ends either way
  v1::StylizeVideoResponse response;
  while (stream->Read(&response)) {
  }
  stream->Finish();
}

// Every byte input_size announced has arrived: the upload is complete, and
// the job ends OK with its summary while the client keeps its side open to
// read the answers. The reader waited for a half-close at the announced
// size, and the idle timer blamed the client ("sent nothing").
TEST_F(VideoIdleTest, AnAnnouncedUploadEndsWithoutAHalfClose) {
  bool summary = false;
  const grpc::Status status = UploadWithoutHalfClose(&summary);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(summary);
  EXPECT_TRUE(
      Eventually([&] { return server_->context()->active_streams() == 0; }));
}

class VideoIdleSlowModelTest : public VideoIdleTest {
 protected:
  void Configure(Server::Options* o) override {
    o->warmup = false;  // its batch would be the slow one
    o->load_model = []() -> absl::StatusOr<std::unique_ptr<StyleModel>> {
      return std::unique_ptr<StyleModel>(
          new SlowFirstBatchModel(absl::Seconds(5)));
    };
  }
};

// The read the server keeps out after a complete upload only catches bytes
// past input_size or the half-close: the client owes nothing, and the
// server's own work (here a first batch longer than the idle timeout) does
// not count against it.
TEST_F(VideoIdleSlowModelTest, TheIdleTimerDoesNotWaitOnACompleteUpload) {
  bool summary = false;
  const grpc::Status status = UploadWithoutHalfClose(&summary);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(summary);
}

class VideoUploadPaceTest : public VideoIdleTest {
 protected:
  void Configure(Server::Options* o) override {
    o->limits.upload_min_bytes_per_second = 2000;
  }
};

// A client that sends a little within every idle timeout, far below the
// floor: the call ends once a whole timeout of waiting (3 s here) brought too
// few bytes, and its slot comes back. It held them for as long as it went on.
TEST_F(VideoUploadPaceTest, ATrickleBelowTheFloorIsEnded) {
  const std::string movie = movies::ReadFile(dir_ + "/small.mkv").value_or("");
  ASSERT_GT(movie.size(), 8000u);
  grpc::ClientContext context;
  auto stream = OpenAnnouncedUpload(&context, movie);
  v1::StylizeVideoRequest request;
  // 100 bytes every 400 ms: 250 bytes/s, each message well within the idle
  // timeout. 20 s of it would be 5000 bytes, still short of the movie.
  const absl::Time start = absl::Now();
  size_t pos = 0;
  while (absl::Now() - start < absl::Seconds(20) && pos + 100 < movie.size()) {
    request.set_chunk(movie.substr(pos, 100));
    if (!stream->Write(request)) break;
    pos += 100;
    absl::SleepFor(absl::Milliseconds(400));
  }
  stream->WritesDone();
  v1::StylizeVideoResponse response;
  while (stream->Read(&response)) {
  }
  const grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
      << status.error_message();
  EXPECT_NE(status.error_message().find("--upload_min_rate"), std::string::npos)
      << status.error_message();
  // Cut after about one window of waiting, long before the 20 s.
  EXPECT_LT(absl::Now() - start, absl::Seconds(15));
  EXPECT_TRUE(
      Eventually([&] { return server_->context()->active_streams() == 0; }));
}

}  // namespace
}  // namespace stylizer
