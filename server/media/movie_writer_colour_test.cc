// The colour tags of an output describe how its pixels were made: the matrix
// tag is the one the RGB -> YUV conversion used (never the input's when the
// converter could not use it: RGB, YCgCo), range limited, primaries and
// transfer those of the input. Checked on movies made with the ffmpeg tool,
// run through the video pipeline (the fake queue inverts every pixel), read
// back with ffprobe and decoded with the ffmpeg tool, which follows the tags:
// the decoded output must be the inverted decoded input.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "server/media/frame_convert.h"
#include "server/media/movie_writer.h"
#include "server/media/testing/invert_movie.h"
#include "server/media/testing/test_movies.h"
#include "server/media/video_pipeline.h"

extern "C" {
#include <libavutil/log.h>
}

namespace stylizer {
namespace media {
namespace {

// ffprobe's names for the first video stream's colour tags.
struct Tags {
  std::string space, range, primaries, transfer;
};

class MovieWriterColourTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    av_log_set_level(AV_LOG_ERROR);
    dir_ = new std::string(testing::MakeTempDir("movie-writer-colour-test"));
  }

  static std::string Path(const std::string& name) {
    return absl::StrCat(*dir_, "/", name);
  }

  // Makes `name` from a blurred test pattern (smooth colours: 4:2:0 changes
  // them little) of the given size with `codec_args`, runs it through the
  // pipeline into `name`.out.mp4 and returns that path.
  std::string Stylize(const std::string& name, const std::string& size,
                      const std::string& codec_args) {
    const std::string in = Path(name);
    absl::Status made = testing::MakeMovie(
        absl::StrCat("-f lavfi -i testsrc2=size=", size,
                     ":rate=10:duration=0.3 -vf gblur=sigma=3 ", codec_args),
        in);
    EXPECT_TRUE(made.ok()) << made;
    auto bytes = testing::ReadFile(in);
    EXPECT_TRUE(bytes.ok()) << bytes.status();
    VideoPipeline::Options options;
    options.preset = "ultrafast";
    options.crf = 10;
    absl::StatusOr<std::string> stylized =
        testing::InvertMovie(bytes.value_or(""), options);
    EXPECT_TRUE(stylized.ok()) << stylized.status();
    const std::string out = in + ".out.mp4";
    EXPECT_TRUE(testing::WriteFile(out, stylized.value_or("")).ok());
    return out;
  }

  static Tags Probe(const std::string& path) {
    auto text = testing::RunCommand(absl::StrCat(
        "ffprobe -v error -select_streams v:0 -show_entries "
        "stream=color_space,color_range,color_primaries,color_transfer "
        "-of default=nw=1 '",
        path, "'"));
    EXPECT_TRUE(text.ok()) << text.status();
    Tags tags;
    for (absl::string_view line : absl::StrSplit(text.value_or(""), '\n')) {
      std::pair<std::string, std::string> kv = absl::StrSplit(line, '=');
      std::string value(absl::StripAsciiWhitespace(kv.second));
      if (kv.first == "color_space") tags.space = value;
      if (kv.first == "color_range") tags.range = value;
      if (kv.first == "color_primaries") tags.primaries = value;
      if (kv.first == "color_transfer") tags.transfer = value;
    }
    return tags;
  }

  // Mean absolute difference, over every channel of every pixel, between
  // the decoded output and the inverted decoded input (both as RGB24, as
  // the ffmpeg tool reads their tags; `in_args` may tell it how to read an
  // untagged input).
  static double InversionError(const std::string& in, const std::string& out,
                               const std::string& in_args = "") {
    std::string rgb[2];
    const std::string paths[] = {in, out};
    for (int i = 0; i < 2; ++i) {
      auto decoded = testing::RunCommand(
          absl::StrCat("ffmpeg -nostdin -v error -i '", paths[i], "' ",
                       i == 0 ? in_args : "", " -f rawvideo -pix_fmt rgb24 -"));
      EXPECT_TRUE(decoded.ok()) << decoded.status();
      rgb[i] = decoded.value_or("");
    }
    EXPECT_EQ(rgb[0].size(), rgb[1].size());
    if (rgb[0].size() != rgb[1].size() || rgb[0].empty()) return 1e9;
    double sum = 0;
    for (size_t i = 0; i < rgb[0].size(); ++i) {
      sum += std::abs(255 - static_cast<uint8_t>(rgb[0][i]) -
                      static_cast<uint8_t>(rgb[1][i]));
    }
    return sum / static_cast<double>(rgb[0].size());
  }

  static std::string* dir_;
};

std::string* MovieWriterColourTest::dir_ = nullptr;

// A matrix converted with BT.601 may carry either BT.601 tag.
bool IsBt601(const std::string& space) {
  return space == "smpte170m" || space == "bt470bg";
}

// What the 4:2:0 round trips of the blurred pattern cost with the right
// matrix: 1.3 (RGB input) to 2.1 (YUV input); BT.601 pixels read as BT.709
// are off by 9.
constexpr double kMaxError = 4.0;

TEST_F(MovieWriterColourTest, RgbInputIsTaggedWithTheMatrixItWasConvertedWith) {
  // libx264rgb: planar GBR pixels, matrix tag "gbr"; sRGB on BT.709.
  const std::string out =
      Stylize("rgb.mkv", "160x120",
              "-c:v libx264rgb -preset ultrafast -qp 0 "
              "-color_primaries bt709 -color_trc iec61966-2-1");
  const Tags tags = Probe(out);
  EXPECT_NE(tags.space, "gbr");
  EXPECT_TRUE(IsBt601(tags.space)) << tags.space;
  EXPECT_EQ(tags.range, "tv");
  EXPECT_EQ(tags.primaries, "bt709");
  EXPECT_EQ(tags.transfer, "iec61966-2-1");
  EXPECT_LT(InversionError(Path("rgb.mkv"), out), kMaxError);
}

TEST_F(MovieWriterColourTest, HdRgbInputGetsBt709) {
  // High definition: what players assume there (and so what the converter
  // uses) is BT.709.
  const std::string out = Stylize("rgb_hd.mkv", "1280x720",
                                  "-c:v libx264rgb -preset ultrafast -qp 0");
  const Tags tags = Probe(out);
  EXPECT_EQ(tags.space, "bt709");
  EXPECT_EQ(tags.range, "tv");
  EXPECT_LT(InversionError(Path("rgb_hd.mkv"), out), kMaxError);
}

TEST_F(MovieWriterColourTest, YcgcoInputIsNotTaggedYcgco) {
  // swscale has no YCgCo matrix: the converter uses BT.601 at this size.
  const std::string out = Stylize(
      "ycgco.mkv", "160x120",
      "-c:v libx264 -preset ultrafast -pix_fmt yuv420p -colorspace ycgco");
  const Tags tags = Probe(out);
  EXPECT_TRUE(IsBt601(tags.space)) << tags.space;
  EXPECT_EQ(tags.range, "tv");
}

TEST_F(MovieWriterColourTest, Bt709InputKeepsItsTags) {
  const std::string out =
      Stylize("bt709.mkv", "160x120",
              "-c:v libx264 -preset ultrafast -pix_fmt yuv420p "
              "-colorspace bt709 -color_primaries bt709 -color_trc bt709");
  const Tags tags = Probe(out);
  EXPECT_EQ(tags.space, "bt709");
  EXPECT_EQ(tags.range, "tv");
  EXPECT_EQ(tags.primaries, "bt709");
  EXPECT_EQ(tags.transfer, "bt709");
  EXPECT_LT(InversionError(Path("bt709.mkv"), out), kMaxError);
}

// Whether the MP4 at `path` has a colour box ('colr'), which FFmpeg writes
// only for a stream with matrix, primaries and transfer all tagged.
bool HasColourBox(const std::string& path) {
  return testing::ReadFile(path).value_or("").find("colr") != std::string::npos;
}

// An untagged input's output says all that players assume for it: its
// primaries and transfer had stayed unspecified, so the MP4 had no colour
// box and a player reading only that box could assume another matrix.
TEST_F(MovieWriterColourTest, UntaggedSdInputIsTaggedBt601) {
  const std::string out =
      Stylize("untagged.mkv", "160x120",
              "-c:v libx264 -preset ultrafast -pix_fmt yuv420p");
  const Tags tags = Probe(out);
  EXPECT_TRUE(IsBt601(tags.space)) << tags.space;
  EXPECT_EQ(tags.range, "tv");
  EXPECT_TRUE(IsBt601(tags.primaries)) << tags.primaries;
  EXPECT_EQ(tags.transfer, "smpte170m");
  EXPECT_TRUE(HasColourBox(out));
  EXPECT_LT(InversionError(Path("untagged.mkv"), out), kMaxError);
}

// An input that names its matrix only is completed from it alike.
TEST_F(MovieWriterColourTest, AMatrixAloneIsCompletedFromIt) {
  const std::string out =
      Stylize("matrix_only.mkv", "160x120",
              "-c:v libx264 -preset ultrafast -pix_fmt yuv420p "
              "-colorspace bt709");
  const Tags tags = Probe(out);
  EXPECT_EQ(tags.space, "bt709");
  EXPECT_EQ(tags.primaries, "bt709");
  EXPECT_EQ(tags.transfer, "bt709");
  EXPECT_TRUE(HasColourBox(out));
}

// FCC and SMPTE 240M matrices alone are completed with their systems'
// primaries and transfer: their outputs had no colour box, and a player
// reading only that box would have taken their pixels as BT.709's.
TEST_F(MovieWriterColourTest, FccAndSmpte240mMatricesAreCompleted) {
  for (const auto& [matrix, primaries, transfer] :
       {std::tuple{"fcc", "bt470m", "bt470m"},
        std::tuple{"smpte240m", "smpte240m", "smpte240m"}}) {
    SCOPED_TRACE(matrix);
    const std::string out =
        Stylize(absl::StrCat("matrix_", matrix, ".mkv"), "160x120",
                absl::StrCat("-c:v libx264 -preset ultrafast -pix_fmt yuv420p "
                             "-colorspace ",
                             matrix));
    const Tags tags = Probe(out);
    EXPECT_EQ(tags.space, matrix);
    EXPECT_EQ(tags.primaries, primaries);
    EXPECT_EQ(tags.transfer, transfer);
    EXPECT_TRUE(HasColourBox(out));
  }
}

TEST_F(MovieWriterColourTest, UntaggedHdInputIsReadAndTaggedAsBt709) {
  // Players show an untagged HD picture with BT.709: so is it read, and the
  // output says so (the ffmpeg tool itself would read it as BT.601).
  const std::string out =
      Stylize("untagged_hd.mkv", "1280x720",
              "-c:v libx264 -preset ultrafast -pix_fmt yuv420p");
  const Tags tags = Probe(out);
  EXPECT_EQ(tags.space, "bt709");
  EXPECT_EQ(tags.range, "tv");
  EXPECT_EQ(tags.primaries, "bt709");
  EXPECT_EQ(tags.transfer, "bt709");
  EXPECT_TRUE(HasColourBox(out));
  EXPECT_LT(InversionError(Path("untagged_hd.mkv"), out,
                           "-vf scale=in_color_matrix=bt709"),
            kMaxError);
}

// An interlaced movie (x264's interlaced coding, as a camcorder's 1080i)
// whose top fields are white and bottom fields black: each frame was read
// as one picture, rows alternating, and stylized combed. Read as its first
// field, each output frame is flat.
TEST_F(MovieWriterColourTest, InterlacedFramesAreReadAsTheirFirstField) {
  const std::string in = Path("interlaced.mkv");
  ASSERT_TRUE(testing::MakeMovie(
                  "-f lavfi -i nullsrc=size=64x64:rate=50:duration=0.4 -vf "
                  "\"geq=lum='if(mod(N,2),16,235)':cb=128:cr=128,"
                  "tinterlace=interleave_top,setfield=tff\" -c:v libx264 "
                  "-preset ultrafast -flags +ildct+ilme -x264opts tff=1 "
                  "-pix_fmt yuv420p",
                  in)
                  .ok());
  VideoPipeline::Options options;
  options.preset = "ultrafast";
  options.crf = 10;
  absl::StatusOr<std::string> stylized =
      testing::InvertMovie(testing::ReadFile(in).value_or(""), options);
  ASSERT_TRUE(stylized.ok()) << stylized.status();
  const std::string out = in + ".out.mp4";
  ASSERT_TRUE(testing::WriteFile(out, *stylized).ok());
  auto grey = testing::RunCommand(
      absl::StrCat("ffmpeg -nostdin -v error -i '", out,
                   "' -frames:v 1 -f rawvideo -pix_fmt gray -"));
  ASSERT_TRUE(grey.ok()) << grey.status();
  ASSERT_EQ(grey->size(), 64u * 64);
  // The white top field, inverted: black everywhere, no white rows.
  int brightest = 0;
  for (char c : *grey) brightest = std::max(brightest, int(uint8_t(c)));
  EXPECT_LT(brightest, 40);
}

// The one rule both converters and the writer's tag follow.
TEST(YuvMatrixTest, KeepsWhatSwscaleHasAndGuessesTheRestBySize) {
  EXPECT_EQ(YuvMatrix(AVCOL_SPC_BT709, 160, 120), AVCOL_SPC_BT709);
  EXPECT_EQ(YuvMatrix(AVCOL_SPC_BT470BG, 1920, 1080), AVCOL_SPC_BT470BG);
  EXPECT_EQ(YuvMatrix(AVCOL_SPC_SMPTE170M, 1920, 1080), AVCOL_SPC_SMPTE170M);
  EXPECT_EQ(YuvMatrix(AVCOL_SPC_FCC, 160, 120), AVCOL_SPC_FCC);
  EXPECT_EQ(YuvMatrix(AVCOL_SPC_SMPTE240M, 160, 120), AVCOL_SPC_SMPTE240M);
  EXPECT_EQ(YuvMatrix(AVCOL_SPC_BT2020_NCL, 160, 120), AVCOL_SPC_BT2020_NCL);
  // swscale has the non-constant-luminance matrix only.
  EXPECT_EQ(YuvMatrix(AVCOL_SPC_BT2020_CL, 160, 120), AVCOL_SPC_BT2020_NCL);
  for (AVColorSpace other :
       {AVCOL_SPC_UNSPECIFIED, AVCOL_SPC_RGB, AVCOL_SPC_YCGCO,
        AVCOL_SPC_RESERVED, AVCOL_SPC_ICTCP, AVCOL_SPC_CHROMA_DERIVED_NCL}) {
    SCOPED_TRACE(other);
    EXPECT_EQ(YuvMatrix(other, 720, 576), AVCOL_SPC_SMPTE170M);
    EXPECT_EQ(YuvMatrix(other, 1280, 720), AVCOL_SPC_BT709);
    EXPECT_EQ(YuvMatrix(other, 1024, 768), AVCOL_SPC_BT709);
  }
}

}  // namespace
}  // namespace media
}  // namespace stylizer
