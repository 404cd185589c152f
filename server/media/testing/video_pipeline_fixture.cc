// See video_pipeline_fixture.h.
#include "server/media/testing/video_pipeline_fixture.h"

#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "server/media/testing/test_movies.h"

extern "C" {
#include <libavutil/log.h>
}

namespace stylizer {
namespace media {
namespace testing {

std::string* VideoPipelineFixture::dir_ = nullptr;

void VideoPipelineFixture::MakeMovies(const std::vector<std::string>& names) {
  av_log_set_level(AV_LOG_ERROR);
  if (dir_ == nullptr) {
    dir_ = new std::string(MakeTempDir("video-pipeline-test"));
  }
  const std::string src =
      "-f lavfi -i testsrc2=size=160x120:rate=15:duration=1.5 ";
  const std::string tone = "-f lavfi -i sine=frequency=440:duration=1.5 ";
  const std::string x264 = "-c:v libx264 -preset ultrafast -pix_fmt yuv420p ";
  struct Spec {
    const char* name;
    std::string args;
    const char* from = nullptr;  // the shared movie it is remuxed from
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
      {"rotated.mp4",
       "-i '" + Path("unrotated.mp4") + "' -c copy -metadata:s:v:0 rotate=90",
       "unrotated.mp4"},
      // Anamorphic by the container only (the H.264 stream says 1:1), as
      // `-aspect` on a remux makes it; and that turned a quarter.
      {"container_sar.mp4",
       "-i '" + Path("unrotated.mp4") + "' -c copy -aspect 4:3",
       "unrotated.mp4"},
      {"container_sar_rotated.mp4",
       "-i '" + Path("unrotated.mp4") +
           "' -c copy -aspect 4:3 -metadata:s:v:0 rotate=90",
       "unrotated.mp4"},
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
      {"audio_only.m4a", "-f lavfi -i sine=frequency=440:duration=1 -c:a aac"},
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
  std::set<std::string> wanted(names.begin(), names.end());
  for (const Spec& spec : specs) {
    if (wanted.count(spec.name) != 0 && spec.from != nullptr) {
      wanted.insert(spec.from);
    }
  }
  std::set<std::string> unknown = wanted;
  for (const Spec& spec : specs) unknown.erase(spec.name);
  ASSERT_TRUE(unknown.empty())
      << "no shared movie named " << absl::StrJoin(unknown, ", ");
  // In the list's order: a movie's source comes before it.
  for (const Spec& spec : specs) {
    if (wanted.count(spec.name) == 0) continue;
    absl::Status s = MakeMovie(spec.args, Path(spec.name));
    ASSERT_TRUE(s.ok()) << s;
  }
}

std::string VideoPipelineFixture::Path(const std::string& name) {
  return absl::StrCat(*dir_, "/", name);
}

std::string VideoPipelineFixture::Bytes(const std::string& name) {
  auto bytes = ReadFile(Path(name));
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.value_or("");
}

VideoPipeline::Options VideoPipelineFixture::BaseOptions(int outputs) {
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

void VideoPipelineFixture::Run(const std::string& bytes,
                               VideoPipeline::Options options,
                               CollectingSink* sink, size_t chunk) {
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

void VideoPipelineFixture::UploadInTwoParts::Start(
    VideoPipeline::Options options) {
  auto spool = Spool::Create({});
  ASSERT_TRUE(spool.ok()) << spool.status();
  spool_ = *std::move(spool);
  auto pipeline = VideoPipeline::Start(options, spool_.get(), sink_);
  ASSERT_TRUE(pipeline.ok()) << pipeline.status();
  pipeline_ = *std::move(pipeline);
  ASSERT_TRUE(spool_->Append(absl::string_view(bytes_).substr(0, Part())).ok());
}

void VideoPipelineFixture::UploadInTwoParts::Finish() {
  ASSERT_NE(pipeline_, nullptr);
  ASSERT_TRUE(spool_->Append(absl::string_view(bytes_).substr(Part())).ok());
  spool_->Finish();
  sink_->finished_.WaitForNotification();
  pipeline_.reset();
}

void VideoPipelineFixture::RunToFile(const std::string& input,
                                     OutputContainer container,
                                     const std::string& out,
                                     CollectingSink* sink) {
  VideoPipeline::Options options = BaseOptions(1);
  options.container = container;
  Run(ReadFile(input).value_or(""), options, sink);
  ASSERT_TRUE(sink->result_.ok()) << sink->result_.status();
  ASSERT_TRUE(WriteFile(out, sink->outputs_[0]).ok());
}

void VideoPipelineFixture::ExpectOutputsMatch(const std::string& input,
                                              CollectingSink* sink, int outputs,
                                              int width, int height, bool audio,
                                              const std::string& ext) {
  ASSERT_TRUE(sink->result_.ok()) << sink->result_.status();
  auto in = ProbeMovie(Path(input));
  ASSERT_TRUE(in.ok()) << in.status();
  ASSERT_EQ(static_cast<int>(sink->result_->outputs.size()), outputs);
  for (int i = 0; i < outputs; ++i) {
    SCOPED_TRACE(absl::StrCat(input, " output ", i));
    std::string path = Path(absl::StrCat(input, ".out", i, ".", ext));
    ASSERT_TRUE(WriteFile(path, sink->outputs_[i]).ok());
    auto out = ProbeMovie(path);
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

std::optional<double> VideoPipelineFixture::FirstFrameMean(
    const std::string& input, int i, const std::string& ext) {
  auto rgb =
      RunCommand(absl::StrCat("ffmpeg -nostdin -loglevel error -i '",
                              Path(absl::StrCat(input, ".out", i, ".", ext)),
                              "' -frames:v 1 -f rawvideo -pix_fmt rgb24 -"));
  if (!rgb.ok() || rgb->empty()) return std::nullopt;
  double sum = 0;
  for (const char c : *rgb) sum += static_cast<uint8_t>(c);
  return sum / rgb->size();
}

std::pair<double, double> StartTimes(const std::string& path) {
  auto out = RunCommand(absl::StrCat(
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

}  // namespace testing
}  // namespace media
}  // namespace stylizer
