#include "server/media/audio_copy_rule.h"

#include "gtest/gtest.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/log.h>
}

namespace stylizer::media {
namespace {

TEST(AudioCopyRuleTest, BothContainersTakeTheCommonPlayerCodecs) {
  for (AVCodecID codec : {AV_CODEC_ID_AAC, AV_CODEC_ID_MP3, AV_CODEC_ID_OPUS,
                          AV_CODEC_ID_AC3, AV_CODEC_ID_EAC3}) {
    EXPECT_TRUE(CanCopyAudio(/*matroska=*/false, codec)) << codec;
    EXPECT_TRUE(CanCopyAudio(/*matroska=*/true, codec)) << codec;
  }
}

TEST(AudioCopyRuleTest, Mp4RefusesWhatFfmpegWouldMuxButPlayersSkip) {
  // FFmpeg's MP4 muxer writes Vorbis and FLAC, common players do not read them
  // from MP4; Matroska holds both.
  EXPECT_FALSE(CanCopyAudio(/*matroska=*/false, AV_CODEC_ID_VORBIS));
  EXPECT_TRUE(CanCopyAudio(/*matroska=*/true, AV_CODEC_ID_VORBIS));
  EXPECT_FALSE(CanCopyAudio(/*matroska=*/false, AV_CODEC_ID_FLAC));
  EXPECT_TRUE(CanCopyAudio(/*matroska=*/true, AV_CODEC_ID_FLAC));
  EXPECT_FALSE(CanCopyAudio(/*matroska=*/false, AV_CODEC_ID_PCM_S16LE));
  EXPECT_TRUE(CanCopyAudio(/*matroska=*/true, AV_CODEC_ID_PCM_S16LE));
}

TEST(AudioCopyRuleTest, NeitherTakesWhatItsMuxerCannotHold) {
  EXPECT_FALSE(CanCopyAudio(/*matroska=*/false, AV_CODEC_ID_NONE));
  EXPECT_FALSE(CanCopyAudio(/*matroska=*/true, AV_CODEC_ID_NONE));
}

AVCodecParameters* Mp3(int sample_rate) {
  AVCodecParameters* p = avcodec_parameters_alloc();
  p->codec_type = AVMEDIA_TYPE_AUDIO;
  p->codec_id = AV_CODEC_ID_MP3;
  p->sample_rate = sample_rate;
  p->frame_size = 1152;
  av_channel_layout_default(&p->ch_layout, 1);
  return p;
}

TEST(AudioCopyRuleTest, Mp4RefusesMp3UnderSixteenKilohertz) {
  AVCodecParameters* low = Mp3(8000);
  AVCodecParameters* usual = Mp3(44100);
  av_log_set_level(AV_LOG_QUIET);  // the refusal below is expected
  EXPECT_FALSE(CopiesAudio(/*matroska=*/false, *low));
  EXPECT_TRUE(CopiesAudio(/*matroska=*/true, *low));
  EXPECT_TRUE(CopiesAudio(/*matroska=*/false, *usual));
  EXPECT_TRUE(CopiesAudio(/*matroska=*/true, *usual));
  avcodec_parameters_free(&low);
  avcodec_parameters_free(&usual);
}

}  // namespace
}  // namespace stylizer::media
