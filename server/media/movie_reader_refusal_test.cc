// What MovieReader refuses, and what it says: frames over the decode limit,
// at the start or in the middle of a movie, fail with their size and what to
// do; damaged packets are skipped and counted; inputs FFmpeg cannot read
// (an animated WebP, a header without frames) say so. Movies are made with
// the ffmpeg tool.
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/media/movie_reader.h"
#include "server/media/testing/movie_file_test.h"
#include "server/media/testing/test_movies.h"

namespace stylizer {
namespace media {
namespace {

using ::stylizer::media::testing::ReadResult;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

// Reads `bytes` to the end with a decode limit of `max_decode_pixels`.
ReadResult ReadBytes(const std::string& bytes, int64_t max_decode_pixels) {
  MovieReader::Options options;
  options.max_decode_pixels = max_decode_pixels;
  return testing::ReadMovieBytes(bytes, options);
}

class MovieReaderRefusalTest : public testing::MovieFileTest {
 protected:
  // 50 frames of 64x48 (past what the probe reads) and then 2 of 640x480,
  // made with `codec` args in `format`: MPEG-TS joined as bytes (as
  // recordings are), others by FFmpeg's concat demuxer.
  static void MakeJoined(const std::string& name, const std::string& codec,
                         const std::string& format) {
    const std::string first = name + ".1." + format;
    const std::string second = name + ".2." + format;
    ASSERT_NO_FATAL_FAILURE(Make(
        first, absl::StrCat("-f lavfi -i testsrc=s=64x48:r=25:d=2 ", codec)));
    ASSERT_NO_FATAL_FAILURE(
        Make(second,
             absl::StrCat("-f lavfi -i testsrc=s=640x480:r=5:d=0.4 ", codec)));
    if (format == "ts") {
      ASSERT_TRUE(
          testing::WriteFile(Path(name), Bytes(first) + Bytes(second)).ok());
      return;
    }
    const std::string list = Path(name + ".txt");
    ASSERT_TRUE(
        testing::WriteFile(list, absl::StrCat("file '", Path(first),
                                              "'\nfile '", Path(second), "'\n"))
            .ok());
    ASSERT_NO_FATAL_FAILURE(
        Make(name, absl::StrCat("-f concat -safe 0 -i '", list, "' -c copy")));
  }
};

// The limit of these tests: under 640x480, and well over 64x48 (MPEG-2's and
// MPEG-4's decoders refuse even 64x48 frames at a limit of 200x200).
constexpr int64_t kLimit = 256 * 256;

// Frames over the limit from the start are refused by the probe, with what
// to do: max_side would not help, the frames must be made smaller.
TEST_F(MovieReaderRefusalTest, FramesOverTheLimitSayHowToFit) {
  ASSERT_NO_FATAL_FAILURE(
      Make("big.mkv",
           "-f lavfi -i testsrc=s=640x480:r=5:d=0.4 -c:v libx264 "
           "-preset ultrafast"));
  ReadResult read = ReadBytes(Bytes("big.mkv"), kLimit);
  EXPECT_EQ(read.status.code(), absl::StatusCode::kInvalidArgument)
      << read.status;
  EXPECT_THAT(std::string(read.status.message()),
              AllOf(HasSubstr("the input's frames (640x480) are larger than "
                              "the limit of 65536 pixels (256x256)"),
                    HasSubstr("max_side cannot help"),
                    HasSubstr("scale the movie down before sending it, e.g. "
                              "ffmpeg -i in.mp4 -vf scale=256:256:force_"
                              "original_aspect_ratio=decrease:force_"
                              "divisible_by=2 out.mp4")));
  // A limit that is no square names the largest square within it.
  read = ReadBytes(Bytes("big.mkv"), 300 * 200);
  EXPECT_THAT(std::string(read.status.message()),
              HasSubstr("the limit of 60000 pixels (244x244 fits)"));
}

// MJPEG's and PNG's decoders clear the size of a frame over the limit,
// and the probe's decoder gave the stream that: the refusal said only "the
// input's video stream has no frame size". The container's header still
// says how large the frames are.
TEST_F(MovieReaderRefusalTest, PictureCodecFramesOverTheLimitSayHowToFit) {
  for (const char* codec : {"-c:v mjpeg", "-c:v png"}) {
    SCOPED_TRACE(codec);
    ASSERT_NO_FATAL_FAILURE(
        Make("big_pictures.mkv",
             absl::StrCat("-f lavfi -i testsrc=s=640x480:r=5:d=0.4 ", codec)));
    ReadResult read = ReadBytes(Bytes("big_pictures.mkv"), kLimit);
    EXPECT_EQ(read.status.code(), absl::StatusCode::kInvalidArgument)
        << read.status;
    EXPECT_THAT(std::string(read.status.message()),
                AllOf(HasSubstr("the input's frames (640x480) are larger "
                                "than the limit of 65536 pixels (256x256)"),
                      HasSubstr("max_side cannot help")));
  }
}

// Frames over the limit in the middle of a movie (recordings joined as
// bytes, a stream whose resolution steps up) fail the job with their size
// and the limit, as at the start. They were skipped as damaged packets and
// the job ended OK without them (50 frames out of 52).
TEST_F(MovieReaderRefusalTest, FramesOverTheLimitMidStreamFailWithTheirSize) {
  // H.264 keeps the new size in its decoder; HEVC's refusal was
  // RESOURCE_EXHAUSTED ("Cannot allocate memory").
  for (const char* codec : {"-c:v libx264 -preset ultrafast",
                            "-c:v libx265 -x265-params log-level=none"}) {
    SCOPED_TRACE(codec);
    ASSERT_NO_FATAL_FAILURE(MakeJoined("joined.ts", codec, "ts"));
    ReadResult read = ReadBytes(Bytes("joined.ts"), kLimit);
    EXPECT_EQ(read.status.code(), absl::StatusCode::kInvalidArgument)
        << read.status;
    EXPECT_THAT(std::string(read.status.message()),
                AllOf(HasSubstr("the input's frames (640x480, after "),
                      HasSubstr("larger than the limit of 65536 pixels "
                                "(256x256)"),
                      HasSubstr("max_side cannot help"),
                      HasSubstr("-vf scale=256:256:")));
    EXPECT_GE(read.frames, 40);
  }
}

// Decoders whose size check clears the size they refuse (VP9, MJPEG,
// MPEG-4 Part 2) say only that: the job fails all the same.
TEST_F(MovieReaderRefusalTest, FramesOfARefusedSizeMidStreamFail) {
  struct Case {
    const char* name;
    const char* codec;
    const char* format;
  } cases[] = {{"joined.webm", "-c:v libvpx-vp9", "webm"},
               {"joined.avi", "-c:v mjpeg", "avi"},
               {"joined_mpeg4.ts", "-c:v mpeg4", "ts"}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ASSERT_NO_FATAL_FAILURE(MakeJoined(c.name, c.codec, c.format));
    ReadResult read = ReadBytes(Bytes(c.name), kLimit);
    EXPECT_EQ(read.status.code(), absl::StatusCode::kInvalidArgument)
        << read.status;
    EXPECT_THAT(std::string(read.status.message()),
                AllOf(HasSubstr("frames, the input's frames change to a size "
                                "the decoder refuses (larger than the limit "
                                "of 65536 pixels (256x256)"),
                      HasSubstr("max_side cannot help")));
  }
}

// A packet the decoder cannot read (here a JPEG whose frame header names
// arithmetic coding) is skipped, as ffmpeg skips it, and counted.
TEST_F(MovieReaderRefusalTest, DamagedPacketsAreSkippedAndCounted) {
  ASSERT_NO_FATAL_FAILURE(Make(
      "mjpeg.avi", "-f lavfi -i testsrc=s=64x48:r=25:d=1 -c:v mjpeg -f avi"));
  std::string bytes = Bytes("mjpeg.avi");
  size_t at = 0;
  for (int i = 0; i < 10; ++i) {
    at = bytes.find("\xff\xc0", i == 0 ? 0 : at + 1);
    ASSERT_NE(at, std::string::npos);
  }
  bytes[at + 1] = '\xc9';  // SOF0 -> SOF9
  ReadResult read = ReadBytes(bytes, kLimit);
  EXPECT_TRUE(read.status.ok()) << read.status;
  EXPECT_EQ(read.frames, 24);
  EXPECT_EQ(read.skipped, 1);
}

// Damaged packets are there, only unreadable: they are not missing frames.
// Five of 25 (over the 2 frames the truncation rule forgives) were refused
// as "truncated: its index lists 25 video frames but only 20 could be
// read", and so was each --split segment that held a few (a movie the
// unsplit job stylized, with a warning, failed split).
TEST_F(MovieReaderRefusalTest, DamagedPacketsAreNotMissingFrames) {
  ASSERT_NO_FATAL_FAILURE(Make(
      "mjpeg5.avi", "-f lavfi -i testsrc=s=64x48:r=25:d=1 -c:v mjpeg -f avi"));
  std::string bytes = Bytes("mjpeg5.avi");
  size_t at = 0;
  for (int i = 0; i < 20; ++i) {
    at = bytes.find("\xff\xc0", i == 0 ? 0 : at + 1);
    ASSERT_NE(at, std::string::npos);
    if (i % 4 == 3) bytes[at + 1] = '\xc9';  // frames 4, 8, 12, 16, 20
  }
  ReadResult read = ReadBytes(bytes, kLimit);
  EXPECT_TRUE(read.status.ok()) << read.status;
  EXPECT_EQ(read.frames, 20);
  EXPECT_EQ(read.skipped, 5);
  // Cut off, it is still truncated.
  read = ReadBytes(bytes.substr(0, bytes.size() / 2), kLimit);
  EXPECT_EQ(read.status.code(), absl::StatusCode::kInvalidArgument)
      << read.status;
  EXPECT_THAT(std::string(read.status.message()), HasSubstr("truncated"));
}

// FFmpeg 5.1 decodes no animated WebP (its decoder finds no image data):
// the input's stream had "no frame size".
TEST_F(MovieReaderRefusalTest, AnAnimatedWebpIsNotSupported) {
  ASSERT_NO_FATAL_FAILURE(Make("anim.webp",
                               "-f lavfi -i testsrc2=s=64x48:r=10:d=1 -c:v "
                               "libwebp_anim -loop 0"));
  ReadResult read = ReadBytes(Bytes("anim.webp"), kLimit);
  EXPECT_EQ(read.status.code(), absl::StatusCode::kInvalidArgument)
      << read.status;
  EXPECT_THAT(std::string(read.status.message()),
              AllOf(HasSubstr("animated WebP"), HasSubstr("convert in.webp "
                                                          "out.gif")));
  // A still WebP is a movie of one frame.
  ASSERT_NO_FATAL_FAILURE(Make(
      "still.webp", "-f lavfi -i testsrc2=s=64x48 -frames:v 1 -c:v libwebp"));
  read = ReadBytes(Bytes("still.webp"), kLimit);
  EXPECT_TRUE(read.status.ok()) << read.status;
  EXPECT_EQ(read.frames, 1);
}

// A Matroska or WebM file that ends after its header: FFmpeg's demuxer
// fails with "End of file", which read as if the input were no movie. An
// MP4 whose track has no sample: FFmpeg leaves the track out, which read as
// "the input has no video stream".
TEST_F(MovieReaderRefusalTest, AHeaderWithoutFramesSaysSo) {
  for (const char* name : {"empty.mkv", "empty.webm", "empty.mp4"}) {
    SCOPED_TRACE(name);
    ASSERT_NO_FATAL_FAILURE(Make(
        name, absl::StrCat("-f lavfi -i testsrc=s=64x48 -frames:v 0 ",
                           absl::EndsWith(name, "webm") ? "-c:v libvpx-vp9"
                                                        : "-c:v libx264")));
    ReadResult read = ReadBytes(Bytes(name), kLimit);
    EXPECT_EQ(read.status.code(), absl::StatusCode::kInvalidArgument)
        << read.status;
    EXPECT_THAT(std::string(read.status.message()),
                AllOf(HasSubstr("ends before its first frame"),
                      Not(HasSubstr("not a movie")),
                      Not(HasSubstr("no video stream"))));
  }
}

// An upload cut off inside its Matroska header: the demuxer fails with
// "Input/output error", which read as "the input is not a movie FFmpeg
// recognises".
TEST_F(MovieReaderRefusalTest, AMatroskaCutInItsHeaderSaysSo) {
  ASSERT_NO_FATAL_FAILURE(Make(
      "whole.mkv", "-f lavfi -i testsrc=s=64x48 -frames:v 5 -c:v libx264"));
  const std::string bytes = Bytes("whole.mkv");
  for (size_t cut : {100, 200, 300}) {
    SCOPED_TRACE(cut);
    ReadResult read = ReadBytes(bytes.substr(0, cut), kLimit);
    EXPECT_EQ(read.status.code(), absl::StatusCode::kInvalidArgument)
        << read.status;
    EXPECT_THAT(std::string(read.status.message()),
                AllOf(HasSubstr("the input (matroska,webm) ends before its "
                                "first frame: it has no frames, or was cut "
                                "off in its header"),
                      Not(HasSubstr("not a movie"))));
  }
}

}  // namespace
}  // namespace media
}  // namespace stylizer
