#include "server/media/audio_copy_rule.h"

#include "gtest/gtest.h"

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

}  // namespace
}  // namespace stylizer::media
