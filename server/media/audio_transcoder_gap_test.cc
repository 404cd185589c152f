// Timing of audio transcoded to AAC: holes in the input's audio stay holes
// (filled with silence, so that players that play AAC sample after sample keep
// the video's sync), overlaps are dropped, timestamp jitter changes nothing,
// and a huge hole costs neither memory nor hours of encoding.
//
// End to end: a Matroska movie with PCM audio missing seconds 3 to 6, made
// with the ffmpeg tool, through the video pipeline into MP4, decoded back with
// the ffmpeg tool. Unit: AudioTranscoder fed PCM packets with chosen
// timestamps; its AAC packets are checked and decoded with libavcodec.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "server/media/audio_transcoder.h"
#include "server/media/testing/invert_movie.h"
#include "server/media/testing/test_movies.h"
#include "server/media/video_pipeline.h"

extern "C" {
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/log.h>
}

namespace stylizer {
namespace media {
namespace {

// --- End to end: the pipeline with the inverting fake queue. ---

// Runs `input` through the pipeline (one output, MP4) into `output`.
void Stylize(const std::string& input, const std::string& output) {
  auto bytes = testing::ReadFile(input);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  VideoPipeline::Options options;
  options.preset = "ultrafast";
  absl::StatusOr<std::string> out = testing::InvertMovie(*bytes, options);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_TRUE(testing::WriteFile(output, *out).ok());
}

double Number(const absl::StatusOr<std::string>& text) {
  double v = NAN;
  if (text.ok()) {
    (void)absl::SimpleAtod(absl::StripAsciiWhitespace(*text), &v);
  }
  return v;
}

// RMS of samples [from, to) seconds of a mono s16 signal at `rate`.
double Rms(const std::vector<int16_t>& s, int rate, double from, double to) {
  size_t a = static_cast<size_t>(std::max(0.0, from * rate));
  size_t b = std::min(s.size(), static_cast<size_t>(to * rate));
  if (b <= a) return 0;
  double sum = 0;
  for (size_t i = a; i < b; ++i) sum += static_cast<double>(s[i]) * s[i];
  return std::sqrt(sum / (b - a));
}

// 10 s of video; a 440 Hz tone (44.1 kHz stereo, 1024-sample frames: their
// millisecond timestamps are rounded) for the first 3 s and again from 6 s,
// nothing between (the frames between are left out, their neighbours keep
// their timestamps). PCM goes into MP4 through the AAC transcoder.
TEST(AudioGapEndToEndTest, AHoleInTheAudioStaysWhereItWas) {
  av_log_set_level(AV_LOG_ERROR);
  const std::string dir = testing::MakeTempDir("audio-gap-test");
  const std::string in = dir + "/gap.mkv";
  const std::string out = dir + "/gap.out.mp4";
  ASSERT_TRUE(
      testing::MakeMovie(
          "-f lavfi -i testsrc2=size=64x48:rate=10:duration=10 "
          "-f lavfi -i sine=frequency=440:sample_rate=44100:duration=10 "
          "-af \"aselect='not(between(t,3,6))'\" -ac 2 "
          "-c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a pcm_s16le",
          in)
          .ok());
  // The input has the hole: its audio resumes with the first frame after
  // 6 s (6.014 s).
  const double resume = Number(testing::RunCommand(absl::StrCat(
      "ffprobe -v error -select_streams a:0 -show_entries packet=pts_time "
      "-of csv=p=0 '",
      in, "' | awk '$1 > 3.1 { print; exit }'")));
  ASSERT_NEAR(resume, 6.0, 0.025);

  Stylize(in, out);
  auto codec = testing::RunCommand(absl::StrCat(
      "ffprobe -v error -select_streams a:0 -show_entries stream=codec_name "
      "-of csv=p=0 '",
      out, "'"));
  ASSERT_TRUE(codec.ok()) << codec.status();
  EXPECT_EQ(absl::StripAsciiWhitespace(*codec), "aac");
  // Decoded the way a player plays it: sample after sample from the start.
  const double start = Number(testing::RunCommand(absl::StrCat(
      "ffprobe -v error -select_streams a:0 -show_entries stream=start_time "
      "-of csv=p=0 '",
      out, "'")));
  ASSERT_NEAR(start, 0, 0.03);
  constexpr int kRate = 8000;
  auto raw = testing::RunCommand(absl::StrCat("ffmpeg -nostdin -v error -i '",
                                              out, "' -map 0:a:0 -ac 1 -ar ",
                                              kRate, " -f s16le -"));
  ASSERT_TRUE(raw.ok()) << raw.status();
  std::vector<int16_t> pcm(raw->size() / 2);
  std::memcpy(pcm.data(), raw->data(), pcm.size() * 2);
  const double end = start + static_cast<double>(pcm.size()) / kRate;
  EXPECT_NEAR(end, 10.0, 0.05);

  // Sample i plays at start + i / kRate (start: AAC's priming, before 0).
  auto rms = [&](double from, double to) {
    return Rms(pcm, kRate, from - start, to - start);
  };
  const double tone = rms(0.5, 2.5);
  // lavfi's sine: amplitude 1/8 (4096), RMS ~2900; ~2050 mixed to mono.
  ASSERT_GT(tone, 1500);
  EXPECT_LT(rms(3.1, 5.9), tone * 0.01) << "the hole is not silent";
  EXPECT_GT(rms(6.1, 6.9), tone * 0.8);
  EXPECT_GT(rms(9.0, 9.9), tone * 0.8);
  // The tone comes back when the input's does, not 3 s early.
  double back = -1;
  for (size_t i = static_cast<size_t>((3.1 - start) * kRate); i < pcm.size();
       ++i) {
    if (std::abs(pcm[i]) > 1000) {
      back = start + static_cast<double>(i) / kRate;
      break;
    }
  }
  EXPECT_NEAR(back, resume, 0.005);
}

// --- Unit: AudioTranscoder with PCM packets of chosen timestamps. ---
// At 48 kHz (no resampling) and at 7 kHz (resampled to AAC's 7350 Hz).

struct Encoded {
  int64_t pts;
  int64_t duration;
  std::string data;
};

class TranscoderTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    av_log_set_level(AV_LOG_ERROR);
    in_rate_ = GetParam();
    packet_samples_ = in_rate_ / 100;  // 10 ms
    stream_ = bare_.stream();
    ASSERT_NE(stream_, nullptr);
    AVCodecParameters* par = stream_->codecpar;
    par->codec_type = AVMEDIA_TYPE_AUDIO;
    par->codec_id = AV_CODEC_ID_PCM_S16LE;
    par->format = AV_SAMPLE_FMT_S16;
    par->sample_rate = in_rate_;
    av_channel_layout_default(&par->ch_layout, 1);
    par->bits_per_coded_sample = 16;
    par->block_align = 2;
    stream_->time_base = {1, 1000};  // Matroska's
    auto made = AudioTranscoder::Create(stream_, /*global_header=*/true);
    ASSERT_TRUE(made.ok()) << made.status();
    transcoder_ = std::move(*made);
    rate_ = transcoder_->encoder()->sample_rate;
    ASSERT_EQ(rate_, in_rate_ == 7000 ? 7350 : in_rate_);
  }

  // One 10 ms packet of the 440 Hz tone at `pts_ms`, its phase continuing
  // from the previous packet.
  void Push(int64_t pts_ms) {
    std::vector<int16_t> samples(packet_samples_);
    for (int16_t& s : samples) {
      s = static_cast<int16_t>(8000 *
                               std::sin(2 * M_PI * 440 * phase_++ / in_rate_));
    }
    AvPacketPtr packet = MakePacket();
    ASSERT_EQ(av_new_packet(packet.get(), packet_samples_ * 2), 0);
    std::memcpy(packet->data, samples.data(), packet_samples_ * 2);
    packet->pts = packet->dts = pts_ms;
    packet->duration = 10;
    ASSERT_TRUE(transcoder_->Push(packet.get(), Collect()).ok());
  }

  void Finish() { ASSERT_TRUE(transcoder_->Push(nullptr, Collect()).ok()); }

  AudioTranscoder::Emit Collect() {
    return [this](AVPacket* p) {
      out_.push_back({p->pts, p->duration,
                      std::string(reinterpret_cast<char*>(p->data), p->size)});
      return absl::OkStatus();
    };
  }

  // Every packet starts where the one before ended (no gaps a player could
  // skip over), and time only goes forward.
  void ExpectContiguous() {
    ASSERT_FALSE(out_.empty());
    for (size_t i = 1; i < out_.size(); ++i) {
      ASSERT_EQ(out_[i].pts, out_[i - 1].pts + out_[i - 1].duration) << i;
    }
  }

  // The end of the last packet, in seconds.
  double End() const {
    return static_cast<double>(out_.back().pts + out_.back().duration) / rate_;
  }

  // Decodes the AAC packets one after another (as a player would), placed
  // from the first packet's timestamp: mono samples, and the time of the
  // first.
  std::vector<float> Decode(double* first) {
    std::vector<float> pcm;
    const AVCodec* aac = avcodec_find_decoder(AV_CODEC_ID_AAC);
    AvCodecContextPtr dec(avcodec_alloc_context3(aac));
    AVCodecParameters* par = avcodec_parameters_alloc();
    EXPECT_GE(avcodec_parameters_from_context(par, transcoder_->encoder()), 0);
    EXPECT_GE(avcodec_parameters_to_context(dec.get(), par), 0);
    avcodec_parameters_free(&par);
    EXPECT_GE(avcodec_open2(dec.get(), aac, nullptr), 0);
    AvFramePtr frame = MakeFrame();
    AvPacketPtr packet = MakePacket();
    *first = static_cast<double>(out_.front().pts) / rate_;
    auto receive = [&] {
      while (avcodec_receive_frame(dec.get(), frame.get()) >= 0) {
        const float* s = reinterpret_cast<const float*>(frame->data[0]);
        pcm.insert(pcm.end(), s, s + frame->nb_samples);
        av_frame_unref(frame.get());
      }
    };
    for (const Encoded& e : out_) {
      av_packet_unref(packet.get());
      EXPECT_EQ(av_new_packet(packet.get(), static_cast<int>(e.data.size())),
                0);
      std::memcpy(packet->data, e.data.data(), e.data.size());
      packet->pts = e.pts;
      EXPECT_GE(avcodec_send_packet(dec.get(), packet.get()), 0);
      receive();
    }
    avcodec_send_packet(dec.get(), nullptr);
    receive();
    return pcm;
  }

  // RMS of decoded samples between two times (seconds on the output's
  // timeline).
  double Rms(const std::vector<float>& pcm, double first, double from,
             double to) const {
    int64_t a = std::max<int64_t>(0, std::llround((from - first) * rate_));
    int64_t b = std::min<int64_t>(static_cast<int64_t>(pcm.size()),
                                  std::llround((to - first) * rate_));
    if (b <= a) return 0;
    double sum = 0;
    for (int64_t i = a; i < b; ++i) sum += pcm[i] * pcm[i];
    return std::sqrt(sum / static_cast<double>(b - a));
  }

  media::testing::BareStream bare_;
  AVStream* stream_ = nullptr;
  std::unique_ptr<AudioTranscoder> transcoder_;
  int in_rate_ = 0;
  int packet_samples_ = 0;
  int rate_ = 0;
  int64_t phase_ = 0;
  std::vector<Encoded> out_;
};

TEST_P(TranscoderTest, AHoleIsFilledWithSilence) {
  for (int64_t t = 0; t < 3000; t += 10) Push(t);
  for (int64_t t = 6000; t < 10000; t += 10) Push(t);
  Finish();
  ExpectContiguous();
  EXPECT_NEAR(End(), 10.0, 0.05);
  double first = 0;
  std::vector<float> pcm = Decode(&first);
  const double tone = Rms(pcm, first, 0.5, 2.5);
  ASSERT_GT(tone, 0.1);
  EXPECT_LT(Rms(pcm, first, 3.05, 5.95), tone * 0.01);
  EXPECT_GT(Rms(pcm, first, 6.05, 9.5), tone * 0.8);
}

// Millisecond timestamps of 10 ms packets, each off by up to 2 ms either
// way: the audio stays one run of samples, nothing inserted or dropped.
TEST_P(TranscoderTest, TimestampJitterChangesNothing) {
  uint32_t seed = 12345;
  for (int i = 0; i < 1000; ++i) {
    seed = seed * 1103515245u + 12345u;
    Push(100 + i * 10 + static_cast<int>((seed >> 16) % 5) - 2);
  }
  Finish();
  ExpectContiguous();
  EXPECT_NEAR(End(), 10.1, 0.003);
  double first = 0;
  std::vector<float> pcm = Decode(&first);
  const double tone = Rms(pcm, first, 0.5, 2.5);
  ASSERT_GT(tone, 0.1);
  // No dip anywhere: every 5 ms has the tone.
  for (double t = 0.2; t < 10.0; t += 0.005) {
    ASSERT_GT(Rms(pcm, first, t, t + 0.005), tone * 0.5) << t;
  }
}

// Timestamps that run 0.5% slower than the samples (a capture whose audio
// clock is off): the output follows the timestamps, within the tolerance,
// instead of drifting 50 ms further every 10 s.
TEST_P(TranscoderTest, SlowTimestampsDoNotDrift) {
  for (int i = 0; i < 2000; ++i) Push(i * 1005 / 100);
  Finish();
  ExpectContiguous();
  EXPECT_NEAR(End(), 1999 * 10.05 / 1000 + 0.01, 0.045);
}

// The stream jumps back 1 s (a joined recording repeats a second): what
// would play twice is dropped, so what follows stays in sync.
TEST_P(TranscoderTest, AnOverlapIsDropped) {
  for (int64_t t = 0; t < 5000; t += 10) Push(t);
  for (int64_t t = 4000; t < 9000; t += 10) Push(t);
  Finish();
  ExpectContiguous();
  EXPECT_NEAR(End(), 9.0, 0.005);
}

// A packet 10 hours after the first second of audio: no 10 hours of silence
// (memory, encoding time); the output's timestamps jump instead.
TEST_P(TranscoderTest, AHugeHoleJumpsInsteadOfFilling) {
  for (int64_t t = 0; t < 1000; t += 10) Push(t);
  const int64_t later = int64_t{10} * 3600 * 1000;
  for (int64_t t = later; t < later + 1000; t += 10) Push(t);
  Finish();
  ASSERT_FALSE(out_.empty());
  for (size_t i = 1; i < out_.size(); ++i) {
    ASSERT_GT(out_[i].pts, out_[i - 1].pts) << i;
  }
  // About two seconds of packets, ending 10 h + 1 s in.
  EXPECT_LT(out_.size(), 2 * rate_ / 1024 + 10);
  EXPECT_NEAR(End(), later / 1000.0 + 1.0, 0.05);
}

INSTANTIATE_TEST_SUITE_P(Rates, TranscoderTest, ::testing::Values(48000, 7000),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return absl::StrCat(info.param, "Hz");
                         });

}  // namespace
}  // namespace media
}  // namespace stylizer
