// Round trips of the video job pipeline on tiny movies made with the ffmpeg
// tool, with a fake job queue that inverts pixels: MP4 with its index at the
// end, uploads that start producing before they end, durations and frame
// estimates, variable frame rate, tags, outputs that start at zero and last
// as long as their frames; and the job's other ends: cancels, a slow reader,
// a tiny window, the memory it reserves. Every output is checked with
// ffprobe: it decodes, same frame count, duration within one frame, size,
// audio exactly when expected, rotation kept. Sound, pictures and refusals
// have programs of their own (video_pipeline_{sound,picture,refusal}_test).
#include "server/media/video_pipeline.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/media/testing/fake_job.h"
#include "server/media/testing/test_movies.h"
#include "server/media/testing/video_pipeline_fixture.h"

namespace stylizer {
namespace media {
namespace {

using testing::CollectingSink;
using testing::FakeJobQueue;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::StartTimes;

class VideoPipelineTest : public testing::VideoPipelineFixture {
 protected:
  static void SetUpTestSuite() {
    MakeMovies({"moov_at_end.mp4", "faststart.mp4", "vfr.mkv", "long.mp4",
                "long.ts", "long.mkv"});
  }

  // Makes an MPEG-TS of `seconds` at 10 fps with sound, its times offset by
  // `offset` seconds, and runs it to MP4 and Matroska: each output starts at
  // 0, with the sound where it was against the picture, and every frame.
  void ExpectOutputsStartAtZero(const std::string& name, int seconds,
                                const std::string& offset,
                                bool (*input_start_ok)(double)) {
    const std::string path = Path(name + ".ts");
    ASSERT_TRUE(testing::MakeMovie(
                    absl::StrCat("-f lavfi -i testsrc2=size=160x120:rate=10:"
                                 "duration=",
                                 seconds, " -f lavfi -i sine=frequency=440:",
                                 "duration=", seconds,
                                 " -c:v libx264 -preset ultrafast -pix_fmt "
                                 "yuv420p -c:a aac -output_ts_offset ",
                                 offset, " -f mpegts"),
                    path)
                    .ok());
    const auto [in_video, in_audio] = StartTimes(path);
    ASSERT_TRUE(input_start_ok(in_video)) << in_video;
    for (OutputContainer container :
         {OutputContainer::kFragmentedMp4, OutputContainer::kMatroska}) {
      const bool mkv = container == OutputContainer::kMatroska;
      SCOPED_TRACE(mkv ? "matroska" : "mp4");
      CollectingSink sink;
      const std::string out = Path(name + (mkv ? ".out.mkv" : ".out.mp4"));
      ASSERT_NO_FATAL_FAILURE(RunToFile(path, container, out, &sink));
      const auto [video, audio] = StartTimes(out);
      EXPECT_NEAR(std::min(video, audio), 0, 0.002);
      EXPECT_NEAR(audio - video, in_audio - in_video, 0.025);
      EXPECT_EQ(sink.result_->outputs[0].frames, seconds * 10);
    }
  }
};

TEST_F(VideoPipelineTest, Mp4WithIndexAtTheEnd) {
  CollectingSink sink;
  Run(Bytes("moov_at_end.mp4"), BaseOptions(2), &sink);
  ExpectOutputsMatch("moov_at_end.mp4", &sink, 2, 160, 120, true);
  EXPECT_EQ(sink.info_.width, 160);
  EXPECT_TRUE(sink.info_.has_audio);
  EXPECT_EQ(sink.info_.audio_codec, "aac");
  EXPECT_NEAR(sink.info_.fps, 15, 0.01);
  EXPECT_GT(sink.progress_reports_, 0);
  EXPECT_EQ(sink.last_progress_.frames_done, sink.result_->outputs[0].frames);
}

// Decoding starts as soon as the container can be read. MPEG-TS used to
// wait for the whole upload (FFmpeg read its last timestamps for a
// duration), and so did every upload of unknown size, a pipe (the probe
// asked for the size at its end).
TEST_F(VideoPipelineTest, UploadsStartBeforeTheyEnd) {
  const struct {
    const char* name;
    bool size_announced;
  } cases[] = {{"faststart.mp4", true},
               {"long.ts", true},
               {"long.ts", false},
               {"long.mkv", false}};
  for (const auto& c : cases) {
    const std::string name = c.name;
    SCOPED_TRACE(absl::StrCat(name, c.size_announced ? "" : " from a pipe"));
    std::string bytes = Bytes(name);
    CollectingSink sink;
    VideoPipeline::Options options = BaseOptions(1);
    if (c.size_announced) options.reader.expected_size = bytes.size();
    // As if larger than the uploads let in whole for an MPEG-TS duration.
    options.reader.max_wait_for_duration_bytes = 0;
    UploadInTwoParts upload(std::move(bytes), &sink);
    ASSERT_NO_FATAL_FAILURE(upload.Start(options));
    // Accepted, and output produced, with three quarters uploaded.
    ASSERT_TRUE(
        sink.accepted_.WaitForNotificationWithTimeout(absl::Seconds(60)));
    bool some_output = false;
    for (int i = 0; i < 600 && !some_output; ++i) {
      absl::SleepFor(absl::Milliseconds(100));
      absl::MutexLock lock(&sink.mu_);
      some_output = sink.outputs_[0].size() > 2000;
    }
    EXPECT_TRUE(some_output);
    ASSERT_NO_FATAL_FAILURE(upload.Finish());
    ExpectOutputsMatch(name, &sink, 1, 160, 120, true);
  }
}

// A small MPEG-TS announced with its size is let in whole first, so that
// the job gets FFmpeg's exact duration, and an ETA.
TEST_F(VideoPipelineTest, ASmallMpegTsWaitsForItsDuration) {
  std::string bytes = Bytes("long.ts");
  CollectingSink sink;
  VideoPipeline::Options options = BaseOptions(1);
  options.reader.expected_size = bytes.size();
  UploadInTwoParts upload(std::move(bytes), &sink);
  ASSERT_NO_FATAL_FAILURE(upload.Start(options));
  // Not a timing assertion: it cannot be accepted before its end arrives.
  EXPECT_FALSE(
      sink.accepted_.WaitForNotificationWithTimeout(absl::Milliseconds(300)));
  ASSERT_NO_FATAL_FAILURE(upload.Finish());
  EXPECT_NEAR(sink.info_.duration_seconds, 6, 0.2);
  EXPECT_NEAR(sink.info_.frames_estimate, 90, 3);
  ExpectOutputsMatch("long.ts", &sink, 1, 160, 120, true);
}

// An input the probe gives no duration (MPEG-TS over 64 MiB, here as if)
// gets its frame count estimated from how far its frames reach into it:
// without one, the client showed no ETA for the whole job.
TEST_F(VideoPipelineTest, AnInputWithoutADurationIsEstimatedFromItsBytes) {
  std::string bytes = Bytes("long.ts");
  CollectingSink sink;
  VideoPipeline::Options options = BaseOptions(1);
  options.reader.expected_size = bytes.size();
  options.reader.max_wait_for_duration_bytes = 0;
  options.progress_interval = absl::ZeroDuration();  // after every frame
  UploadInTwoParts upload(std::move(bytes), &sink);
  ASSERT_NO_FATAL_FAILURE(upload.Start(options));
  ASSERT_TRUE(sink.accepted_.WaitForNotificationWithTimeout(absl::Seconds(60)));
  EXPECT_EQ(sink.info_.frames_estimate, 0);  // the probe's: none
  ASSERT_NO_FATAL_FAILURE(upload.Finish());
  ASSERT_TRUE(sink.result_.ok()) << sink.result_.status();
  EXPECT_NEAR(sink.last_progress_.frames_estimate, 90, 9);
}

TEST_F(VideoPipelineTest, VariableFrameRateKeepsTimestamps) {
  CollectingSink sink;
  Run(Bytes("vfr.mkv"), BaseOptions(1), &sink);
  ExpectOutputsMatch("vfr.mkv", &sink, 1, 160, 120, false);
  // The gaps themselves survive: compare the packet timestamps.
  auto times = [](const std::string& path) {
    auto out = testing::RunCommand(absl::StrCat(
        "ffprobe -v error -select_streams v:0 -show_entries frame=pts_time "
        "-of csv=p=0 '",
        path, "'"));
    return out.value_or("");
  };
  std::string in = times(Path("vfr.mkv"));
  std::string out = times(Path("vfr.mkv.out0.mp4"));
  std::vector<double> a, b;
  for (absl::string_view l : absl::StrSplit(in, '\n')) {
    double v;
    if (absl::SimpleAtod(l, &v)) a.push_back(v);
  }
  for (absl::string_view l : absl::StrSplit(out, '\n')) {
    double v;
    if (absl::SimpleAtod(l, &v)) b.push_back(v);
  }
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 1; i < a.size(); ++i) {
    EXPECT_NEAR(b[i] - b[0], a[i] - a[0], 0.002) << i;
  }
}

// The recording's tags are kept, in MP4 and Matroska: its title and
// creation time (which galleries sort by), its sound's language; where it
// was recorded and how it was encoded are not. Every tag was dropped.
TEST_F(VideoPipelineTest, TheRecordingsTagsAreKept) {
  const std::string path = Path("tagged.mp4");
  ASSERT_TRUE(testing::MakeMovie(
                  "-f lavfi -i testsrc2=size=96x64:rate=10:duration=1 "
                  "-f lavfi -i sine=frequency=440:duration=1 "
                  "-c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac "
                  "-metadata title=Holiday "
                  "-metadata creation_time=2024-05-01T10:00:00Z "
                  "-metadata location=+48.8577+002.2950/ "
                  "-metadata:s:a:0 language=fra",
                  path)
                  .ok());
  for (OutputContainer container :
       {OutputContainer::kFragmentedMp4, OutputContainer::kMatroska}) {
    const bool mkv = container == OutputContainer::kMatroska;
    const std::string out = Path(mkv ? "tagged.out.mkv" : "tagged.out.mp4");
    CollectingSink sink;
    ASSERT_NO_FATAL_FAILURE(RunToFile(path, container, out, &sink));
    auto tags = testing::RunCommand(
        "ffprobe -v error -show_entries format_tags:stream_tags -of "
        "default=noprint_wrappers=1 " +
        out);
    ASSERT_TRUE(tags.ok()) << tags.status();
    EXPECT_THAT(*tags, HasSubstr("TAG:title=Holiday")) << out;
    EXPECT_THAT(*tags, HasSubstr("2024-05-01T10:00:00")) << *tags;
    EXPECT_THAT(*tags, HasSubstr("TAG:language=fra")) << *tags;
    EXPECT_THAT(*tags, Not(HasSubstr("48.8577"))) << *tags;
    EXPECT_THAT(*tags, Not(HasSubstr("location"))) << *tags;
  }
}

// A capture whose clock reads 100 s (an MPEG-TS adds its own 1.4 s): the
// outputs start at 0, as ffmpeg's do, with the sound where it was against
// the picture. An MP4 output used to open with an empty edit of 101.4 s,
// a minute and a half of nothing in players that honour edit lists.
TEST_F(VideoPipelineTest, ALateStartingInputGivesOutputsThatStartAtZero) {
  ExpectOutputsStartAtZero("late", 2, "100",
                           [](double start) { return start > 100; });
}

// An MPEG-TS whose 33-bit clock wraps 2.5 s in (a capture running for
// a day): FFmpeg gives the frames before the wrap negative times. They were
// kept, and the MP4 output's edit list started at the first frame after
// the wrap, hiding 2.5 s of picture from players that honour it. The
// outputs start at 0, as ffmpeg's do.
TEST_F(VideoPipelineTest, AnMpegTsWhoseClockWrapsGivesOutputsThatStartAtZero) {
  ExpectOutputsStartAtZero("wrap", 4, "95439.8", [](double start) {
    return start < -1;  // FFmpeg's unwrapping
  });
}

// The container's duration, what players show (ffprobe's format duration).
double ContainerSeconds(const std::string& path) {
  absl::StatusOr<std::string> out = testing::RunCommand(
      "ffprobe -v error -show_entries format=duration -of csv=p=0 '" + path +
      "'");
  double seconds = 0;
  return out.ok() && absl::SimpleAtod(*out, &seconds) ? seconds : -1;
}

// An MP4 track ended at its last packet in decode order, which with
// B-frames is not the last frame shown: a movie whose last frame comes after
// a pause (a screen recording) said 1 s of its 2.03.
TEST_F(VideoPipelineTest, MpFourOutputsLastAsLongAsTheirFrames) {
  const struct {
    const char* name;
    const char* pts;  // setpts expression over frame N at 30 fps
    double seconds;   // the input's length
  } kCases[] = {
      {"steady.mkv", "N/30/TB", 1.0},
      {"pause_before_last.mkv", "if(lt(N,29),N/30/TB,2/TB)", 2.0 + 1.0 / 30},
      {"second_frame_missing.mkv", "if(eq(N,0),0,(N+1)/30/TB)", 31.0 / 30},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.name);
    const std::string input = Path(c.name);
    ASSERT_TRUE(testing::MakeMovie(
                    absl::StrCat("-f lavfi -i testsrc2=size=160x96:rate=30:"
                                 "duration=1 -vf \"setpts='",
                                 c.pts,
                                 "'\" -fps_mode passthrough -c:v libx264 "
                                 "-preset ultrafast -pix_fmt yuv420p"),
                    input)
                    .ok());
    auto in = testing::ProbeMovie(input);
    ASSERT_TRUE(in.ok()) << in.status();
    for (OutputContainer container :
         {OutputContainer::kFragmentedMp4, OutputContainer::kMatroska}) {
      const std::string out = absl::StrCat(
          input,
          container == OutputContainer::kMatroska ? ".out.mkv" : ".out.mp4");
      VideoPipeline::Options options = BaseOptions(1);
      options.container = container;
      options.preset = "veryfast";  // the server's default: B-frames
      CollectingSink sink;
      Run(testing::ReadFile(input).value_or(""), options, &sink);
      ASSERT_TRUE(sink.result_.ok()) << sink.result_.status();
      ASSERT_TRUE(testing::WriteFile(out, sink.outputs_[0]).ok());
      auto probed = testing::ProbeMovie(out);
      ASSERT_TRUE(probed.ok()) << probed.status();
      EXPECT_EQ(probed->frames, 30);
      // Within the last frame's own duration, which neither a fragmented
      // MP4's packets nor a streamed Matroska's last frame give.
      EXPECT_NEAR(probed->duration, in->duration, 1.0 / 30 + 1e-3);
      if (container == OutputContainer::kFragmentedMp4) {
        // At most a frame long: a gap at the start stays in the encoder's
        // first decode times.
        EXPECT_GE(ContainerSeconds(out), c.seconds - 1e-3);
        EXPECT_LE(ContainerSeconds(out), c.seconds + 1.0 / 30 + 1e-3);
      }
    }
  }
}

// --- Other ends. ---

TEST_F(VideoPipelineTest, CancelMidUploadFreesTheJob) {
  std::string bytes = Bytes("faststart.mp4");
  CollectingSink sink;
  auto spool = Spool::Create({});
  ASSERT_TRUE(spool.ok());
  VideoPipeline::Options options = BaseOptions(2);
  options.reader.expected_size = bytes.size();
  auto pipeline = VideoPipeline::Start(options, spool->get(), &sink);
  ASSERT_TRUE(pipeline.ok());
  ASSERT_TRUE((*spool)->Append(bytes.substr(0, bytes.size() / 2)).ok());
  ASSERT_TRUE(sink.accepted_.WaitForNotificationWithTimeout(absl::Seconds(60)));
  (*pipeline)->Cancel(absl::CancelledError("client cancelled"));
  sink.finished_.WaitForNotification();
  EXPECT_EQ(sink.result_.status().code(), absl::StatusCode::kCancelled);
  pipeline->reset();
  EXPECT_EQ(queue_.open_jobs(), 0);
  EXPECT_EQ((*spool)->Append("more").code(), absl::StatusCode::kCancelled);
}

TEST_F(VideoPipelineTest, CancelWhileTheQueueDeliversDoesNotDeadlock) {
  // The queue's Job destructor waits for a running on_result; the pipeline
  // must not destroy its job while holding the lock on_result takes.
  FakeJobQueue::Options hold;
  hold.deliver_while_closing = true;
  FakeJobQueue holding(hold);
  VideoPipeline::Options options = BaseOptions(1);
  options.open_job = [&](JobOptions o) {
    return holding.OpenJob(std::move(o));
  };
  CollectingSink sink;
  auto spool = Spool::Create({});
  ASSERT_TRUE(spool.ok());
  auto pipeline = VideoPipeline::Start(options, spool->get(), &sink);
  ASSERT_TRUE(pipeline.ok());
  ASSERT_TRUE((*spool)->Append(Bytes("long.mp4")).ok());
  (*spool)->Finish();
  for (int i = 0; i < 6000 && holding.frames_submitted() == 0; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_GT(holding.frames_submitted(), 0);
  (*pipeline)->Cancel(absl::CancelledError("client cancelled"));
  // A deadlock never finishes: give it very long, then report it (and leave
  // the stuck pipeline alone: destroying it would hang the test).
  if (!sink.finished_.WaitForNotificationWithTimeout(absl::Seconds(60))) {
    pipeline->release();
    FAIL() << "the pipeline deadlocked destroying its job";
  }
  pipeline->reset();
  EXPECT_EQ(sink.result_.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(holding.open_jobs(), 0);
}

TEST_F(VideoPipelineTest, ASlowReaderPausesDecoding) {
  std::string bytes = Bytes("long.mp4");  // 150 frames
  CollectingSink sink;
  sink.HoldAfter(3);
  auto spool = Spool::Create({});
  VideoPipeline::Options options = BaseOptions(1);
  options.max_frames_in_flight = 2;
  options.max_pending_frames = 2;
  auto pipeline = VideoPipeline::Start(options, spool->get(), &sink);
  ASSERT_TRUE(pipeline.ok());
  ASSERT_TRUE((*spool)->Append(bytes).ok());
  (*spool)->Finish();
  // Whatever the machine's speed, a held reader caps the frames taken in:
  // one 2 s fragment (30 frames), the encoder's lookahead and the window.
  absl::SleepFor(absl::Seconds(2));
  EXPECT_LT(queue_.frames_submitted(), 100);
  EXPECT_FALSE(sink.finished_.HasBeenNotified());
  sink.Open();
  sink.finished_.WaitForNotification();
  pipeline->reset();
  ASSERT_TRUE(sink.result_.ok()) << sink.result_.status();
  EXPECT_EQ(sink.result_->outputs[0].frames, 150);
}

TEST_F(VideoPipelineTest, ATinyWindowStillCompletes) {
  CollectingSink sink;
  VideoPipeline::Options options = BaseOptions(3);
  options.max_window_bytes = 1;  // two frames in the window, one in flight
  Run(Bytes("moov_at_end.mp4"), options, &sink);
  ExpectOutputsMatch("moov_at_end.mp4", &sink, 3, 160, 120, true);
}

// The memory hook hears the frame size, the window and the encoders once the
// input is probed; its refusal ends the job before OnAccepted, with its
// status.
TEST_F(VideoPipelineTest, ReserveMemoryHearsTheJobsSizeAndCanRefuseIt) {
  VideoPipeline::Options options = BaseOptions(2);
  options.max_frames_in_flight = 3;
  options.max_pending_frames = 2;
  options.preset = "veryfast";
  options.encoder_threads = 2;
  std::vector<VideoMemory> heard;
  options.reserve_memory = [&heard](const VideoMemory& memory) {
    heard.push_back(memory);
    return absl::ResourceExhaustedError("no room");
  };
  CollectingSink refused;
  Run(Bytes("moov_at_end.mp4"), options, &refused);
  EXPECT_EQ(refused.result_.status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(refused.result_.status().message(), "no room");
  EXPECT_FALSE(refused.accepted_.HasBeenNotified());
  ASSERT_EQ(heard.size(), 1u);
  const VideoMemory& m = heard[0];
  EXPECT_EQ(m.width, 160);
  EXPECT_EQ(m.height, 120);
  EXPECT_EQ(m.outputs, 2);
  EXPECT_EQ(m.window_frames, 5);
  // 5 frames of input and 2 outputs, and the frame being decoded.
  EXPECT_EQ(m.window_bytes, 5 * 57600 * 3 + 57600);
  EXPECT_EQ(m.encoder_bytes,
            2 * VideoPipeline::EstimateEncoderBytes(160, 120, "veryfast", 2));
  // The decoder at the input's size (4:2:0, 160x120): 16 reference frames,
  // one per thread (2) and the one being decoded.
  EXPECT_EQ(m.input_width, 160);
  EXPECT_EQ(m.input_height, 120);
  EXPECT_EQ(m.decoder_bytes, 160 * 120 * 3 / 2 * (16 + 2 + 1));
  EXPECT_EQ(m.total(), m.window_bytes + m.encoder_bytes + m.decoder_bytes);

  options.reserve_memory = [](const VideoMemory&) { return absl::OkStatus(); };
  CollectingSink accepted;
  Run(Bytes("moov_at_end.mp4"), options, &accepted);
  ExpectOutputsMatch("moov_at_end.mp4", &accepted, 2, 160, 120, true);
}

// A movie with alpha is composited into GBRA planes of its size, held for
// the job: the decoder's estimate counts them (they were not counted).
TEST(DecoderEstimateTest, CountsThePlanesAlphaIsCompositedIn) {
  MovieInfo info;
  info.width = 160;
  info.height = 120;
  info.decoded_frame_bytes = 160 * 120 * 4;
  const int64_t opaque = VideoPipeline::EstimateDecoderBytes(info, 2);
  EXPECT_EQ(opaque, 160 * 120 * 4 * (16 + 2 + 1));
  info.has_alpha = true;
  EXPECT_EQ(VideoPipeline::EstimateDecoderBytes(info, 2),
            opaque + 160 * 120 * 4);
}

// The encoder estimate grows with the frame, the threads and the preset, and
// an unknown preset counts as the costliest.
TEST(EncoderEstimateTest, GrowsWithSizeThreadsAndPreset) {
  const int64_t hd =
      VideoPipeline::EstimateEncoderBytes(1280, 720, "veryfast", 1);
  // Measured: 124 MB of heap for this encoder.
  EXPECT_GT(hd, 124000000);
  EXPECT_LT(hd, 160000000);
  EXPECT_GT(VideoPipeline::EstimateEncoderBytes(1920, 1080, "veryfast", 1), hd);
  EXPECT_GT(VideoPipeline::EstimateEncoderBytes(1280, 720, "veryfast", 8), hd);
  EXPECT_LT(VideoPipeline::EstimateEncoderBytes(1280, 720, "ultrafast", 1), hd);
  EXPECT_GT(VideoPipeline::EstimateEncoderBytes(1280, 720, "medium", 1), hd);
  EXPECT_EQ(VideoPipeline::EstimateEncoderBytes(1280, 720, "nonsense", 1),
            VideoPipeline::EstimateEncoderBytes(1280, 720, "placebo", 1));
}

}  // namespace
}  // namespace media
}  // namespace stylizer
