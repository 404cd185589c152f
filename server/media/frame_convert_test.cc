// Tests of the output-size rule and the RGB/YUV conversions.
#include "server/media/frame_convert.h"

#include <cstdlib>

#include "gtest/gtest.h"

extern "C" {
#include <libavutil/pixfmt.h>
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
