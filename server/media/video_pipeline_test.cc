// Round trips and failure cases of the video job pipeline on tiny movies made
// with the ffmpeg tool, with a fake job queue that inverts pixels. Every
// output is checked with ffprobe: it decodes, same frame count, duration
// within one frame, size, audio exactly when expected, rotation kept.
#include "server/media/video_pipeline.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/media/testing/fake_job.h"
#include "server/media/testing/test_movies.h"

extern "C" {
#include <libavutil/display.h>
#include <libavutil/log.h>
}

namespace stylizer {
namespace media {
namespace {

using testing::FakeJobQueue;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::ProbedMovie;

// Collects a job's events; can hold back output chunks to act as a slow
// reader.
class CollectingSink : public VideoSink {
 public:
  void OnAccepted(const MovieInfo& info, int w, int h) override {
    absl::MutexLock lock(&mu_);
    info_ = info;
    width_ = w;
    height_ = h;
    accepted_.Notify();
  }
  void OnProgress(const VideoProgress& p) override {
    absl::MutexLock lock(&mu_);
    ++progress_reports_;
    last_progress_ = p;
  }
  absl::Status OnOutputChunk(int index, absl::string_view bytes) override {
    absl::MutexLock lock(&mu_);
    ++chunks_[index];
    if (chunks_[index] > free_chunks_) {
      mu_.Await(absl::Condition(
          +[](CollectingSink* s) ABSL_NO_THREAD_SAFETY_ANALYSIS {
            return s->open_ || s->failing_;
          },
          this));
    }
    if (failing_) return absl::CancelledError("sink gave up");
    outputs_[index].append(bytes.data(), bytes.size());
    return absl::OkStatus();
  }
  void OnFailing(const absl::Status& s) override {
    absl::MutexLock lock(&mu_);
    failing_ = true;
  }
  void OnFinished(absl::StatusOr<VideoSummary> result) override {
    absl::MutexLock lock(&mu_);
    result_ = std::move(result);
    ++finished_calls_;
    finished_.Notify();
  }
  // Lets `n` chunks per output through, then blocks until Open().
  void HoldAfter(int n) {
    absl::MutexLock lock(&mu_);
    free_chunks_ = n;
    open_ = false;
  }
  void Open() {
    absl::MutexLock lock(&mu_);
    open_ = true;
  }

  absl::Notification accepted_;
  absl::Notification finished_;
  absl::Mutex mu_;
  MovieInfo info_;
  int width_ = 0, height_ = 0;
  int progress_reports_ = 0;
  VideoProgress last_progress_;
  std::map<int, std::string> outputs_;
  std::map<int, int> chunks_;
  int free_chunks_ = 1 << 30;
  bool open_ = true;
  bool failing_ = false;
  int finished_calls_ = 0;
  absl::StatusOr<VideoSummary> result_ = absl::UnknownError("not finished");
};

class VideoPipelineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    av_log_set_level(AV_LOG_ERROR);
    dir_ = new std::string(testing::MakeTempDir("video-pipeline-test"));
    const std::string src =
        "-f lavfi -i testsrc2=size=160x120:rate=15:duration=1.5 ";
    const std::string tone = "-f lavfi -i sine=frequency=440:duration=1.5 ";
    const std::string x264 = "-c:v libx264 -preset ultrafast -pix_fmt yuv420p ";
    struct Spec {
      const char* name;
      std::string args;
    };
    const Spec specs[] = {
        {"moov_at_end.mp4", src + tone + x264 + "-c:a aac -shortest"},
        {"faststart.mp4",
         "-f lavfi -i testsrc2=size=160x120:rate=15:duration=6 "
         "-f lavfi -i sine=frequency=440:duration=6 " +
             x264 + "-c:a aac -shortest -movflags +faststart"},
        {"vp9_opus.mkv", src + tone +
                             "-c:v libvpx-vp9 -deadline realtime -cpu-used 8 "
                             "-b:v 200k -c:a libopus -shortest"},
        {"vorbis.mkv", src + tone + x264 + "-c:a libvorbis -shortest"},
        {"odd_318x178.mp4",
         "-f lavfi -i testsrc2=size=318x178:rate=15:duration=1 " + x264},
        {"odd_317x179.mkv",
         "-f lavfi -i testsrc2=size=317x179:rate=15:duration=1 "
         "-c:v ffv1"},
        {"vfr.mkv",
         "-f lavfi -i testsrc2=size=160x120:rate=20:duration=2 -vf "
         "\"setpts='if(lt(N,10),N*0.05,0.5+(N-10)*0.12)/TB'\" "
         "-fps_mode passthrough " +
             x264},
        {"unrotated.mp4",
         "-f lavfi -i testsrc2=size=192x108:rate=15:duration=1 " + tone + x264 +
             "-c:a aac -shortest"},
        // Phone style: stored landscape, shown portrait (set by a remux).
        {"rotated.mp4", "-i '" + Path("unrotated.mp4") +
                            "' -c copy -metadata:s:v:0 rotate=90"},
        // Anamorphic by the container only (the H.264 stream says 1:1), as
        // `-aspect` on a remux makes it; and that turned a quarter.
        {"container_sar.mp4",
         "-i '" + Path("unrotated.mp4") + "' -c copy -aspect 4:3"},
        {"container_sar_rotated.mp4",
         "-i '" + Path("unrotated.mp4") +
             "' -c copy -aspect 4:3 -metadata:s:v:0 rotate=90"},
        // Two sound tracks: PCM first (the default), then AAC.
        {"two_sounds.mkv", src + tone + tone + "-map 0:v -map 1:a -map 2:a " +
                               x264 + "-c:a:0 pcm_s16le -c:a:1 aac -shortest"},
        {"silent.mp4", src + x264},
        // HDR, as phones (HLG) and HDR10 masters (PQ) make it: 10-bit
        // BT.2020, the test picture's white at 1000 cd/m2.
        {"hdr_pq.mkv",
         "-f lavfi -i testsrc2=size=160x120:rate=10:duration=0.5 -vf "
         "zscale=tin=bt709:min=bt709:pin=bt709:t=smpte2084:m=bt2020nc:"
         "p=bt2020:npl=1000,format=yuv420p10le -c:v libx264 -crf 10 "
         "-color_primaries bt2020 -color_trc smpte2084 -colorspace bt2020nc"},
        {"hdr_hlg.mkv",
         "-f lavfi -i testsrc2=size=160x120:rate=10:duration=0.5 -vf "
         "zscale=tin=bt709:min=bt709:pin=bt709:t=arib-std-b67:m=bt2020nc:"
         "p=bt2020:npl=1000,format=yuv420p10le -c:v libx264 -crf 10 "
         "-color_primaries bt2020 -color_trc arib-std-b67 -colorspace "
         "bt2020nc"},
        // A still photo (one JPEG, no EXIF yet: the test adds it).
        {"photo.jpg", "-f lavfi -i testsrc2=size=64x32 -frames:v 1 -update 1"},
        // Soft colours with smooth edges (most exist at other luminances;
        // 4:2:0 chroma blurs little): for preserve_color.
        {"pastel.mp4",
         "-f lavfi -i testsrc2=size=160x120:rate=15:duration=1 -vf "
         "eq=saturation=0.5,gblur=sigma=1.5 " +
             x264},
        {"audio_only.m4a",
         "-f lavfi -i sine=frequency=440:duration=1 -c:a aac"},
        {"long.mp4",
         "-f lavfi -i testsrc2=size=64x48:rate=15:duration=10 " + x264},
        // Two MPEG-TS segments whose MP2 audio differs (stereo 48 kHz, then
        // mono 22.05 kHz); the test concatenates them, as a broadcast
        // recording switching programmes does. The second's offset puts its
        // first frame one frame after the first's last (an offset of 1 s
        // left 0.057 s, and the outputs' check, decoding at 1/15 s, then
        // failed or passed with the rounding of the start).
        {"mp2_stereo48k.ts",
         "-f lavfi -i testsrc2=size=160x120:rate=15:duration=1 "
         "-f lavfi -i sine=frequency=440:sample_rate=48000:duration=1 "
         "-ac 2 " +
             x264 + "-c:a mp2 -f mpegts"},
        {"mp2_mono22k.ts",
         "-f lavfi -i testsrc2=size=160x120:rate=15:duration=1 "
         "-f lavfi -i sine=frequency=660:sample_rate=22050:duration=1 "
         "-ac 1 " +
             x264 + "-c:a mp2 -output_ts_offset 1.01 -f mpegts"},
        // PCM at a rate AAC does not have (transcoded at 7350 Hz, whose priming
        // is 139 ms: it must not shift the video).
        {"pcm_7khz.mkv",
         src + "-f lavfi -i sine=frequency=440:sample_rate=7000:duration=1.5 " +
             x264 + "-c:a pcm_s16le -shortest"},
        // MP3 below 16 kHz: FFmpeg's MP4 muxer refuses it in the header.
        {"mp3_8khz.mkv",
         src + "-f lavfi -i sine=frequency=440:sample_rate=8000:duration=1.5 " +
             x264 + "-c:a libmp3lame -shortest"},
        // Broadcast / HLS style: AAC in ADTS form, no global header.
        {"aac.ts", src + tone + x264 + "-c:a aac -shortest -f mpegts"},
        {"long.ts",
         "-f lavfi -i testsrc2=size=160x120:rate=15:duration=6 "
         "-f lavfi -i sine=frequency=440:duration=6 " +
             x264 + "-c:a aac -shortest -f mpegts"},
        {"long.mkv",
         "-f lavfi -i testsrc2=size=160x120:rate=15:duration=6 "
         "-f lavfi -i sine=frequency=440:duration=6 " +
             x264 + "-c:a aac -shortest"},
    };
    for (const Spec& spec : specs) {
      absl::Status s = testing::MakeMovie(spec.args, Path(spec.name));
      ASSERT_TRUE(s.ok()) << s;
    }
  }

  static std::string Path(const std::string& name) {
    return absl::StrCat(*dir_, "/", name);
  }

  static std::string Bytes(const std::string& name) {
    auto bytes = testing::ReadFile(Path(name));
    EXPECT_TRUE(bytes.ok()) << bytes.status();
    return bytes.value_or("");
  }

  VideoPipeline::Options BaseOptions(int outputs = 2) {
    VideoPipeline::Options options;
    for (int i = 0; i < outputs; ++i) {
      std::vector<float> row(4, 0.f);
      row[i % 4] = 1.f;
      options.style_weights.push_back(row);
    }
    options.open_job = [this](JobOptions o) {
      return queue_.OpenJob(std::move(o));
    };
    options.progress_interval = absl::Milliseconds(50);
    options.preset = "ultrafast";
    return options;
  }

  // Uploads `bytes` in chunks and waits for the job to finish.
  void Run(const std::string& bytes, VideoPipeline::Options options,
           CollectingSink* sink, size_t chunk = 4096) {
    auto spool = Spool::Create({});
    ASSERT_TRUE(spool.ok());
    auto pipeline = VideoPipeline::Start(options, spool->get(), sink);
    ASSERT_TRUE(pipeline.ok()) << pipeline.status();
    for (size_t pos = 0; pos < bytes.size(); pos += chunk) {
      if (!(*spool)->Append(absl::string_view(bytes).substr(pos, chunk)).ok()) {
        break;
      }
    }
    (*spool)->Finish();
    sink->finished_.WaitForNotification();
    pipeline->reset();
    EXPECT_EQ(sink->finished_calls_, 1);
    EXPECT_EQ(queue_.open_jobs(), 0);
  }

  // A job whose upload arrives in two parts: Start() sends the first three
  // quarters of `bytes`, Finish() the rest, and waits for the job's end.
  class UploadInTwoParts {
   public:
    UploadInTwoParts(std::string bytes, CollectingSink* sink)
        : bytes_(std::move(bytes)), sink_(sink) {}
    void Start(VideoPipeline::Options options) {
      auto spool = Spool::Create({});
      ASSERT_TRUE(spool.ok()) << spool.status();
      spool_ = *std::move(spool);
      auto pipeline = VideoPipeline::Start(options, spool_.get(), sink_);
      ASSERT_TRUE(pipeline.ok()) << pipeline.status();
      pipeline_ = *std::move(pipeline);
      ASSERT_TRUE(
          spool_->Append(absl::string_view(bytes_).substr(0, Part())).ok());
    }
    void Finish() {
      ASSERT_NE(pipeline_, nullptr);
      ASSERT_TRUE(
          spool_->Append(absl::string_view(bytes_).substr(Part())).ok());
      spool_->Finish();
      sink_->finished_.WaitForNotification();
      pipeline_.reset();
    }

   private:
    size_t Part() const { return bytes_.size() * 3 / 4; }
    std::string bytes_;
    CollectingSink* sink_;
    std::unique_ptr<Spool> spool_;
    std::unique_ptr<VideoPipeline> pipeline_;
  };

  // Stylizes the movie at `input` into one output in `container`, which
  // must succeed, and writes it to `out`.
  void RunToFile(const std::string& input, OutputContainer container,
                 const std::string& out, CollectingSink* sink) {
    VideoPipeline::Options options = BaseOptions(1);
    options.container = container;
    Run(testing::ReadFile(input).value_or(""), options, sink);
    ASSERT_TRUE(sink->result_.ok()) << sink->result_.status();
    ASSERT_TRUE(testing::WriteFile(out, sink->outputs_[0]).ok());
  }

  // Writes each output to a file and checks it against the input.
  void ExpectOutputsMatch(const std::string& input, CollectingSink* sink,
                          int outputs, int width, int height, bool audio,
                          const std::string& ext = "mp4") {
    ASSERT_TRUE(sink->result_.ok()) << sink->result_.status();
    auto in = testing::ProbeMovie(Path(input));
    ASSERT_TRUE(in.ok()) << in.status();
    ASSERT_EQ(static_cast<int>(sink->result_->outputs.size()), outputs);
    for (int i = 0; i < outputs; ++i) {
      SCOPED_TRACE(absl::StrCat(input, " output ", i));
      std::string path = Path(absl::StrCat(input, ".out", i, ".", ext));
      ASSERT_TRUE(testing::WriteFile(path, sink->outputs_[i]).ok());
      auto out = testing::ProbeMovie(path);
      ASSERT_TRUE(out.ok()) << out.status();
      EXPECT_TRUE(out->decodes_cleanly);
      EXPECT_EQ(out->video_codec, "h264");
      EXPECT_EQ(out->frames, in->frames);
      EXPECT_NEAR(out->duration, in->duration, in->frame_duration + 1e-3);
      EXPECT_EQ(out->width, width);
      EXPECT_EQ(out->height, height);
      EXPECT_EQ(out->has_audio, audio);
      EXPECT_EQ(out->rotation, in->rotation);
      const OutputSummary& summary = sink->result_->outputs[i];
      EXPECT_EQ(summary.frames, in->frames);
      EXPECT_EQ(summary.bytes, sink->outputs_[i].size());
      EXPECT_NEAR(summary.duration_seconds, in->duration,
                  in->frame_duration + 1e-3);
    }
    // Output k holds style k: the fake job divides output k's pixels by
    // k + 1, which survives the encoding (no test looked past output 0, so
    // writers taking one another's frames went unseen).
    const std::optional<double> first = FirstFrameMean(input, 0, ext);
    ASSERT_TRUE(first.has_value());
    EXPECT_GT(*first, 40.0);
    for (int i = 1; i < outputs; ++i) {
      const std::optional<double> mean = FirstFrameMean(input, i, ext);
      ASSERT_TRUE(mean.has_value());
      EXPECT_NEAR(*mean * (i + 1), *first, 0.05 * *first)
          << "output " << i << " does not hold style " << i;
    }
  }

  // The mean of the first frame's RGB samples of output `i` written by
  // ExpectOutputsMatch.
  std::optional<double> FirstFrameMean(const std::string& input, int i,
                                       const std::string& ext) {
    auto rgb = testing::RunCommand(
        absl::StrCat("ffmpeg -nostdin -loglevel error -i '",
                     Path(absl::StrCat(input, ".out", i, ".", ext)),
                     "' -frames:v 1 -f rawvideo -pix_fmt rgb24 -"));
    if (!rgb.ok() || rgb->empty()) return std::nullopt;
    double sum = 0;
    for (const char c : *rgb) sum += static_cast<uint8_t>(c);
    return sum / rgb->size();
  }

  static std::string* dir_;
  FakeJobQueue queue_;
};

std::string* VideoPipelineTest::dir_ = nullptr;

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

// Sound that runs on after the video's last frame (a music video whose
// picture ends first; a hostile movie of one frame and gigabytes of sound)
// is written in fragments of a few seconds. The MP4 muxer cut fragments only
// at video keyframes, so it held all of that sound in memory, in every
// output, until the end.
TEST_F(VideoPipelineTest, SoundAfterTheLastFrameIsWrittenAsItComes) {
  const std::string name = "short_picture_long_sound.mkv";
  ASSERT_TRUE(testing::MakeMovie(
                  "-f lavfi -i testsrc2=size=64x48:rate=10:duration=0.5 "
                  "-f lavfi -i sine=frequency=440:sample_rate=44100:"
                  "duration=30 -c:v libx264 -preset ultrafast -pix_fmt "
                  "yuv420p -c:a aac",
                  Path(name))
                  .ok());
  CollectingSink sink;
  Run(Bytes(name), BaseOptions(1), &sink);
  ASSERT_TRUE(sink.result_.ok()) << sink.result_.status();
  // A fragment per 4 s of sound or so: 30 s make several (one before).
  const std::string& out = sink.outputs_[0];
  int fragments = 0;
  for (size_t at = out.find("moof"); at != std::string::npos;
       at = out.find("moof", at + 4)) {
    ++fragments;
  }
  EXPECT_GE(fragments, 5);
  auto probe = testing::ProbeMovie(Path(name));
  ASSERT_TRUE(probe.ok());
  ASSERT_TRUE(testing::WriteFile(Path(name + ".out.mp4"), out).ok());
  auto written = testing::ProbeMovie(Path(name + ".out.mp4"));
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_TRUE(written->decodes_cleanly);
  EXPECT_TRUE(written->has_audio);
  EXPECT_EQ(written->frames, probe->frames);
}

TEST_F(VideoPipelineTest, MatroskaVp9OpusIntoMp4CopiesOpus) {
  CollectingSink sink;
  Run(Bytes("vp9_opus.mkv"), BaseOptions(2), &sink);
  ExpectOutputsMatch("vp9_opus.mkv", &sink, 2, 160, 120, true);
  auto out = testing::ProbeMovie(Path("vp9_opus.mkv.out0.mp4"));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->audio_codec, "opus");
  EXPECT_EQ(sink.info_.video_codec, "vp9");
}

TEST_F(VideoPipelineTest, VorbisIsTranscodedToAacForMp4) {
  CollectingSink sink;
  Run(Bytes("vorbis.mkv"), BaseOptions(1), &sink);
  ExpectOutputsMatch("vorbis.mkv", &sink, 1, 160, 120, true);
  auto out = testing::ProbeMovie(Path("vorbis.mkv.out0.mp4"));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->audio_codec, "aac");
}

TEST_F(VideoPipelineTest, MatroskaOutputKeepsVorbis) {
  CollectingSink sink;
  VideoPipeline::Options options = BaseOptions(1);
  options.container = OutputContainer::kMatroska;
  Run(Bytes("vorbis.mkv"), options, &sink);
  ExpectOutputsMatch("vorbis.mkv", &sink, 1, 160, 120, true, "mkv");
  auto out = testing::ProbeMovie(Path("vorbis.mkv.out0.mkv"));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->audio_codec, "vorbis");
}

TEST_F(VideoPipelineTest, OddSizes) {
  CollectingSink even;
  Run(Bytes("odd_318x178.mp4"), BaseOptions(1), &even);
  ExpectOutputsMatch("odd_318x178.mp4", &even, 1, 318, 178, false);
  CollectingSink odd;
  Run(Bytes("odd_317x179.mkv"), BaseOptions(1), &odd);
  ExpectOutputsMatch("odd_317x179.mkv", &odd, 1, 316, 178, false);
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

TEST_F(VideoPipelineTest, RotationMetadataIsKept) {
  CollectingSink sink;
  Run(Bytes("rotated.mp4"), BaseOptions(1), &sink);
  ExpectOutputsMatch("rotated.mp4", &sink, 1, 192, 108, true);
  EXPECT_EQ(sink.info_.rotation_degrees, 90);
  auto out = testing::ProbeMovie(Path("rotated.mp4.out0.mp4"));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->rotation, 90);
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

// The first frame of the movie at `path` as ffmpeg shows it (turned as its
// display matrix says), packed RGB24; `invert` undoes the fake job's
// inversion.
std::string ShownFirstFrame(const std::string& path, bool invert) {
  auto frame = testing::RunCommand(absl::StrCat(
      "ffmpeg -nostdin -loglevel error -i '", path, "' -frames:v 1 ",
      invert ? "-vf negate " : "", "-f rawvideo -pix_fmt rgb24 -"));
  EXPECT_TRUE(frame.ok()) << frame.status();
  return frame.value_or("");
}

// The mean difference of two pictures of one size, per byte.
double MeanDiff(const std::string& a, const std::string& b) {
  EXPECT_EQ(a.size(), b.size());
  if (a.empty() || a.size() != b.size()) return 255;
  double diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff += std::abs(static_cast<uint8_t>(a[i]) - static_cast<uint8_t>(b[i]));
  }
  return diff / a.size();
}

// Matroska outputs cannot carry a display matrix (FFmpeg 5.1's muxer writes
// none), and a phone's portrait clip came out lying on its side. Their
// frames are turned upright instead: 108x192, as ffmpeg shows the input.
TEST_F(VideoPipelineTest, MatroskaOutputsOfARotatedMovieAreTurnedUpright) {
  CollectingSink sink;
  VideoPipeline::Options options = BaseOptions(1);
  options.container = OutputContainer::kMatroska;
  Run(Bytes("rotated.mp4"), options, &sink);
  ASSERT_TRUE(sink.result_.ok()) << sink.result_.status();
  EXPECT_EQ(sink.info_.rotation_degrees, 90);  // the input's
  EXPECT_FALSE(sink.info_.mirrored);
  const std::string out_path = Path("rotated.mp4.upright.mkv");
  ASSERT_TRUE(testing::WriteFile(out_path, sink.outputs_[0]).ok());
  auto out = testing::ProbeMovie(out_path);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->width, 108);
  EXPECT_EQ(out->height, 192);
  EXPECT_EQ(out->rotation, 0);
  EXPECT_EQ(out->frames, 15);
  // The first frame, inverted back (the fake job inverts), against the
  // input's first frame as ffmpeg turns it for display.
  const std::string want = ShownFirstFrame(Path("rotated.mp4"), false);
  ASSERT_EQ(want.size(), 108u * 192 * 3);
  EXPECT_LT(MeanDiff(ShownFirstFrame(out_path, true), want), 8)
      << "not the picture players show";
}

// A display matrix that mirrors (its determinant is negative: a front
// camera's, a mirrored EXIF orientation's). av_display_rotation_get reads a
// pure mirror as a half turn, so it was reported as rotation 180 and its
// Matroska outputs came out upside down. Every output now shows what
// ffmpeg shows of the input: Matroska turned and mirrored, MP4 with the
// input's matrix, mirror included.
TEST_F(VideoPipelineTest, MirroredMoviesComeOutAsPlayersShowThem) {
  struct Case {
    double clockwise;  // av_display_rotation_set's angle
    int rotation;      // counter-clockwise, as reported
    size_t width, height;
  };
  for (const Case& c : {Case{0, 0, 192, 108}, Case{90, 270, 108, 192},
                        Case{-90, 90, 108, 192}, Case{180, 180, 192, 108}}) {
    int32_t matrix[9];
    av_display_rotation_set(matrix, c.clockwise);
    av_display_matrix_flip(matrix, /*hflip=*/1, /*vflip=*/0);
    const std::string name = absl::StrCat("mirrored", c.rotation, ".mp4");
    ASSERT_TRUE(testing::WriteFile(
                    Path(name),
                    testing::WithDisplayMatrix(Bytes("unrotated.mp4"), matrix))
                    .ok());
    const std::string want = ShownFirstFrame(Path(name), false);
    ASSERT_EQ(want.size(), c.width * c.height * 3) << name;
    for (OutputContainer container :
         {OutputContainer::kFragmentedMp4, OutputContainer::kMatroska}) {
      const bool mkv = container == OutputContainer::kMatroska;
      const std::string out = Path(name + (mkv ? ".out.mkv" : ".out.mp4"));
      SCOPED_TRACE(out);
      CollectingSink sink;
      ASSERT_NO_FATAL_FAILURE(RunToFile(Path(name), container, out, &sink));
      EXPECT_EQ(sink.info_.rotation_degrees, c.rotation);
      EXPECT_TRUE(sink.info_.mirrored);
      EXPECT_EQ(static_cast<size_t>(sink.width_), mkv ? c.width : 192u);
      EXPECT_LT(MeanDiff(ShownFirstFrame(out, true), want), 8)
          << "not the picture players show";
    }
  }
}

// The sample aspect ratio players show (the container's, else the
// bitstream's), as ffprobe reports it.
std::string ShownSampleAspectRatio(const std::string& path) {
  auto out = testing::RunCommand(absl::StrCat(
      "ffprobe -v error -select_streams v:0 -show_entries "
      "stream=sample_aspect_ratio -of csv=p=0 '",
      path, "'"));
  if (!out.ok()) return "?";
  // The first field (a display matrix adds its own after a comma).
  return std::string(absl::StripAsciiWhitespace(
      std::vector<std::string>(absl::StrSplit(*out, ','))[0]));
}

// A ratio stored by the container only was lost (the outputs came out
// square), and a quarter turn into Matroska kept it unswapped.
TEST_F(VideoPipelineTest, TheShownSampleAspectRatioIsKept) {
  // 192x108 shown 4:3: samples 3:4.
  ASSERT_EQ(ShownSampleAspectRatio(Path("container_sar.mp4")), "3:4");
  struct Case {
    const char* input;
    OutputContainer container;
    const char* want;
  };
  for (const Case& c :
       {Case{"container_sar.mp4", OutputContainer::kFragmentedMp4, "3:4"},
        Case{"container_sar.mp4", OutputContainer::kMatroska, "3:4"},
        Case{"container_sar_rotated.mp4", OutputContainer::kFragmentedMp4, "3:4"},
        // Turned upright: 108x192 samples shown 3:4 on their side.
        Case{"container_sar_rotated.mp4", OutputContainer::kMatroska,
             "4:3"}}) {
    CollectingSink sink;
    VideoPipeline::Options options = BaseOptions(1);
    options.container = c.container;
    Run(Bytes(c.input), options, &sink);
    ASSERT_TRUE(sink.result_.ok()) << sink.result_.status();
    const std::string out_path = Path(absl::StrCat(
        c.input, ".sar.",
        c.container == OutputContainer::kMatroska ? "mkv" : "mp4"));
    ASSERT_TRUE(testing::WriteFile(out_path, sink.outputs_[0]).ok());
    EXPECT_EQ(ShownSampleAspectRatio(out_path), c.want) << out_path;
  }
}

// A default sound track in a codec FFmpeg cannot decode (AC-4 or MPEG-H in
// a broadcast recording) failed the job although another track played.
TEST_F(VideoPipelineTest, AnUndecodableDefaultSoundGivesWayToAPlayableOne) {
  std::string bytes = Bytes("two_sounds.mkv");
  const size_t at = bytes.find("A_PCM/INT/LIT");
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at, 13, "A_ZZZ/INT/LIT");  // a codec id FFmpeg does not know
  CollectingSink sink;
  Run(bytes, BaseOptions(1), &sink);
  ASSERT_TRUE(sink.result_.ok()) << sink.result_.status();
  const std::string out_path = Path("two_sounds.out.mp4");
  ASSERT_TRUE(testing::WriteFile(out_path, sink.outputs_[0]).ok());
  auto out = testing::ProbeMovie(out_path);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->audio_codec, "aac");
}

// A photo sent as a movie: its EXIF orientation, which FFmpeg's decoder
// gives the frame rather than the stream, becomes the input's rotation and
// the outputs' display matrix, so players show it the way up the image API
// turns it. Orientation 6 is "turn 90 degrees clockwise to view": 270
// counter-clockwise (ffprobe: -90).
TEST_F(VideoPipelineTest, APhotosExifOrientationBecomesItsRotation) {
  for (const auto& [orientation, rotation] :
       {std::pair{6, 270}, std::pair{3, 180}, std::pair{1, 0}}) {
    SCOPED_TRACE(absl::StrCat("orientation ", orientation));
    const std::string name = absl::StrCat("photo", orientation, ".jpg");
    ASSERT_TRUE(
        testing::WriteFile(Path(name), testing::WithExifOrientation(
                                           Bytes("photo.jpg"), orientation))
            .ok());
    CollectingSink sink;
    Run(Bytes(name), BaseOptions(1), &sink);
    ASSERT_TRUE(sink.result_.ok()) << sink.result_.status();
    EXPECT_EQ(sink.info_.rotation_degrees, rotation);
    const std::string out_path = Path(name + ".out.mp4");
    ASSERT_TRUE(testing::WriteFile(out_path, sink.outputs_[0]).ok());
    auto out = testing::ProbeMovie(out_path);
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(out->frames, 1);
    EXPECT_EQ(out->width, 64);
    EXPECT_EQ(out->height, 32);
    EXPECT_EQ((out->rotation + 360) % 360, rotation);
  }
}

// HDR video is tone-mapped to SDR BT.709 before the model sees it, as
// FFmpeg's own filter chain does it (zscale and tonemap, an implementation
// of its own), and the outputs are tagged BT.709. The fake job inverts the
// pixels, so the output is the inverted reference; lossless x264, and the
// reference made 4:2:0 as the output is.
TEST_F(VideoPipelineTest, HdrIsToneMappedToSdrBt709) {
  for (const auto& [name, transfer] :
       {std::pair{"hdr_pq.mkv", "smpte2084"},
        std::pair{"hdr_hlg.mkv", "arib-std-b67"}}) {
    SCOPED_TRACE(name);
    VideoPipeline::Options options = BaseOptions(1);
    options.crf = 0;  // lossless: what differs is the conversion
    CollectingSink sink;
    Run(Bytes(name), options, &sink);
    ExpectOutputsMatch(name, &sink, 1, 160, 120, false);
    EXPECT_EQ(sink.info_.hdr_transfer, transfer);
    const std::string out_path = Path(absl::StrCat(name, ".out0.mp4"));
    auto tags = testing::RunCommand(absl::StrCat(
        "ffprobe -v error -select_streams v:0 -show_entries "
        "stream=color_space,color_transfer,color_primaries -of csv=p=0 '",
        out_path, "'"));
    ASSERT_TRUE(tags.ok()) << tags.status();
    EXPECT_EQ(*tags, "bt709,bt709,bt709\n");
    auto reference = testing::RunCommand(absl::StrCat(
        "ffmpeg -nostdin -v error -i '", Path(name),
        "' -vf zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,"
        "tonemap=tonemap=mobius:desat=0,zscale=t=bt709:m=bt709:r=tv,"
        "format=yuv420p,scale=in_color_matrix=bt709:in_range=tv,format=rgb24 "
        "-f rawvideo -"));
    ASSERT_TRUE(reference.ok()) << reference.status();
    auto ours = testing::RunCommand(absl::StrCat(
        "ffmpeg -nostdin -v error -i '", out_path,
        "' -vf scale=in_color_matrix=bt709:in_range=tv,format=rgb24 "
        "-f rawvideo -"));
    ASSERT_TRUE(ours.ok()) << ours.status();
    ASSERT_EQ(ours->size(), reference->size());
    ASSERT_FALSE(ours->empty());
    double error = 0, spread = 0;
    std::vector<int> errors;
    for (size_t i = 0; i < ours->size(); ++i) {
      const int want = 255 - static_cast<uint8_t>((*reference)[i]);
      errors.push_back(std::abs(static_cast<uint8_t>((*ours)[i]) - want));
      error += errors.back();
      spread += std::abs(want - 128);
    }
    error /= static_cast<double>(ours->size());
    spread /= static_cast<double>(ours->size());
    std::nth_element(errors.begin(), errors.begin() + errors.size() / 2,
                     errors.end());
    // Most pixels agree within a level or two; the mean is the two chroma
    // resamplers' (swscale's, zimg's) at the test picture's sharp colour
    // edges. The coded values taken as SDR, as before, differ by 58-72.
    EXPECT_LE(errors[errors.size() / 2], 3) << "median difference";
    EXPECT_LT(error, 8.0) << "mean difference from FFmpeg's tone mapping";
    EXPECT_GT(spread, 40.0);  // a picture, not a flat grey
  }
}

TEST_F(VideoPipelineTest, NoAudioAndDropAudio) {
  CollectingSink silent;
  Run(Bytes("silent.mp4"), BaseOptions(1), &silent);
  ExpectOutputsMatch("silent.mp4", &silent, 1, 160, 120, false);
  CollectingSink dropped;
  VideoPipeline::Options options = BaseOptions(1);
  options.drop_audio = true;
  Run(Bytes("moov_at_end.mp4"), options, &dropped);
  ExpectOutputsMatch("moov_at_end.mp4", &dropped, 1, 160, 120, false);
}

TEST_F(VideoPipelineTest, Downscales) {
  CollectingSink sink;
  VideoPipeline::Options options = BaseOptions(1);
  options.max_side = 100;
  Run(Bytes("odd_318x178.mp4"), options, &sink);
  ExpectOutputsMatch("odd_318x178.mp4", &sink, 1, 100, 56, false);
  EXPECT_EQ(sink.width_, 100);
  EXPECT_EQ(sink.height_, 56);
}

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

// Stream start times (seconds) of `path` as ffprobe reads them, edit lists
// applied: {video, audio}.
std::pair<double, double> StartTimes(const std::string& path) {
  auto out = testing::RunCommand(absl::StrCat(
      "ffprobe -v error -show_entries stream=codec_type,start_time -of "
      "csv=p=0 '",
      path, "'"));
  double video = -1, audio = -1;
  for (absl::string_view line : absl::StrSplit(out.value_or(""), '\n')) {
    std::vector<std::string> f = absl::StrSplit(line, ',');
    if (f.size() < 2) continue;
    double t = -1;
    if (!absl::SimpleAtod(f[1], &t)) continue;
    (f[0] == "video" ? video : audio) = t;
  }
  return {video, audio};
}

// A capture whose clock reads 100 s (an MPEG-TS adds its own 1.4 s): the
// outputs start at 0, as ffmpeg's do, with the sound where it was against
// the picture. An MP4 output used to open with an empty edit of 101.4 s,
// a minute and a half of nothing in players that honour edit lists.
TEST_F(VideoPipelineTest, ALateStartingInputGivesOutputsThatStartAtZero) {
  const std::string path = Path("late.ts");
  ASSERT_TRUE(testing::MakeMovie(
                  "-f lavfi -i testsrc2=size=160x120:rate=10:duration=2 "
                  "-f lavfi -i sine=frequency=440:duration=2 -c:v libx264 "
                  "-preset ultrafast -pix_fmt yuv420p -c:a aac "
                  "-output_ts_offset 100 -f mpegts",
                  path)
                  .ok());
  const auto [in_video, in_audio] = StartTimes(path);
  ASSERT_GT(in_video, 100);
  ASSERT_GT(in_audio, 100);
  for (OutputContainer container :
       {OutputContainer::kFragmentedMp4, OutputContainer::kMatroska}) {
    const bool mkv = container == OutputContainer::kMatroska;
    SCOPED_TRACE(mkv ? "matroska" : "mp4");
    CollectingSink sink;
    const std::string out = Path(mkv ? "late.out.mkv" : "late.out.mp4");
    ASSERT_NO_FATAL_FAILURE(RunToFile(path, container, out, &sink));
    const auto [video, audio] = StartTimes(out);
    EXPECT_NEAR(std::min(video, audio), 0, 0.002);
    EXPECT_NEAR(audio - video, in_audio - in_video, 0.025);
    EXPECT_EQ(sink.result_->outputs[0].frames, 20);
  }
}

// The shape rule holds for the frames the model gets: a 2048x48 movie is
// fine, but max_side=1024 would make it 1024x24, too thin to stylize.
// MPEG-TS sound (AAC in ADTS form) that starts 3 s after the picture: its
// configuration lay past the reader's look-ahead of 64 packets (2.6 s of
// 25 fps video), so it was re-encoded, where the CLI's split copied it.
// Copied, the sound keeps its place to the tick (a new encoder's priming
// moves it by 21 ms).
TEST_F(VideoPipelineTest, LateAdtsSoundIsCopied) {
  const std::string path = Path("late_sound.ts");
  ASSERT_TRUE(testing::MakeMovie(
                  "-f lavfi -i testsrc2=size=160x120:rate=25:duration=6 "
                  "-itsoffset 3 -f lavfi -i sine=frequency=440:duration=3 "
                  "-map 0:v -map 1:a -c:v libx264 -preset ultrafast -g 50 "
                  "-pix_fmt yuv420p -c:a aac -f mpegts",
                  path)
                  .ok());
  const auto [in_video, in_audio] = StartTimes(path);
  ASSERT_GT(in_audio - in_video, 2.9);
  CollectingSink sink;
  const std::string out = Path("late_sound.out.mp4");
  ASSERT_NO_FATAL_FAILURE(
      RunToFile(path, OutputContainer::kFragmentedMp4, out, &sink));
  const auto [video, audio] = StartTimes(out);
  EXPECT_NEAR(audio - video, in_audio - in_video, 0.003);
}

// A lossless trim (`ffmpeg -ss 1.5 -i in.mp4 -c copy`) keeps the sound
// before its start, hidden by its edit list. Copied, it was played: the
// outputs began with 1 s of sound from before the trim (an MP4's audio at
// -1.0 s, a Matroska's picture at +1.0 s). Only one packet is kept ahead,
// as the decoder's preroll.
TEST_F(VideoPipelineTest, SoundATrimHidesStaysHidden) {
  const std::string source = Path("untrimmed.mp4");
  ASSERT_TRUE(testing::MakeMovie(
                  "-f lavfi -i testsrc2=size=160x90:rate=30:duration=6 "
                  "-f lavfi -i sine=sample_rate=48000:duration=6 -c:v libx264 "
                  "-preset ultrafast -bf 3 -g 60 -pix_fmt yuv420p -c:a aac",
                  source)
                  .ok());
  const std::string path = Path("trimmed.mp4");
  ASSERT_TRUE(testing::MakeMovie(
                  absl::StrCat("-ss 1.5 -i '", source, "' -t 3 -c copy"), path)
                  .ok());
  for (OutputContainer container :
       {OutputContainer::kFragmentedMp4, OutputContainer::kMatroska}) {
    const bool mkv = container == OutputContainer::kMatroska;
    SCOPED_TRACE(mkv ? "matroska" : "mp4");
    CollectingSink sink;
    const std::string out = Path(mkv ? "trimmed.out.mkv" : "trimmed.out.mp4");
    ASSERT_NO_FATAL_FAILURE(RunToFile(path, container, out, &sink));
    const auto [video, audio] = StartTimes(out);
    // AAC's frame is 21.3 ms at 48 kHz: one packet of preroll at most
    // (Matroska, without negative times, starts the picture after it).
    EXPECT_LT(video, 0.05);
    EXPECT_GT(audio - video, -0.05);
    EXPECT_LE(audio - video, 0.002);
  }
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

// --- Unusual media. ---

// Ten channels without names (a field recorder's tracks) have no usual
// layout to downmix from: the job failed at its first sound ("configuring
// the audio resampler: Invalid argument"). The AAC output takes the first
// two channels.
TEST_F(VideoPipelineTest, TenUnnamedChannelsBecomeStereoAac) {
  std::string tone = "sin(440*2*PI*t)";
  for (int c = 1; c < 10; ++c) tone += "|sin(440*2*PI*t)";
  const std::string name = "ten_channels.mkv";
  ASSERT_TRUE(testing::MakeMovie(
                  absl::StrCat("-f lavfi -i testsrc2=size=64x48:rate=10:"
                               "duration=1 -f lavfi -i \"aevalsrc=exprs=",
                               tone,
                               ":sample_rate=48000:duration=1\" -c:v libx264 "
                               "-preset ultrafast -pix_fmt yuv420p -c:a "
                               "pcm_s16le"),
                  Path(name))
                  .ok());
  CollectingSink sink;
  Run(Bytes(name), BaseOptions(1), &sink);
  ExpectOutputsMatch(name, &sink, 1, 64, 48, true);
  auto out = testing::ProbeMovie(Path(name + ".out0.mp4"));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->audio_codec, "aac");
  auto channels = testing::RunCommand(absl::StrCat(
      "ffprobe -v error -select_streams a:0 -show_entries stream=channels "
      "-of csv=p=0 '",
      Path(name + ".out0.mp4"), "'"));
  ASSERT_TRUE(channels.ok()) << channels.status();
  EXPECT_EQ(absl::StripAsciiWhitespace(*channels), "2");
}

TEST_F(VideoPipelineTest, AudioLayoutAndRateChangeMidStreamIsResampled) {
  // MP2 goes into MP4 through the AAC transcoder, whose resampler must follow
  // the change (it used to be fed mono 22.05 kHz frames as stereo 48 kHz).
  const std::string name = "mp2_layout_change.ts";
  ASSERT_TRUE(testing::WriteFile(Path(name), Bytes("mp2_stereo48k.ts") +
                                                 Bytes("mp2_mono22k.ts"))
                  .ok());
  CollectingSink sink;
  Run(Bytes(name), BaseOptions(2), &sink);
  ExpectOutputsMatch(name, &sink, 2, 160, 120, true);
  auto out = testing::ProbeMovie(Path(name + ".out0.mp4"));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->audio_codec, "aac");
}

TEST_F(VideoPipelineTest, AdtsAacFromMpegTsIsCopiedIntoMp4AndMatroska) {
  for (OutputContainer container :
       {OutputContainer::kFragmentedMp4, OutputContainer::kMatroska}) {
    const bool mkv = container == OutputContainer::kMatroska;
    SCOPED_TRACE(mkv ? "matroska" : "mp4");
    CollectingSink sink;
    VideoPipeline::Options options = BaseOptions(1);
    options.container = container;
    Run(Bytes("aac.ts"), options, &sink);
    ExpectOutputsMatch("aac.ts", &sink, 1, 160, 120, true, mkv ? "mkv" : "mp4");
    auto out =
        testing::ProbeMovie(Path(mkv ? "aac.ts.out0.mkv" : "aac.ts.out0.mp4"));
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(out->audio_codec, "aac");
  }
}

TEST_F(VideoPipelineTest, AudioAtARateAacLacksIsResampled) {
  // Used to end the job with INTERNAL "opening the AAC encoder".
  CollectingSink sink;
  Run(Bytes("pcm_7khz.mkv"), BaseOptions(1), &sink);
  ExpectOutputsMatch("pcm_7khz.mkv", &sink, 1, 160, 120, true);
  auto out = testing::ProbeMovie(Path("pcm_7khz.mkv.out0.mp4"));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->audio_codec, "aac");
}

TEST_F(VideoPipelineTest, AudioTheMuxerRefusesIsTranscoded) {
  // Used to end the job with INTERNAL "cannot write the output header".
  CollectingSink sink;
  Run(Bytes("mp3_8khz.mkv"), BaseOptions(1), &sink);
  ExpectOutputsMatch("mp3_8khz.mkv", &sink, 1, 160, 120, true);
  auto out = testing::ProbeMovie(Path("mp3_8khz.mkv.out0.mp4"));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->audio_codec, "aac");
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

TEST_F(VideoPipelineTest, PreserveColorKeepsTheInputsChroma) {
  // The fake "stylizes" by inverting, which also inverts the chroma; with
  // preserve_color the output must be the inverted luminance in the input's
  // colours.
  VideoPipeline::Options options = BaseOptions(1);
  options.preserve_color = true;
  CollectingSink sink;
  Run(Bytes("pastel.mp4"), options, &sink);
  ExpectOutputsMatch("pastel.mp4", &sink, 1, 160, 120, false);
  const std::string out_path = Path("pastel.mp4.out0.mp4");
  std::string rgb[2];
  const std::string paths[] = {Path("pastel.mp4"), out_path};
  for (int i = 0; i < 2; ++i) {
    auto decoded = testing::RunCommand(
        absl::StrCat("ffmpeg -nostdin -v error -i '", paths[i],
                     "' -f rawvideo -pix_fmt rgb24 -"));
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    rgb[i] = *std::move(decoded);
  }
  ASSERT_EQ(rgb[0].size(), rgb[1].size());
  ASSERT_FALSE(rgb[0].empty());
  const size_t n = rgb[0].size() / 3;
  double luma_error = 0, chroma_error = 0, inverted_chroma = 0;
  size_t fits = 0;
  for (size_t i = 0; i < n; ++i) {
    double in[3], out[3];
    for (int c = 0; c < 3; ++c) {
      in[c] = static_cast<uint8_t>(rgb[0][3 * i + c]);
      out[c] = static_cast<uint8_t>(rgb[1][3 * i + c]);
    }
    const double y_in = 0.299 * in[0] + 0.587 * in[1] + 0.114 * in[2];
    const double y_out = 0.299 * out[0] + 0.587 * out[1] + 0.114 * out[2];
    luma_error += std::abs(y_out - (255 - y_in));
    // Chroma (Cb, Cr) of the input, as offsets from its grey.
    const double cb = 0.5 * in[2] - 0.168736 * in[0] - 0.331264 * in[1];
    const double cr = 0.5 * in[0] - 0.418688 * in[1] - 0.081312 * in[2];
    inverted_chroma += (std::abs(2 * cb) + std::abs(2 * cr)) / 2;
    bool inside = true;
    for (int c = 0; c < 3; ++c) {
      const double v = in[c] + 255 - 2 * y_in;
      inside = inside && v >= 4 && v <= 251;
    }
    if (!inside) continue;
    ++fits;
    const double out_cb = 0.5 * out[2] - 0.168736 * out[0] - 0.331264 * out[1];
    const double out_cr = 0.5 * out[0] - 0.418688 * out[1] - 0.081312 * out[2];
    chroma_error += (std::abs(out_cb - cb) + std::abs(out_cr - cr)) / 2;
  }
  EXPECT_LT(luma_error / n, 4.0);
  ASSERT_GT(fits, n / 2);
  EXPECT_LT(chroma_error / fits, 3.0);
  // What plain inversion would have given, for scale.
  EXPECT_GT(inverted_chroma / n, 10.0);
}

}  // namespace
}  // namespace media
}  // namespace stylizer
