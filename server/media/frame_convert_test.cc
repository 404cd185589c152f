// Tests of the output-size rule and the RGB/YUV conversions.
#include "server/media/frame_convert.h"

#include <cstdlib>
#include <cstring>
#include <random>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/media/hdr_to_sdr.h"
#include "server/media/testing/test_movies.h"

extern "C" {
#include <libavformat/avformat.h>
#include <libavutil/mastering_display_metadata.h>
#include <libavutil/pixdesc.h>
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

// An HDR10 stream whose container has no peak (MPEG-TS, raw HEVC): the
// converter takes the one the first frame carries (SEI side data). A grey of
// 1000 cd/m2 is white with the default peak of 1000 and below white with the
// frame's 2000 (Mobius keeps most of the range: 3 codes apart).
TEST(RgbConverterTest, TakesTheHdrPeakOfTheFirstFrame) {
  media::testing::BareStream bare;
  AVStream* stream = bare.stream();
  ASSERT_NE(stream, nullptr);
  stream->codecpar->color_trc = AVCOL_TRC_SMPTE2084;
  stream->codecpar->color_primaries = AVCOL_PRI_BT2020;
  auto grey = [](bool with_peak) {
    AvFramePtr frame = MakeFrame();
    frame->format = AV_PIX_FMT_YUV420P10;
    frame->width = 16;
    frame->height = 8;
    frame->colorspace = AVCOL_SPC_BT2020_NCL;
    frame->color_trc = AVCOL_TRC_SMPTE2084;
    EXPECT_GE(av_frame_get_buffer(frame.get(), 0), 0);
    // PQ 1000 cd/m2 is 0.7518 of the signal: 10-bit limited-range luma 723.
    for (int p = 0; p < 3; ++p) {
      for (int y = 0; y < (p == 0 ? 8 : 4); ++y) {
        auto* row = reinterpret_cast<uint16_t*>(frame->data[p] +
                                                y * frame->linesize[p]);
        for (int x = 0; x < (p == 0 ? 16 : 8); ++x) row[x] = p == 0 ? 723 : 512;
      }
    }
    if (with_peak) {
      AVMasteringDisplayMetadata* m =
          av_mastering_display_metadata_create_side_data(frame.get());
      m->has_luminance = 1;
      m->max_luminance = av_make_q(2000, 1);
      m->min_luminance = av_make_q(1, 10000);
    }
    return frame;
  };
  for (const bool with_peak : {false, true}) {
    RgbConverter converter(16, 8, HdrToSdr::ForStream(*stream));
    RgbFrame rgb;
    ASSERT_TRUE(converter.Convert(*grey(with_peak), &rgb).ok());
    // With 2000: Mobius(10) for a peak of 20 is 0.975 of white, code 252.
    EXPECT_NEAR(rgb.pixels[0], with_peak ? 252 : 255, 1);
    EXPECT_EQ(rgb.pixels[0], rgb.pixels[1]);
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

// A grey frame of no stated range is full range, as swscale and ffmpeg read
// it: FFmpeg's JPEG decoder gives a one-component JPEG (always full range) as
// `gray` with no range, and read as limited, levels under 16 became black and
// over 235 white. A grey frame tagged limited is read as limited.
TEST(RgbConverterTest, ReadsGreyOfNoStatedRangeAsFullRange) {
  for (const AVColorRange range :
       {AVCOL_RANGE_UNSPECIFIED, AVCOL_RANGE_JPEG, AVCOL_RANGE_MPEG}) {
    AvFramePtr frame = MakeFrame();
    frame->format = AV_PIX_FMT_GRAY8;
    frame->width = 16;
    frame->height = 8;
    frame->color_range = range;
    ASSERT_GE(av_frame_get_buffer(frame.get(), 0), 0);
    for (int y = 0; y < 8; ++y) {
      for (int x = 0; x < 16; ++x) {
        frame->data[0][y * frame->linesize[0] + x] = x < 8 ? 8 : 240;
      }
    }
    RgbConverter converter(16, 8);
    RgbFrame rgb;
    ASSERT_TRUE(converter.Convert(*frame, &rgb).ok());
    const bool limited = range == AVCOL_RANGE_MPEG;
    SCOPED_TRACE(av_color_range_name(range));
    EXPECT_NEAR(rgb.pixels[3 * (8 * 4 + 1)], limited ? 0 : 8, 1);
    EXPECT_NEAR(rgb.pixels[3 * (8 * 4 + 14)], limited ? 255 : 240, 1);
  }
}

// An RGBA frame `width` x `height`: the left half transparent with blue kept
// under it (alpha `hidden_alpha`), the right half opaque red but for its last
// column, green at alpha 128.
AvFramePtr TransparentFrame(int width, int height, uint8_t hidden_alpha) {
  AvFramePtr frame = MakeFrame();
  frame->format = AV_PIX_FMT_RGBA;
  frame->width = width;
  frame->height = height;
  EXPECT_GE(av_frame_get_buffer(frame.get(), 0), 0);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* p = frame->data[0] + y * frame->linesize[0] + 4 * x;
      const uint8_t rgba[3][4] = {
          {0, 0, 255, hidden_alpha}, {255, 0, 0, 255}, {0, 255, 0, 128}};
      memcpy(p, rgba[x < width / 2 ? 0 : x < width - 1 ? 1 : 2], 4);
    }
  }
  return frame;
}

// A movie's frames with transparency (ProRes 4444, QuickTime Animation, PNG
// or APNG) are composited over white, as StylizeImage composites a PNG: the
// colour kept under transparent pixels showed, and half-transparent pixels
// came out opaque.
TEST(RgbConverterTest, CompositesTransparentFramesOverWhite) {
  RgbConverter converter(16, 8);
  RgbFrame rgb;
  ASSERT_TRUE(converter.Convert(*TransparentFrame(16, 8, 0), &rgb).ok());
  // (swscale's RGB to RGB is within a level of exact.)
  auto expect_pixel = [&](int x, std::vector<int> expected) {
    const uint8_t* p = &rgb.pixels[3 * (3 * 16 + x)];
    for (int c = 0; c < 3; ++c) EXPECT_NEAR(p[c], expected[c], 1) << "x " << x;
  };
  expect_pixel(2, {255, 255, 255});
  expect_pixel(10, {255, 0, 0});
  expect_pixel(15, {127, 255, 127});
}

// Composited at the input's size, then scaled: the blue under the
// transparent half does not bleed into the red beside it (white and red
// have equal blue and green).
TEST(RgbConverterTest, CompositesBeforeScaling) {
  RgbConverter converter(16, 8);
  RgbFrame rgb;
  ASSERT_TRUE(converter.Convert(*TransparentFrame(64, 32, 0), &rgb).ok());
  for (int x = 0; x < 15; ++x) {
    const uint8_t* p = &rgb.pixels[3 * (4 * 16 + x)];
    EXPECT_NEAR(p[2], p[1], 1) << "x " << x;
  }
}

// RGB frames keep their colours when scaled, with or without alpha, whatever
// the size: the YUV matrix of an HD frame (BT.709) was given to swscale for
// RGB input too, and an RGB 255,0,30 came out 255,26,28.
TEST(RgbConverterTest, RgbFramesKeepTheirColoursWhenScaled) {
  for (const AVPixelFormat format : {AV_PIX_FMT_RGB24, AV_PIX_FMT_RGBA}) {
    AvFramePtr frame = MakeFrame();
    frame->format = format;
    frame->width = 1280;
    frame->height = 720;
    ASSERT_GE(av_frame_get_buffer(frame.get(), 0), 0);
    const int bytes = format == AV_PIX_FMT_RGBA ? 4 : 3;
    for (int y = 0; y < 720; ++y) {
      for (int x = 0; x < 1280; ++x) {
        uint8_t* p = frame->data[0] + y * frame->linesize[0] + bytes * x;
        p[0] = 255;
        p[1] = 0;
        p[2] = 30;
        if (bytes == 4) p[3] = 255;
      }
    }
    RgbConverter converter(640, 360);
    RgbFrame rgb;
    ASSERT_TRUE(converter.Convert(*frame, &rgb).ok());
    const uint8_t* p = &rgb.pixels[3 * (180 * 640 + 320)];
    SCOPED_TRACE(av_get_pix_fmt_name(format));
    EXPECT_NEAR(p[0], 255, 1);
    EXPECT_NEAR(p[1], 0, 1);
    EXPECT_NEAR(p[2], 30, 1);
  }
}

// An interlaced frame is read as its first field: a frame whose top field
// is white and bottom field black (a white object gone in a field's time)
// came out combed, white and black rows, which the model then painted.
TEST(RgbConverterTest, ReadsAnInterlacedFrameAsItsFirstField) {
  for (const int height : {64, 63, 66}) {
    AvFramePtr frame = GrayYuvFrame(64, height, 235);
    for (int y = 1; y < height; y += 2) {
      memset(frame->data[0] + y * frame->linesize[0], 16, 64);
    }
    // Each row's mean, across the output's pixels.
    auto row_means = [](const RgbFrame& rgb) {
      std::vector<double> means;
      for (int y = 0; y < rgb.height; ++y) {
        double sum = 0;
        for (int i = 0; i < rgb.width * 3; ++i) {
          sum += rgb.pixels[static_cast<size_t>(y) * rgb.width * 3 + i];
        }
        means.push_back(sum / (rgb.width * 3));
      }
      return means;
    };
    RgbConverter converter(64, 64);
    RgbFrame rgb;
    frame->interlaced_frame = 1;
    for (const bool top_first : {true, false}) {
      SCOPED_TRACE(absl::StrCat(height, " rows, top field first ", top_first));
      frame->top_field_first = top_first ? 1 : 0;
      ASSERT_TRUE(converter.Convert(*frame, &rgb).ok());
      ASSERT_EQ(rgb.height, 64);
      for (double mean : row_means(rgb))
        EXPECT_NEAR(mean, top_first ? 255 : 0, 2);
    }
    // A progressive frame is read as it is, and so is an interlaced one
    // that holds one field (FFmpeg's HEVC decoder's): at the output's
    // height, rows alternate.
    if (height != 64) continue;
    for (const bool one_field : {false, true}) {
      frame->interlaced_frame = one_field ? 1 : 0;
      RgbConverter whole(64, 64);
      whole.set_read_fields(!one_field);
      ASSERT_TRUE(whole.Convert(*frame, &rgb).ok());
      const std::vector<double> means = row_means(rgb);
      EXPECT_NEAR(means[0], 255, 2);
      EXPECT_NEAR(means[1], 0, 2);
    }
  }
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

TEST(YuvConverterTest, RoundTripsGrayAtTheSmallestSizes) {
  for (auto [w, h] : {std::pair{2, 2}, {2, 32}, {32, 2}, {6, 2}, {2, 6}}) {
    RgbFrame rgb;
    rgb.width = w;
    rgb.height = h;
    rgb.pixels.assign(static_cast<size_t>(w) * h * 3, 180);
    YuvConverter yuv(w, h, AVCOL_SPC_BT709);
    auto frame = yuv.Convert(rgb);
    ASSERT_TRUE(frame.ok()) << w << "x" << h << ": " << frame.status();
    RgbConverter back(w, h);
    RgbFrame again;
    ASSERT_TRUE(back.Convert(**frame, &again).ok());
    for (uint8_t p : again.pixels) EXPECT_NEAR(p, 180, 3) << w << "x" << h;
  }
}

// One-pixel stripes of red and blue, across or down: each chroma sample
// covers two columns and two rows, so it must be their mean, not one stripe's
// colour nor a ringing mix. At the edges the filter repeats the last pixel,
// which leans the two outer samples towards the outer stripe.
TEST(YuvConverterTest, ChromaOfOnePixelStripesIsTheirMean) {
  constexpr int kW = 64, kH = 16;
  for (bool columns : {true, false}) {
    RgbFrame rgb;
    rgb.width = kW;
    rgb.height = kH;
    rgb.pixels.resize(kW * kH * 3);
    for (int y = 0; y < kH; ++y) {
      for (int x = 0; x < kW; ++x) {
        const bool red = (columns ? x : y) % 2 == 0;
        uint8_t* p = &rgb.pixels[3 * (y * kW + x)];
        p[0] = red ? 200 : 20;
        p[1] = 20;
        p[2] = red ? 20 : 200;
      }
    }
    RgbFrame mean = rgb;
    for (int i = 0; i < kW * kH; ++i) {
      mean.pixels[3 * i] = mean.pixels[3 * i + 2] = 110;
    }
    YuvConverter yuv(kW, kH, AVCOL_SPC_BT709);
    auto striped = yuv.Convert(rgb);
    ASSERT_TRUE(striped.ok()) << striped.status();
    YuvConverter yuv_mean(kW, kH, AVCOL_SPC_BT709);
    auto flat = yuv_mean.Convert(mean);
    ASSERT_TRUE(flat.ok()) << flat.status();
    for (int plane = 1; plane < 3; ++plane) {
      for (int y = 0; y < kH / 2; ++y) {
        for (int x = 0; x < kW / 2; ++x) {
          const AVFrame& a = **striped;
          const AVFrame& b = **flat;
          const int i = columns ? x : y, n = (columns ? kW : kH) / 2;
          const bool edge = i < 2 || i >= n - 2;  // the filter spans 8 pixels
          EXPECT_NEAR(a.data[plane][y * a.linesize[plane] + x],
                      b.data[plane][y * b.linesize[plane] + x], edge ? 16 : 1)
              << (columns ? "columns" : "rows") << ", plane " << plane << " at "
              << x << "," << y;
        }
      }
    }
  }
}

RgbFrame FlatRgb(int width, int height, uint8_t value) {
  RgbFrame rgb;
  rgb.width = width;
  rgb.height = height;
  rgb.pixels.assign(static_cast<size_t>(width) * height * 3, value);
  return rgb;
}

TEST(YuvConverterTest, NeverWritesOverAFrameSomeoneStillHolds) {
  YuvConverter yuv(16, 8, AVCOL_SPC_BT709);
  auto dark = yuv.Convert(FlatRgb(16, 8, 30));
  ASSERT_TRUE(dark.ok()) << dark.status();
  const uint8_t dark_luma = (*dark)->data[0][0];
  auto light = yuv.Convert(FlatRgb(16, 8, 220));
  ASSERT_TRUE(light.ok()) << light.status();
  EXPECT_NE((*light)->data[0], (*dark)->data[0]);
  EXPECT_GT((*light)->data[0][0], dark_luma + 100);
  for (int y = 0; y < 8; ++y) {
    for (int x = 0; x < 16; ++x) {
      EXPECT_EQ((*dark)->data[0][y * (*dark)->linesize[0] + x], dark_luma);
    }
  }
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
