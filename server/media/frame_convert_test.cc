// Tests of the output-size rule and the RGB/YUV conversions.
#include "server/media/frame_convert.h"

#include <cstdlib>
#include <cstring>
#include <random>
#include <tuple>

#include "gtest/gtest.h"

extern "C" {
#include <libavutil/pixfmt.h>
#include <libswscale/swscale.h>
}

namespace stylizer {
namespace media {
namespace {

TEST(OutputSizeTest, KeepsEvenSizes) {
  EXPECT_EQ(OutputSize(318, 178, 0), std::make_pair(318, 178));
  EXPECT_EQ(OutputSize(1280, 720, 2000), std::make_pair(1280, 720));
}

TEST(OutputSizeTest, CropsOddSides) {
  EXPECT_EQ(OutputSize(317, 179, 0), std::make_pair(316, 178));
  EXPECT_EQ(OutputSize(1, 1, 0), std::make_pair(2, 2));
}

TEST(OutputSizeTest, DownscalesTheLongerSideKeepingAspect) {
  EXPECT_EQ(OutputSize(1920, 1080, 640), std::make_pair(640, 360));
  EXPECT_EQ(OutputSize(1080, 1920, 640), std::make_pair(360, 640));
  EXPECT_EQ(OutputSize(318, 178, 100), std::make_pair(100, 56));
}

AvFramePtr GrayYuvFrame(int width, int height, uint8_t luma) {
  AvFramePtr frame = MakeFrame();
  frame->format = AV_PIX_FMT_YUV420P;
  frame->width = width;
  frame->height = height;
  EXPECT_GE(av_frame_get_buffer(frame.get(), 0), 0);
  for (int y = 0; y < height; ++y) {
    memset(frame->data[0] + y * frame->linesize[0], luma, width);
  }
  for (int p = 1; p < 3; ++p) {
    for (int y = 0; y < (height + 1) / 2; ++y) {
      memset(frame->data[p] + y * frame->linesize[p], 128, (width + 1) / 2);
    }
  }
  return frame;
}

// The converter has swscale write planes and interleaves them itself (4 to 7
// times faster): the pixels must be exactly those swscale writes as packed
// RGB24 with the same settings, at full size and scaled, limited and full
// range.
TEST(RgbConverterTest, MatchesSwscalesPackedRgbExactly) {
  std::mt19937 rng(7);
  for (const auto& [from_w, from_h, to_w, to_h, full_range] :
       {std::tuple{96, 64, 96, 64, false}, std::tuple{96, 64, 48, 32, false},
        std::tuple{95, 63, 94, 62, true},
        std::tuple{320, 180, 128, 72, true}}) {
    SCOPED_TRACE(::testing::Message()
                 << from_w << "x" << from_h << " -> " << to_w << "x" << to_h);
    AvFramePtr frame = MakeFrame();
    frame->format = AV_PIX_FMT_YUV420P;
    frame->width = from_w;
    frame->height = from_h;
    frame->colorspace = AVCOL_SPC_BT709;
    frame->color_range = full_range ? AVCOL_RANGE_JPEG : AVCOL_RANGE_MPEG;
    ASSERT_GE(av_frame_get_buffer(frame.get(), 0), 0);
    for (int p = 0; p < 3; ++p) {
      for (int y = 0; y < (p == 0 ? from_h : (from_h + 1) / 2); ++y) {
        for (int x = 0; x < (p == 0 ? from_w : (from_w + 1) / 2); ++x) {
          frame->data[p][y * frame->linesize[p] + x] =
              static_cast<uint8_t>(rng());
        }
      }
    }
    RgbConverter converter(to_w, to_h);
    RgbFrame ours;
    ASSERT_TRUE(converter.Convert(*frame, &ours).ok());

    const int src_w = (from_w & ~1) == to_w ? to_w : from_w;
    const int src_h = (from_h & ~1) == to_h ? to_h : from_h;
    SwsContextPtr sws(sws_getContext(
        src_w, src_h, AV_PIX_FMT_YUV420P, to_w, to_h, AV_PIX_FMT_RGB24,
        SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, nullptr, nullptr,
        nullptr));
    ASSERT_NE(sws, nullptr);
    sws_setColorspaceDetails(
        sws.get(), sws_getCoefficients(SWS_CS_ITU709), full_range ? 1 : 0,
        sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16, 1 << 16);
    AvFramePtr packed = MakeFrame();
    packed->format = AV_PIX_FMT_RGB24;
    packed->width = to_w;
    packed->height = to_h;
    ASSERT_GE(av_frame_get_buffer(packed.get(), 0), 0);
    sws_scale(sws.get(), frame->data, frame->linesize, 0, src_h, packed->data,
              packed->linesize);
    int differing = 0;
    for (int y = 0; y < to_h; ++y) {
      differing +=
          std::memcmp(packed->data[0] + y * packed->linesize[0],
                      ours.pixels.data() + 3 * y * to_w, 3 * to_w) != 0;
    }
    EXPECT_EQ(differing, 0) << "rows that differ";
  }
}

TEST(RgbConverterTest, ConvertsAndCropsOddFrames) {
  AvFramePtr frame = GrayYuvFrame(33, 17, 126);
  RgbConverter converter(32, 16);
  RgbFrame rgb;
  ASSERT_TRUE(converter.Convert(*frame, &rgb).ok());
  EXPECT_EQ(rgb.width, 32);
  EXPECT_EQ(rgb.height, 16);
  ASSERT_EQ(rgb.pixels.size(), 32u * 16 * 3);
  // Limited-range luma 126 is about 127 in full-range gray.
  for (uint8_t p : rgb.pixels) EXPECT_NEAR(p, 127, 3);
}

TEST(RgbConverterTest, Downscales) {
  AvFramePtr frame = GrayYuvFrame(64, 32, 200);
  RgbConverter converter(16, 8);
  RgbFrame rgb;
  ASSERT_TRUE(converter.Convert(*frame, &rgb).ok());
  EXPECT_EQ(rgb.pixels.size(), 16u * 8 * 3);
}

TEST(YuvConverterTest, RoundTripsGray) {
  RgbFrame rgb;
  rgb.width = 8;
  rgb.height = 4;
  rgb.pixels.assign(8 * 4 * 3, 100);
  YuvConverter yuv(8, 4, AVCOL_SPC_UNSPECIFIED);
  auto frame = yuv.Convert(rgb);
  ASSERT_TRUE(frame.ok()) << frame.status();
  RgbConverter back(8, 4);
  RgbFrame again;
  ASSERT_TRUE(back.Convert(**frame, &again).ok());
  for (uint8_t p : again.pixels) EXPECT_NEAR(p, 100, 3);
}

TEST(YuvConverterTest, RejectsFramesOfTheWrongSize) {
  RgbFrame rgb;
  rgb.width = 4;
  rgb.height = 4;
  rgb.pixels.assign(4 * 4 * 3, 0);
  YuvConverter yuv(8, 4, AVCOL_SPC_UNSPECIFIED);
  EXPECT_FALSE(yuv.Convert(rgb).ok());
}

}  // namespace
}  // namespace media
}  // namespace stylizer
