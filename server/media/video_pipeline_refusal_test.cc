// What the video job pipeline refuses, and how a job fails, on tiny movies
// made with the ffmpeg tool and a fake job queue that inverts pixels: bad
// input is INVALID_ARGUMENT naming the problem (garbage, an empty or
// truncated upload, no video stream, a codec without a decoder, playlists
// naming other files, frames over the pixel limit, a gap an MP4 cannot hold,
// frames too thin as they are or after max_side, where max_side may also make
// a thin movie small enough); bad options are refused at the start; a
// failing queue ends the job with its error. The job is freed every time.
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/media/testing/fake_job.h"
#include "server/media/testing/test_movies.h"
#include "server/media/testing/video_pipeline_fixture.h"
#include "server/media/video_pipeline.h"

namespace stylizer {
namespace media {
namespace {

using testing::CollectingSink;
using testing::FakeJobQueue;
using ::testing::HasSubstr;

class VideoPipelineTest : public testing::VideoPipelineFixture {
 protected:
  static void SetUpTestSuite() {
    MakeMovies(
        {"moov_at_end.mp4", "faststart.mp4", "vp9_opus.mkv", "audio_only.m4a"});
  }
};

// --- Bad input: INVALID_ARGUMENT naming the problem, job freed. ---

void ExpectInvalid(const CollectingSink& sink, const std::string& words) {
  EXPECT_EQ(sink.result_.status().code(), absl::StatusCode::kInvalidArgument)
      << sink.result_.status();
  EXPECT_THAT(std::string(sink.result_.status().message()), HasSubstr(words));
}

TEST_F(VideoPipelineTest, GarbageIsInvalid) {
  CollectingSink sink;
  std::string garbage(20000, '\0');
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = (i * 7919) % 251;
  Run(garbage, BaseOptions(), &sink);
  ExpectInvalid(sink, "not a movie");
}

TEST_F(VideoPipelineTest, PlaylistsCannotReachOtherFiles) {
  // An HLS playlist and a concat script naming a movie on the server's disk.
  const std::string target = Path("moov_at_end.mp4");
  for (const std::string& text :
       {absl::StrCat("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:1.5,\nfile:",
                     target, "\n#EXT-X-ENDLIST\n"),
        absl::StrCat("ffconcat version 1.0\nfile '", target, "'\n")}) {
    CollectingSink sink;
    Run(text, BaseOptions(1), &sink);
    EXPECT_EQ(sink.result_.status().code(), absl::StatusCode::kInvalidArgument)
        << sink.result_.status();
  }
}

TEST_F(VideoPipelineTest, EmptyUploadIsInvalid) {
  CollectingSink sink;
  Run("", BaseOptions(), &sink);
  ExpectInvalid(sink, "empty");
}

TEST_F(VideoPipelineTest, TruncatedMp4IsInvalid) {
  std::string bytes = Bytes("moov_at_end.mp4");
  CollectingSink end_index;
  Run(bytes.substr(0, bytes.size() * 2 / 3), BaseOptions(), &end_index);
  EXPECT_EQ(end_index.result_.status().code(),
            absl::StatusCode::kInvalidArgument);
  std::string fast = Bytes("faststart.mp4");
  CollectingSink start_index;
  Run(fast.substr(0, fast.size() * 2 / 3), BaseOptions(), &start_index);
  ExpectInvalid(start_index, "truncated");
}

TEST_F(VideoPipelineTest, NoVideoStreamIsInvalid) {
  CollectingSink sink;
  Run(Bytes("audio_only.m4a"), BaseOptions(), &sink);
  ExpectInvalid(sink, "no video stream");
}

TEST_F(VideoPipelineTest, UndecodableCodecIsInvalid) {
  std::string bytes = Bytes("vp9_opus.mkv");
  size_t at = bytes.find("V_VP9");
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at, 5, "V_XYZ");
  CollectingSink sink;
  Run(bytes, BaseOptions(), &sink);
  ExpectInvalid(sink, "cannot be decoded");
}

TEST_F(VideoPipelineTest, FramesOverThePixelLimitAreInvalid) {
  CollectingSink sink;
  VideoPipeline::Options options = BaseOptions();
  options.max_frame_pixels = 100 * 100;
  Run(Bytes("moov_at_end.mp4"), options, &sink);
  ExpectInvalid(sink, "max_side");
  EXPECT_FALSE(sink.accepted_.HasBeenNotified());
}

// Frames 11.6 days apart (a recording with a hole, timestamps gone wrong):
// an MP4 sample cannot last that long. The job failed with INTERNAL ("Not
// yet implemented in FFmpeg") once every frame was computed; it is now the
// input's fault, named, where the gap is met. Matroska takes it.
TEST_F(VideoPipelineTest, AGapAnMp4CannotHoldIsTheInputsFault) {
  const std::string path = Path("gap.mkv");
  ASSERT_TRUE(testing::MakeMovie(
                  "-f lavfi -i testsrc2=size=160x120:rate=20:duration=0.5 "
                  "-vf \"setpts='if(lt(N,5),N*0.05,1e6+N*0.05)/TB'\" "
                  "-fps_mode passthrough -c:v libx264 -preset ultrafast "
                  "-pix_fmt yuv420p",
                  path)
                  .ok());
  CollectingSink mp4;
  Run(Bytes("gap.mkv"), BaseOptions(1), &mp4);
  ExpectInvalid(mp4, "the movie's picture jumps by 1000000 s at 0.200 s");
  EXPECT_THAT(std::string(mp4.result_.status().message()),
              HasSubstr("ask for Matroska"));
  CollectingSink mkv;
  VideoPipeline::Options options = BaseOptions(1);
  options.container = OutputContainer::kMatroska;
  Run(Bytes("gap.mkv"), options, &mkv);
  EXPECT_TRUE(mkv.result_.ok()) << mkv.result_.status();
}

// The shape rule holds for the frames the model gets: a 2048x48 movie is
// fine, but max_side=1024 would make it 1024x24, too thin to stylize.
TEST_F(VideoPipelineTest, MaxSideThatMakesFramesTooThinIsInvalid) {
  const std::string path = Path("wide_2048x48.mp4");
  ASSERT_TRUE(testing::MakeMovie(
                  "-f lavfi -i testsrc2=size=2048x48:rate=15:duration=0.5 "
                  "-c:v libx264 -preset ultrafast -pix_fmt yuv420p",
                  path)
                  .ok());
  CollectingSink sink;
  VideoPipeline::Options options = BaseOptions();
  options.max_side = 1024;
  Run(testing::ReadFile(path).value_or(""), options, &sink);
  ExpectInvalid(sink, "1024x24 frame is too thin");
  ExpectInvalid(sink, "max_side");
  EXPECT_FALSE(sink.accepted_.HasBeenNotified());
}

// A thin movie is refused as it is, before any output is accepted.
TEST_F(VideoPipelineTest, AThinMovieIsInvalid) {
  const std::string path = Path("strip_4800x2.mkv");
  ASSERT_TRUE(
      testing::MakeMovie(
          "-f lavfi -i color=size=4800x2:rate=5:duration=0.4 -c:v ffv1", path)
          .ok());
  CollectingSink sink;
  Run(testing::ReadFile(path).value_or(""), BaseOptions(), &sink);
  ExpectInvalid(sink, "a 4800x2 frame is too thin");
  // 2048x2 is a small frame (2049 is rounded down to an even 2048).
  ExpectInvalid(sink, "(or set max_side to 2049 or less");
  EXPECT_FALSE(sink.accepted_.HasBeenNotified());
}

// The max_side a refusal names keeps the shape rule: for a 2000x40 movie
// against 10000 pixels, 706 (706x14) fits the limit but is too thin; 474
// (474x8) is a small frame.
TEST_F(VideoPipelineTest, TheMaxSideNamedForAMovieKeepsTheShapeRule) {
  const std::string path = Path("strip_2000x40.mkv");
  ASSERT_TRUE(
      testing::MakeMovie(
          "-f lavfi -i testsrc2=size=2000x40:rate=5:duration=0.4 -c:v ffv1",
          path)
          .ok());
  CollectingSink sink;
  VideoPipeline::Options options = BaseOptions();
  options.max_frame_pixels = 10000;
  Run(testing::ReadFile(path).value_or(""), options, &sink);
  ExpectInvalid(sink, "set max_side to 474 or less");
}

// The shape rule is the model's: a strip that max_side scales to a small
// frame is stylized. It was refused from the movie's own size.
TEST_F(VideoPipelineTest, MaxSideMayMakeAThinMovieSmall) {
  const std::string path = Path("strip_2000x20.mkv");
  ASSERT_TRUE(
      testing::MakeMovie(
          "-f lavfi -i testsrc2=size=2000x20:rate=5:duration=0.4 -c:v ffv1",
          path)
          .ok());
  CollectingSink sink;
  VideoPipeline::Options options = BaseOptions();
  options.max_side = 64;
  Run(testing::ReadFile(path).value_or(""), options, &sink);
  ASSERT_TRUE(sink.result_.ok()) << sink.result_.status();
  ASSERT_FALSE(sink.result_->outputs.empty());
  EXPECT_EQ(sink.result_->outputs[0].frames, 2);
}

// --- Failures: the queue, the options. ---

TEST_F(VideoPipelineTest, QueueErrorsEndTheJob) {
  FakeJobQueue::Options fail;
  fail.fail_sequence = 5;
  fail.fail_status = absl::ResourceExhaustedError("device out of memory");
  FakeJobQueue failing(fail);
  VideoPipeline::Options options = BaseOptions();
  options.open_job = [&](JobOptions o) {
    return failing.OpenJob(std::move(o));
  };
  CollectingSink sink;
  auto spool = Spool::Create({});
  auto pipeline = VideoPipeline::Start(options, spool->get(), &sink);
  ASSERT_TRUE(pipeline.ok());
  (void)(*spool)->Append(Bytes("moov_at_end.mp4"));
  (*spool)->Finish();
  sink.finished_.WaitForNotification();
  pipeline->reset();
  EXPECT_EQ(sink.result_.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(failing.open_jobs(), 0);
}

TEST_F(VideoPipelineTest, RejectsBadOptions) {
  CollectingSink sink;
  auto spool = Spool::Create({});
  VideoPipeline::Options options = BaseOptions();
  options.style_weights.clear();
  EXPECT_EQ(VideoPipeline::Start(options, spool->get(), &sink).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = BaseOptions();
  options.crf = 60;
  EXPECT_EQ(VideoPipeline::Start(options, spool->get(), &sink).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace media
}  // namespace stylizer
