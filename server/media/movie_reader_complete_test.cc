// What MovieReader takes for a whole movie: ordinary files whose index or
// header declares more than they show (MP4 trimmed by an edit list,
// Matroska whose audio or subtitles outlast the video or whose timestamps
// start late) read to the end, while files really cut off are still refused as
// truncated; cover art is not a movie. Movies are made with the ffmpeg tool.
#include <algorithm>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/media/movie_reader.h"
#include "server/media/testing/movie_file_test.h"
#include "server/media/testing/test_movies.h"

namespace stylizer {
namespace media {
namespace {

using ::stylizer::media::testing::ReadMovieBytes;
using ::stylizer::media::testing::ReadResult;
using ::testing::HasSubstr;

const char kX264[] = "-c:v libx264 -preset ultrafast -pix_fmt yuv420p ";

class MovieReaderCompleteTest : public testing::MovieFileTest {
 protected:
  // Frames ffprobe decodes from `name`.
  static int64_t FramesOf(const std::string& name) {
    auto probed = testing::ProbeMovie(Path(name));
    EXPECT_TRUE(probed.ok()) << probed.status();
    return probed.ok() ? probed->frames : -1;
  }
};

// --- Truncation: MP4. ---

TEST_F(MovieReaderCompleteTest, Mp4TrimmedByAnEditListIsComplete) {
  // One keyframe: a lossless cut at 5 s keeps every sample from 0 s and an
  // edit list that shows 5 s to 8 s. The index lists 242 samples, 92 show.
  ASSERT_NO_FATAL_FAILURE(
      Make("uncut.mp4",
           absl::StrCat("-f lavfi -i testsrc2=size=64x48:rate=30:duration=10 ",
                        kX264, "-bf 2 -g 300")));
  ASSERT_NO_FATAL_FAILURE(
      Make("trimmed.mp4", absl::StrCat("-ss 5 -i '", Path("uncut.mp4"),
                                       "' -c copy -t 3 -movflags +faststart")));
  const int64_t shown = FramesOf("trimmed.mp4");
  ASSERT_GT(shown, 80);
  ASSERT_LT(shown, 100);
  std::string bytes = Bytes("trimmed.mp4");
  ReadResult read = ReadMovieBytes(bytes);
  EXPECT_TRUE(read.status.ok()) << read.status;
  EXPECT_EQ(read.frames, shown);
  EXPECT_NEAR(read.info.duration_seconds, 3, 0.2);
  EXPECT_NEAR(read.info.frames_estimate, shown, 5);

  // Cut off, it is still truncated: the frames shown are the file's last.
  ReadResult cut = ReadMovieBytes(bytes.substr(0, bytes.size() * 80 / 100));
  EXPECT_EQ(cut.status.code(), absl::StatusCode::kInvalidArgument)
      << cut.status;
  EXPECT_THAT(std::string(cut.status.message()), HasSubstr("truncated"));
}

TEST_F(MovieReaderCompleteTest, Mp4MissingItsLastFramesIsTruncated) {
  // 10 s at 30 fps, index first: cut 5 % off the end, well under the
  // second that the duration check forgives; the frame count catches it.
  ASSERT_NO_FATAL_FAILURE(
      Make("whole.mp4",
           absl::StrCat("-f lavfi -i testsrc2=size=64x48:rate=30:duration=10 ",
                        kX264, "-movflags +faststart")));
  std::string bytes = Bytes("whole.mp4");
  ReadResult whole = ReadMovieBytes(bytes);
  ASSERT_TRUE(whole.status.ok()) << whole.status;
  ASSERT_EQ(whole.frames, 300);
  ReadResult cut = ReadMovieBytes(bytes.substr(0, bytes.size() * 95 / 100));
  EXPECT_EQ(cut.status.code(), absl::StatusCode::kInvalidArgument)
      << cut.status;
  EXPECT_THAT(std::string(cut.status.message()), HasSubstr("truncated"));
  EXPECT_GT(cut.frames, 270);
}

// A download made at full size first and filled as its pieces came: zeros
// where a piece is missing, under a whole index. The zero packets do not
// decode; they are missing, not damaged frames. (Zeros at the end are also
// caught by the duration; a hole in the middle is not.)
TEST_F(MovieReaderCompleteTest, Mp4WithAHoleOfZerosIsTruncated) {
  ASSERT_NO_FATAL_FAILURE(
      Make("whole.mp4",
           absl::StrCat("-f lavfi -i testsrc2=size=64x48:rate=30:duration=10 ",
                        kX264, "-movflags +faststart")));
  std::string bytes = Bytes("whole.mp4");
  std::fill(bytes.begin() + bytes.size() * 3 / 10,
            bytes.begin() + bytes.size() * 6 / 10, '\0');
  ReadResult read = ReadMovieBytes(bytes);
  EXPECT_EQ(read.status.code(), absl::StatusCode::kInvalidArgument)
      << read.status;
  EXPECT_THAT(std::string(read.status.message()), HasSubstr("truncated"));
}

// An APNG declares its frame count in its acTL chunk: cut to 60 % of its
// bytes, a 9-frame animation came out as 4 frames, and OK.
TEST_F(MovieReaderCompleteTest, ApngMissingItsLastFramesIsTruncated) {
  ASSERT_NO_FATAL_FAILURE(
      Make("whole.apng",
           "-f lavfi -i testsrc=size=96x64:rate=1 -frames:v 9 -f apng"));
  std::string bytes = Bytes("whole.apng");
  ReadResult whole = ReadMovieBytes(bytes);
  ASSERT_TRUE(whole.status.ok()) << whole.status;
  ASSERT_EQ(whole.frames, 9);
  EXPECT_EQ(whole.info.frames_estimate, 9);
  ReadResult cut = ReadMovieBytes(bytes.substr(0, bytes.size() * 6 / 10));
  EXPECT_EQ(cut.status.code(), absl::StatusCode::kInvalidArgument)
      << cut.status;
  EXPECT_THAT(std::string(cut.status.message()),
              HasSubstr("truncated: its index lists 9 video frames"));
}

// A GIF declares no frame count, but its blocks show where it was cut: at
// 60 % of its bytes a 9-frame GIF came out as 4 frames, and OK. One that
// ends between blocks without its trailer (some encoders leave it out) is
// whole.
TEST_F(MovieReaderCompleteTest, GifCutInsideAFrameIsTruncated) {
  ASSERT_NO_FATAL_FAILURE(
      Make("whole.gif", "-f lavfi -i testsrc=size=96x64:rate=1 -frames:v 9"));
  std::string bytes = Bytes("whole.gif");
  ASSERT_EQ(bytes.back(), ';');  // the trailer
  ReadResult whole = ReadMovieBytes(bytes);
  ASSERT_TRUE(whole.status.ok()) << whole.status;
  ASSERT_EQ(whole.frames, 9);
  ReadResult no_trailer = ReadMovieBytes(bytes.substr(0, bytes.size() - 1));
  EXPECT_TRUE(no_trailer.status.ok()) << no_trailer.status;
  EXPECT_EQ(no_trailer.frames, 9);
  ReadResult cut = ReadMovieBytes(bytes.substr(0, bytes.size() * 6 / 10));
  EXPECT_EQ(cut.status.code(), absl::StatusCode::kInvalidArgument)
      << cut.status;
  EXPECT_THAT(std::string(cut.status.message()),
              HasSubstr("the input is truncated: the GIF ends at byte "));
  EXPECT_THAT(std::string(cut.status.message()),
              HasSubstr(" whole frames before it); send the complete file"));
  // A download made at full size first: zeros where it stopped. It came out
  // as 5 frames, and OK.
  std::string zeros = bytes;
  std::fill(zeros.begin() + zeros.size() * 6 / 10, zeros.end(), '\0');
  ReadResult zeroed = ReadMovieBytes(zeros);
  EXPECT_EQ(zeroed.status.code(), absl::StatusCode::kInvalidArgument)
      << zeroed.status << " " << zeroed.frames;
  EXPECT_THAT(std::string(zeroed.status.message()),
              HasSubstr("the GIF holds only zeros from byte "));
}

TEST_F(MovieReaderCompleteTest, AviMissingItsEndIsTruncated) {
  // The header's frame count is all that is left to tell (the index at the
  // end is gone, and the duration is guessed from what remains).
  ASSERT_NO_FATAL_FAILURE(
      Make("whole.avi",
           absl::StrCat("-f lavfi -i testsrc2=size=64x48:rate=30:duration=5 ",
                        kX264)));
  std::string bytes = Bytes("whole.avi");
  ReadResult cut = ReadMovieBytes(bytes.substr(0, bytes.size() * 2 / 3));
  EXPECT_EQ(cut.status.code(), absl::StatusCode::kInvalidArgument)
      << cut.status;
  EXPECT_THAT(std::string(cut.status.message()), HasSubstr("truncated"));
}

// Variable-frame-rate video in AVI: the muxer writes empty chunks for the
// gaps (30 of 120 here), which the header counts and the demuxer skips.
// Such movies were refused as truncated, after the whole job.
TEST_F(MovieReaderCompleteTest, AviWithEmptyChunksForGapsIsComplete) {
  ASSERT_NO_FATAL_FAILURE(
      Make("gaps.avi",
           "-f lavfi -i testsrc2=size=64x48:rate=30:duration=4 -vf "
           "\"select='not(between(n\\,30\\,59))'\" -c:v mpeg4 "
           "-fps_mode passthrough"));
  ReadResult read = Read("gaps.avi");
  EXPECT_TRUE(read.status.ok()) << read.status;
  EXPECT_EQ(read.frames, 90);
}

// --- Truncation: Matroska (no duration per stream). ---

TEST_F(MovieReaderCompleteTest, MatroskaWithAudioLongerThanTheVideoIsComplete) {
  ASSERT_NO_FATAL_FAILURE(
      Make("long_audio.mkv",
           absl::StrCat("-f lavfi -i testsrc2=size=64x48:rate=30:duration=5 "
                        "-f lavfi -i sine=frequency=440:duration=8 ",
                        kX264, "-c:a libopus")));
  ReadResult read = Read("long_audio.mkv");
  EXPECT_TRUE(read.status.ok()) << read.status;
  EXPECT_EQ(read.frames, 150);
}

// Matroska's duration is where its longest stream ends: here a subtitle
// shown from 6 to 8 s, past the 5 s of video and sound. Such movies were
// refused as truncated ("declares 8 s of video but only 5 s could be read").
TEST_F(MovieReaderCompleteTest, MatroskaWithSubtitlesPastTheVideoIsComplete) {
  const std::string srt = Path("late.srt");
  {
    std::ofstream out(srt);
    out << "1\n00:00:01,000 --> 00:00:02,000\nhello\n\n"
           "2\n00:00:06,000 --> 00:00:08,000\nthe end\n";
  }
  ASSERT_NO_FATAL_FAILURE(Make(
      "late_subtitles.mkv",
      absl::StrCat("-f lavfi -i testsrc2=size=64x48:rate=30:duration=5 "
                   "-f lavfi -i sine=frequency=440:duration=5 -i ", srt,
                   " -map 0 -map 1 -map 2 ", kX264, "-c:a libopus -c:s srt")));
  ReadResult read = Read("late_subtitles.mkv");
  EXPECT_TRUE(read.status.ok()) << read.status;
  EXPECT_EQ(read.frames, 150);
  // Cut at two thirds it is still truncated: the subtitles end there too.
  std::string bytes = Bytes("late_subtitles.mkv");
  ReadResult cut = ReadMovieBytes(bytes.substr(0, bytes.size() * 2 / 3));
  EXPECT_EQ(cut.status.code(), absl::StatusCode::kInvalidArgument)
      << cut.status;
}

TEST_F(MovieReaderCompleteTest, LateTimestampsAreComplete) {
  // Timestamps from 5 s to 10 s. Matroska's duration (10 s) counts from 0,
  // FLV's (5 s) from the first timestamp.
  for (const std::string name : {"late.mkv", "late.flv"}) {
    SCOPED_TRACE(name);
    ASSERT_NO_FATAL_FAILURE(
        Make(name,
             absl::StrCat("-f lavfi -i testsrc2=size=64x48:rate=30:duration=5 ",
                          kX264, "-output_ts_offset 5")));
    ReadResult read = Read(name);
    EXPECT_TRUE(read.status.ok()) << read.status;
    EXPECT_EQ(read.frames, 150);
    EXPECT_NEAR(read.info.duration_seconds, 5, 0.1);
    EXPECT_NEAR(read.info.frames_estimate, 150, 3);
  }
}

// A clip of 3 H.264 frames with B-frames in Matroska: FFmpeg finds no
// decode time in its packets and gives the stream the container's start
// and duration, here the sound's, which starts 1 s later. It was refused
// ("declares 3 s of video but only -0.857 s could be read"); with the sound
// at 0 it was read as it should be, and still is.
TEST_F(MovieReaderCompleteTest, AFewFramesWithoutDecodeTimesStartAtTheirOwn) {
  ASSERT_NO_FATAL_FAILURE(
      Make("three.mkv",
           "-f lavfi -i testsrc2=size=64x48:rate=25 -frames:v 3 "
           "-c:v libx264 -bf 3 -pix_fmt yuv420p"));
  for (const std::string offset : {"1", "0"}) {
    SCOPED_TRACE(offset);
    const std::string name = absl::StrCat("three_sound_at_", offset, ".mkv");
    ASSERT_NO_FATAL_FAILURE(Make(
        name, absl::StrCat("-i ", Path("three.mkv"), " -itsoffset ", offset,
                           " -f lavfi -i sine=duration=2 -map 0 -map 1 "
                           "-c:v copy -c:a aac")));
    ReadResult read = Read(name);
    EXPECT_TRUE(read.status.ok()) << read.status;
    EXPECT_EQ(read.frames, 3);
    EXPECT_EQ(read.start, read.first_pts);
  }
}

TEST_F(MovieReaderCompleteTest, TruncatedMatroskaIsInvalid) {
  for (const std::string offset : {"0", "5"}) {
    SCOPED_TRACE(absl::StrCat("timestamps from ", offset, " s"));
    const std::string name = absl::StrCat("cut_from_", offset, ".mkv");
    ASSERT_NO_FATAL_FAILURE(Make(
        name, absl::StrCat("-f lavfi -i testsrc2=size=64x48:rate=30:duration=9 "
                           "-f lavfi -i sine=frequency=440:duration=9 ",
                           kX264, "-c:a libopus -output_ts_offset ", offset)));
    std::string bytes = Bytes(name);
    ReadResult cut = ReadMovieBytes(bytes.substr(0, bytes.size() * 2 / 3));
    EXPECT_EQ(cut.status.code(), absl::StatusCode::kInvalidArgument)
        << cut.status;
    EXPECT_THAT(std::string(cut.status.message()), HasSubstr("truncated"));
  }
}

// --- Attached pictures (cover art) are not video. ---

TEST_F(MovieReaderCompleteTest, SongWithCoverArtHasNoVideoStream) {
  ASSERT_NO_FATAL_FAILURE(
      Make("cover.png", "-f lavfi -i color=c=red:size=64x64 -frames:v 1"));
  ASSERT_NO_FATAL_FAILURE(
      Make("song.mp3", absl::StrCat("-f lavfi -i sine=frequency=440:duration=3 "
                                    "-i '",
                                    Path("cover.png"),
                                    "' -map 0 -map 1 -c:a libmp3lame -c:v png "
                                    "-disposition:v attached_pic")));
  ReadResult read = Read("song.mp3");
  EXPECT_EQ(read.status.code(), absl::StatusCode::kInvalidArgument)
      << read.status;
  EXPECT_THAT(std::string(read.status.message()),
              HasSubstr("the input has no video stream"));
}

TEST_F(MovieReaderCompleteTest, CoverArtBesideAVideoIsNotTheVideo) {
  ASSERT_NO_FATAL_FAILURE(
      Make("cover.png", "-f lavfi -i color=c=red:size=64x64 -frames:v 1"));
  // MP4 with iTunes-style cover art: the video track is read.
  ASSERT_NO_FATAL_FAILURE(Make(
      "covered.mp4",
      absl::StrCat("-f lavfi -i testsrc2=size=64x48:rate=15:duration=2 -i '",
                   Path("cover.png"), "' -map 0 -map 1 ", kX264,
                   "-c:v:1 png -disposition:v:1 attached_pic")));
  ReadResult mp4 = Read("covered.mp4");
  EXPECT_TRUE(mp4.status.ok()) << mp4.status;
  EXPECT_EQ(mp4.frames, 30);
  EXPECT_EQ(mp4.info.width, 64);
  EXPECT_EQ(mp4.info.video_codec, "h264");

  // Matroska with a picture attached and a video codec without a decoder:
  // FFmpeg's best decodable video stream is then the picture; the video's
  // codec is what cannot be decoded.
  ASSERT_NO_FATAL_FAILURE(
      Make("attached.mkv",
           absl::StrCat("-f lavfi -i testsrc2=size=64x48:rate=15:duration=2 ",
                        kX264, "-attach '", Path("cover.png"),
                        "' -metadata:s:t mimetype=image/png")));
  std::string bytes = Bytes("attached.mkv");
  size_t at = bytes.find("V_MPEG4/ISO/AVC");
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at, 15, "V_MPEG4/ISO/XYZ");
  ReadResult mkv = ReadMovieBytes(bytes);
  EXPECT_EQ(mkv.status.code(), absl::StatusCode::kInvalidArgument)
      << mkv.status;
  EXPECT_THAT(std::string(mkv.status.message()),
              HasSubstr("cannot be decoded"));
}

}  // namespace
}  // namespace media
}  // namespace stylizer
