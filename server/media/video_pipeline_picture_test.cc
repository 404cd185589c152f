// What the video job pipeline does with a movie's picture, on tiny movies
// made with the ffmpeg tool and a fake job queue that inverts pixels: odd
// sizes, downscaling, rotation kept as a display matrix (MP4) or turned
// upright (Matroska), mirrored movies shown as players show them, the sample
// aspect ratio players show kept, a photo's EXIF orientation as its
// rotation, HDR tone-mapped to SDR BT.709 as FFmpeg's own filters do it, and
// preserve_color. Pictures are compared with what ffmpeg shows of the input.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "server/media/testing/test_movies.h"
#include "server/media/testing/video_pipeline_fixture.h"
#include "server/media/video_pipeline.h"

extern "C" {
#include <libavutil/display.h>
}

namespace stylizer {
namespace media {
namespace {

using testing::CollectingSink;

class VideoPipelineTest : public testing::VideoPipelineFixture {
 protected:
  static void SetUpTestSuite() {
    MakeMovies({"odd_318x178.mp4", "odd_317x179.mkv", "unrotated.mp4",
                "rotated.mp4", "container_sar.mp4", "container_sar_rotated.mp4",
                "hdr_pq.mkv", "hdr_hlg.mkv", "photo.jpg", "pastel.mp4"});
  }
};

TEST_F(VideoPipelineTest, OddSizes) {
  CollectingSink even;
  Run(Bytes("odd_318x178.mp4"), BaseOptions(1), &even);
  ExpectOutputsMatch("odd_318x178.mp4", &even, 1, 318, 178, false);
  CollectingSink odd;
  Run(Bytes("odd_317x179.mkv"), BaseOptions(1), &odd);
  ExpectOutputsMatch("odd_317x179.mkv", &odd, 1, 316, 178, false);
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

TEST_F(VideoPipelineTest, RotationMetadataIsKept) {
  CollectingSink sink;
  Run(Bytes("rotated.mp4"), BaseOptions(1), &sink);
  ExpectOutputsMatch("rotated.mp4", &sink, 1, 192, 108, true);
  EXPECT_EQ(sink.info_.rotation_degrees, 90);
  auto out = testing::ProbeMovie(Path("rotated.mp4.out0.mp4"));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->rotation, 90);
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
  auto out = testing::RunCommand(
      absl::StrCat("ffprobe -v error -select_streams v:0 -show_entries "
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
        Case{"container_sar_rotated.mp4", OutputContainer::kFragmentedMp4,
             "3:4"},
        // Turned upright: 108x192 samples shown 3:4 on their side.
        Case{"container_sar_rotated.mp4", OutputContainer::kMatroska, "4:3"}}) {
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
