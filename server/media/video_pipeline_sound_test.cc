// What the video job pipeline does with a movie's sound, on tiny movies made
// with the ffmpeg tool and a fake job queue that inverts pixels: copied where
// the output's container takes it (Opus, Vorbis into Matroska, ADTS AAC from
// MPEG-TS, sound that starts late keeping its place, sound a trim hides
// staying hidden), transcoded to AAC where it does not (Vorbis into MP4, MP2
// whose layout and rate change midway, PCM at a rate AAC lacks, MP3 the muxer
// refuses, ten unnamed channels), written as it comes after the last frame;
// an undecodable default track gives way to a playable one; no sound, and
// sound dropped. Outputs are checked with ffprobe.
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/media/testing/test_movies.h"
#include "server/media/testing/video_pipeline_fixture.h"
#include "server/media/video_pipeline.h"

namespace stylizer {
namespace media {
namespace {

using testing::CollectingSink;
using testing::StartTimes;

class VideoPipelineTest : public testing::VideoPipelineFixture {
 protected:
  static void SetUpTestSuite() {
    MakeMovies({"moov_at_end.mp4", "vp9_opus.mkv", "vorbis.mkv",
                "two_sounds.mkv", "silent.mp4", "mp2_stereo48k.ts",
                "mp2_mono22k.ts", "pcm_7khz.mkv", "mp3_8khz.mkv", "aac.ts"});
  }
};

// Sound that runs on after the video's last frame (a music video whose
// picture ends first; a hostile movie of one frame and gigabytes of sound)
// is written in fragments of a few seconds. The MP4 muxer cut fragments only
// at video keyframes, so it held all of that sound in memory, in every
// output, until the end.
TEST_F(VideoPipelineTest, SoundAfterTheLastFrameIsWrittenAsItComes) {
  const std::string name = "short_picture_long_sound.mkv";
  ASSERT_TRUE(
      testing::MakeMovie("-f lavfi -i testsrc2=size=64x48:rate=10:duration=0.5 "
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

}  // namespace
}  // namespace media
}  // namespace stylizer
