// Tests of still images scaled with max_side and of what decoding them is
// reserved: the decoded size read from the header, the scaled size keeping
// the aspect, the work bytes of a PNG by its colour type and depth and of a
// JPEG by its frame header, colours kept and transparency flattened before
// scaling, the shape rule applied to the scaled picture, and the refusal
// over the largest picture the server scales down naming that limit.
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/service/image_codec.h"
#include "server/service/testing/test_images.h"

namespace stylizer {
namespace {

using testing::Encoded;
using testing::Gradient;
using ::testing::HasSubstr;
using testing::kLimit;
using testing::Png;
using testing::PngHeader;

// The size a call reserves memory for before decoding: the header's, or 0x0
// for what DecodeImage refuses before allocating.
TEST(ImageCodecTest, DecodedSizeComesFromTheHeader) {
  constexpr uint64_t kLimit = 4096 * 4096;
  const ImageSize png = DecodedSize(Encoded(PngHeader(3840, 2160)), kLimit);
  EXPECT_EQ(png.width, 3840);
  EXPECT_EQ(png.height, 2160);
  EXPECT_EQ(DecodedSize(Encoded(PngHeader(100000, 100000)), kLimit).width, 0);
  EXPECT_EQ(DecodedSize(Encoded("not a picture"), kLimit).width, 0);
  v1::Image raw;
  raw.mutable_raw()->set_width(4);
  raw.mutable_raw()->set_height(2);
  raw.mutable_raw()->set_rgb(std::string(4 * 2 * 3, '\0'));
  EXPECT_EQ(DecodedSize(raw, kLimit).width, 4);
  raw.mutable_raw()->set_rgb(std::string(5, '\0'));  // the wrong length
  EXPECT_EQ(DecodedSize(raw, kLimit).width, 0);
}

TEST(ImageCodecTest, ScaledImageSizeKeepsTheAspect) {
  EXPECT_EQ(ScaledImageSize({4032, 3024}, 1024).width, 1024);
  EXPECT_EQ(ScaledImageSize({4032, 3024}, 1024).height, 768);
  EXPECT_EQ(ScaledImageSize({3024, 4032}, 1024).width, 768);
  EXPECT_EQ(ScaledImageSize({3024, 4032}, 1024).height, 1024);
  EXPECT_EQ(ScaledImageSize({101, 50}, 10).height, 5);      // 4.95, rounded
  EXPECT_EQ(ScaledImageSize({1000, 1}, 10).height, 1);      // at least 1
  EXPECT_EQ(ScaledImageSize({640, 480}, 0).width, 640);     // 0: as is
  EXPECT_EQ(ScaledImageSize({640, 480}, 2000).width, 640);  // never up
}

// What decoding a large picture to a smaller one holds, by its kind: a
// 16-bit RGBA PNG's picture is 8 bytes a pixel, and its flattened copy 3
// more (it was reserved at 3 in all).
TEST(ImageCodecTest, ScalingWorkBytesFollowTheDecodedPicture) {
  const ImageSize size{10, 10};
  const std::string no_rows;
  EXPECT_EQ(ScalingWorkBytes(Encoded(Png(10, 10, 6, 16, no_rows)), size),
            100 * (8 + 3));
  EXPECT_EQ(ScalingWorkBytes(Encoded(Png(10, 10, 6, 8, no_rows)), size),
            100 * (4 + 3));
  // Grey and RGB may have a tRNS chunk: counted with alpha.
  EXPECT_EQ(ScalingWorkBytes(Encoded(Png(10, 10, 2, 8, no_rows)), size),
            100 * (4 + 3));
  EXPECT_EQ(ScalingWorkBytes(Encoded(Png(10, 10, 0, 16, no_rows)), size),
            100 * (4 + 3));
  EXPECT_EQ(ScalingWorkBytes(Encoded(Png(10, 10, 3, 8, no_rows)), size),
            100 * (1 + 3));  // a palette may have alpha
  // A 4:2:0 JPEG: one 16x16 MCU of 6 blocks, and an eighth.
  v1::Image jpeg;
  ASSERT_TRUE(EncodeImage(Gradient(10, 10), v1::IMAGE_FORMAT_JPEG, &jpeg).ok());
  EXPECT_EQ(ScalingWorkBytes(jpeg, size), 6 * 64 * 9 / 8);
  v1::Image raw;
  ASSERT_TRUE(EncodeImage(Gradient(10, 10), v1::IMAGE_FORMAT_RAW, &raw).ok());
  EXPECT_EQ(ScalingWorkBytes(raw, size), 100 * 3);
}

// A JPEG's start and frame header: `marker` (0xC0 baseline, 0xC2
// progressive, ...), `precision` bits, and per component its sampling
// factors (h << 4 | v). Enough for the cost model, which reads no further.
std::string JpegFrameHeader(uint8_t marker, int width, int height,
                            const std::vector<uint8_t>& factors,
                            int precision = 8) {
  std::string d = "\xff\xd8";
  const size_t length = 8 + 3 * factors.size();
  d += {'\xff',
        static_cast<char>(marker),
        static_cast<char>(length >> 8),
        static_cast<char>(length & 0xff),
        static_cast<char>(precision),
        static_cast<char>(height >> 8),
        static_cast<char>(height & 0xff),
        static_cast<char>(width >> 8),
        static_cast<char>(width & 0xff),
        static_cast<char>(factors.size())};
  for (size_t c = 0; c < factors.size(); ++c) {
    d += {static_cast<char>(c + 1), static_cast<char>(factors[c]), '\0'};
  }
  return d + "\xff\xd9";
}

// A JPEG costs what FFmpeg's decoder holds: the picture at its chroma layout,
// and for a progressive file 2 bytes of coefficients a sample, plus an
// eighth. Every JPEG was charged 4 bytes a pixel, which a progressive 4:4:4
// one (9) or CMYK one (12) exceeds: peak RSS at 8192x8192 was 576 and 773
// MiB for a charge of 256.
TEST(ImageCodecTest, JpegScalingWorkFollowsItsFrameHeader) {
  const ImageSize size{8192, 8192};
  const int64_t pixels = int64_t{8192} * 8192;
  auto cost = [&](uint8_t marker, const std::vector<uint8_t>& factors,
                  int precision = 8) {
    return ScalingWorkBytes(
        Encoded(JpegFrameHeader(marker, 8192, 8192, factors, precision)), size);
  };
  const std::vector<uint8_t> yuv420 = {0x22, 0x11, 0x11};
  const std::vector<uint8_t> yuv444 = {0x11, 0x11, 0x11};
  const std::vector<uint8_t> cmyk = {0x11, 0x11, 0x11, 0x11};
  const std::vector<uint8_t> grey = {0x11};
  // Baseline: the picture only.
  EXPECT_EQ(cost(0xC0, yuv420), pixels * 3 / 2 * 9 / 8);
  EXPECT_EQ(cost(0xC0, yuv444), pixels * 3 * 9 / 8);
  EXPECT_EQ(cost(0xC0, cmyk), pixels * 4 * 9 / 8);
  EXPECT_EQ(cost(0xC0, grey), pixels * 9 / 8);
  // Extended (SOF1) at 12 bits: 16-bit samples.
  EXPECT_EQ(cost(0xC1, yuv420, 12), pixels * 3 * 9 / 8);
  // Progressive: and 2 bytes of coefficients a sample.
  EXPECT_EQ(cost(0xC2, yuv420), pixels * 3 / 2 * 3 * 9 / 8);
  EXPECT_EQ(cost(0xC2, yuv444), pixels * 3 * 3 * 9 / 8);
  EXPECT_EQ(cost(0xC2, cmyk), pixels * 4 * 3 * 9 / 8);
  EXPECT_EQ(cost(0xC2, grey), pixels * 3 * 9 / 8);
  // A layout the decoder may widen (Cb and Cr sampled differently): the
  // picture at full size, the coefficients at their own sampling.
  EXPECT_EQ(cost(0xC0, {0x22, 0x11, 0x21}), pixels * 3 * 9 / 8);
  EXPECT_EQ(cost(0xC2, {0x22, 0x11, 0x21}),
            (pixels * 3 + (pixels + pixels / 4 + pixels / 2) * 2) * 9 / 8);
  // Whole MCUs: 100x100 4:2:0 is 7x7 MCUs of 16x16.
  EXPECT_EQ(ScalingWorkBytes(Encoded(JpegFrameHeader(0xC0, 100, 100, yuv420)),
                             ImageSize{100, 100}),
            7 * 7 * 6 * 64 * 9 / 8);
}

// A picture scaled with max_side keeps its colours (each output pixel the
// mean of the area it covers), whatever it was sent as.
TEST(ImageCodecTest, MaxSideScalesEveryKindOfImage) {
  // Left half red, right half blue, 300x150.
  RgbFrame frame;
  frame.width = 300;
  frame.height = 150;
  for (int y = 0; y < 150; ++y) {
    for (int x = 0; x < 300; ++x) {
      frame.pixels.insert(frame.pixels.end(), {uint8_t(x < 150 ? 255 : 0), 0,
                                               uint8_t(x < 150 ? 0 : 255)});
    }
  }
  for (v1::ImageFormat format :
       {v1::IMAGE_FORMAT_RAW, v1::IMAGE_FORMAT_PNG, v1::IMAGE_FORMAT_JPEG}) {
    SCOPED_TRACE(v1::ImageFormat_Name(format));
    v1::Image image;
    ASSERT_TRUE(EncodeImage(frame, format, &image).ok());
    absl::StatusOr<RgbFrame> out = DecodeImage(image, kLimit, 100);
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_EQ(out->width, 100);
    ASSERT_EQ(out->height, 50);
    const uint8_t* left = &out->pixels[(25 * 100 + 10) * 3];
    const uint8_t* right = &out->pixels[(25 * 100 + 90) * 3];
    EXPECT_NEAR(left[0], 255, 6);
    EXPECT_NEAR(left[2], 0, 6);
    EXPECT_NEAR(right[0], 0, 6);
    EXPECT_NEAR(right[2], 255, 6);
  }
}

// Transparency is flattened before scaling: scaling straight alpha first
// darkened the pixels where opaque and transparent meet.
TEST(ImageCodecTest, MaxSideScalesTransparentPicturesWithoutDarkEdges) {
  // Opaque red on the left 151 columns, transparent black after: every
  // picture over white has a red channel of 255, whatever is averaged.
  std::string rows;
  for (int y = 0; y < 60; ++y) {
    rows += '\0';
    for (int x = 0; x < 300; ++x) {
      rows += x <= 150 ? std::string("\xff\0\0\xff", 4) : std::string(4, '\0');
    }
  }
  absl::StatusOr<RgbFrame> out =
      DecodeImage(Encoded(Png(300, 60, 6, 8, rows)), kLimit, 100);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->width, 100);
  ASSERT_EQ(out->height, 20);
  int darkest = 255;
  for (size_t i = 0; i < out->pixels.size(); i += 3) {
    darkest = std::min<int>(darkest, out->pixels[i]);
  }
  EXPECT_GE(darkest, 253);
}

// The shape rule is the model's: with max_side it applies to the picture
// the model gets. A 5000x20 strip scaled to 200x1 is a small frame, and was
// refused as a thin one.
TEST(ImageCodecTest, TheShapeRuleAppliesToTheScaledPicture) {
  for (const auto& [width, height, max_side, out_width, out_height] :
       {std::tuple{5000, 20, 200, 200, 1}, std::tuple{3000, 31, 64, 64, 1}}) {
    SCOPED_TRACE(absl::StrCat(width, "x", height, " max_side ", max_side));
    v1::Image strip;
    ASSERT_TRUE(
        EncodeImage(Gradient(width, height), v1::IMAGE_FORMAT_PNG, &strip)
            .ok());
    EXPECT_EQ(DecodeImage(strip, kLimit).status().code(),
              absl::StatusCode::kInvalidArgument);  // thin as it is
    absl::StatusOr<RgbFrame> scaled = DecodeImage(strip, kLimit, max_side);
    ASSERT_TRUE(scaled.ok()) << scaled.status();
    EXPECT_EQ(scaled->width, out_width);
    EXPECT_EQ(scaled->height, out_height);
    v1::Image raw;
    raw.mutable_raw()->set_width(width);
    raw.mutable_raw()->set_height(height);
    const RgbFrame pixels = Gradient(width, height);
    raw.mutable_raw()->set_rgb(
        std::string(pixels.pixels.begin(), pixels.pixels.end()));
    EXPECT_TRUE(DecodeImage(raw, kLimit, max_side).ok());
  }
  // Scaled, but still thin: refused.
  v1::Image strip;
  ASSERT_TRUE(
      EncodeImage(Gradient(8000, 20), v1::IMAGE_FORMAT_PNG, &strip).ok());
  EXPECT_THAT(DecodeImage(strip, kLimit, 4000).status().message(),
              HasSubstr("4000x10 frame is too thin"));
}

// With max_side the limit is on what the server decodes to scale down; the
// refusal said "the server's limit of 67108864 pixels", which is not the
// frame limit a client reads from GetModelInfo.
TEST(ImageCodecTest, OverTheScalingLimitSaysWhichLimit) {
  auto png =
      DecodeImage(Encoded(PngHeader(9000, 9000)), kMaxImagePixelsToScale, 64);
  EXPECT_EQ(png.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(png.status().message(),
              HasSubstr("over the largest picture the server scales down, "
                        "67108864 pixels (8192x8192)"));
}

}  // namespace
}  // namespace stylizer
