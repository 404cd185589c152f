// HdrToSdr on single colours whose answers follow from the standards' own
// formulas (SMPTE ST 2084, ARIB STD-B67, BT.1886); the whole chain against
// FFmpeg's zscale and tonemap is in video_pipeline_picture_test.
#include "server/media/hdr_to_sdr.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "gtest/gtest.h"
#include "server/media/testing/test_movies.h"

extern "C" {
#include <libavutil/mastering_display_metadata.h>
}

namespace stylizer {
namespace media {
namespace {

// The 16-bit PQ code of `nits` cd/m2.
uint16_t PqCode(double nits) {
  constexpr double m1 = 2610.0 / 16384, m2 = 2523.0 / 4096 * 128;
  constexpr double c1 = 3424.0 / 4096, c2 = 2413.0 / 4096 * 32,
                   c3 = 2392.0 / 4096 * 32;
  const double y = std::pow(nits / 10000, m1);
  return static_cast<uint16_t>(
      std::lround(65535 * std::pow((c1 + c2 * y) / (1 + c3 * y), m2)));
}

// Converts one pixel.
std::vector<int> Pixel(const HdrToSdr& tone_map, uint16_t r, uint16_t g,
                       uint16_t b) {
  uint8_t out[3];
  tone_map.Convert(&r, &g, &b, 1, out);
  return {out[0], out[1], out[2]};
}

// BT.1886's inverse for SDR light 0..1, in 8-bit codes.
int Sdr(double light) {
  return static_cast<int>(std::lround(255 * std::pow(light, 1 / 2.4)));
}

TEST(HdrToSdrTest, PqGreysKeepDimLightAndMapThePeakToWhite) {
  HdrToSdr pq(HdrToSdr::Transfer::kPq, AVCOL_PRI_BT2020, 1000);
  EXPECT_EQ(Pixel(pq, 0, 0, 0), (std::vector<int>{0, 0, 0}));
  // Light up to 30 cd/m2 is untouched: 20 cd/m2 is 0.2 of SDR white.
  const uint16_t dim = PqCode(20);
  EXPECT_NEAR(Pixel(pq, dim, dim, dim)[0], Sdr(0.2), 1);
  // The peak is white; above it, clipped.
  const uint16_t peak = PqCode(1000);
  EXPECT_EQ(Pixel(pq, peak, peak, peak), (std::vector<int>{255, 255, 255}));
  const uint16_t brighter = PqCode(4000);
  EXPECT_EQ(Pixel(pq, brighter, brighter, brighter)[1], 255);
  // A grey ramp stays grey and rises.
  int last = -1;
  for (double nits = 1; nits <= 1000; nits *= 1.5) {
    const uint16_t c = PqCode(nits);
    const std::vector<int> p = Pixel(pq, c, c, c);
    EXPECT_EQ(p[0], p[1]) << nits;
    EXPECT_EQ(p[1], p[2]) << nits;
    EXPECT_GE(p[0], last) << nits;
    last = p[0];
  }
  // 100 cd/m2 (SDR's white) is compressed into the knee, not clipped.
  const uint16_t sdr_white = PqCode(100);
  const int mid = Pixel(pq, sdr_white, sdr_white, sdr_white)[0];
  EXPECT_GT(mid, Sdr(0.3));
  EXPECT_LT(mid, 250);
}

TEST(HdrToSdrTest, ABrighterPeakLeavesMoreRoom) {
  HdrToSdr nominal(HdrToSdr::Transfer::kPq, AVCOL_PRI_BT2020, 1000);
  HdrToSdr bright(HdrToSdr::Transfer::kPq, AVCOL_PRI_BT2020, 4000);
  const uint16_t c = PqCode(1000);
  EXPECT_EQ(Pixel(nominal, c, c, c)[0], 255);
  // FFmpeg's mobius(10, j = 0.3, peak 40), by hand: 0.9638 of SDR white.
  EXPECT_NEAR(Pixel(bright, c, c, c)[0], Sdr(0.9638), 1);
  EXPECT_LT(Pixel(bright, c, c, c)[0], 255);
  const uint16_t top = PqCode(4000);
  EXPECT_EQ(Pixel(bright, top, top, top)[0], 255);
}

TEST(HdrToSdrTest, HlgWhiteIsWhiteAndItsGreysRise) {
  HdrToSdr hlg(HdrToSdr::Transfer::kHlg, AVCOL_PRI_BT2020, 1000);
  EXPECT_EQ(Pixel(hlg, 0, 0, 0), (std::vector<int>{0, 0, 0}));
  EXPECT_EQ(Pixel(hlg, 65535, 65535, 65535), (std::vector<int>{255, 255, 255}));
  // A dark HLG grey: signal 0.2 is scene light 0.04 / 3, display light
  // 10 x (0.04 / 3)^1.2 (under the knee: kept).
  const uint16_t dark = static_cast<uint16_t>(std::lround(0.2 * 65535));
  EXPECT_NEAR(Pixel(hlg, dark, dark, dark)[0],
              Sdr(10 * std::pow(0.04 / 3, 1.2)), 1);
  int last = -1;
  for (int code = 0; code <= 65535; code += 4096) {
    const std::vector<int> p = Pixel(hlg, code, code, code);
    EXPECT_EQ(p[0], p[2]) << code;
    EXPECT_GE(p[0], last) << code;
    last = p[0];
  }
}

TEST(HdrToSdrTest, Bt2020PrimariesBecomeBt709s) {
  // BT.2020's pure green lies outside BT.709: red and blue go negative and
  // are clipped, green stays the brightest. Tagged BT.709 primaries are
  // left alone.
  const uint16_t c = PqCode(20);
  HdrToSdr wide(HdrToSdr::Transfer::kPq, AVCOL_PRI_BT2020, 1000);
  const std::vector<int> green = Pixel(wide, 0, c, 0);
  EXPECT_EQ(green[0], 0);
  EXPECT_EQ(green[2], 0);
  EXPECT_GT(green[1], Sdr(0.2));  // 1.13 x the light, in BT.709's green
  HdrToSdr narrow(HdrToSdr::Transfer::kPq, AVCOL_PRI_BT709, 1000);
  EXPECT_EQ(Pixel(narrow, 0, c, 0), (std::vector<int>{0, Sdr(0.2), 0}));
}

// Display P3 primaries (SMPTE 432), as HDR masters can be tagged, are
// converted from P3: its pure red is 1.2249 x the light in BT.709's red. They
// were taken as BT.2020's (1.6605 x), over-saturated.
TEST(HdrToSdrTest, DisplayP3PrimariesBecomeBt709s) {
  const uint16_t c = PqCode(20);
  HdrToSdr p3(HdrToSdr::Transfer::kPq, AVCOL_PRI_SMPTE432, 1000);
  const std::vector<int> red = Pixel(p3, c, 0, 0);
  EXPECT_NEAR(red[0], Sdr(0.2 * 1.2249), 1);
  EXPECT_EQ(red[1], 0);
  EXPECT_EQ(red[2], 0);
}

TEST(HdrToSdrTest, ForStreamReadsTheTransferAndThePeak) {
  media::testing::BareStream bare;
  AVStream* stream = bare.stream();
  ASSERT_NE(stream, nullptr);
  stream->codecpar->color_trc = AVCOL_TRC_BT709;
  EXPECT_EQ(HdrToSdr::ForStream(*stream), nullptr);
  EXPECT_FALSE(HdrToSdr::IsHdr(AVCOL_TRC_BT709));
  stream->codecpar->color_trc = AVCOL_TRC_ARIB_STD_B67;
  auto hlg = HdrToSdr::ForStream(*stream);
  ASSERT_NE(hlg, nullptr);
  EXPECT_EQ(hlg->transfer_name(), "arib-std-b67");
  EXPECT_EQ(hlg->peak_nits(), 1000);

  stream->codecpar->color_trc = AVCOL_TRC_SMPTE2084;
  auto plain = HdrToSdr::ForStream(*stream);
  ASSERT_NE(plain, nullptr);
  EXPECT_EQ(plain->transfer_name(), "smpte2084");
  EXPECT_EQ(plain->peak_nits(), 1000);  // no metadata: FFmpeg's default
  // The mastering display's peak, then the content's own (MaxCLL) first.
  auto* mastering = reinterpret_cast<AVMasteringDisplayMetadata*>(
      av_stream_new_side_data(stream, AV_PKT_DATA_MASTERING_DISPLAY_METADATA,
                              sizeof(AVMasteringDisplayMetadata)));
  ASSERT_NE(mastering, nullptr);
  std::memset(mastering, 0, sizeof(*mastering));
  mastering->has_luminance = 1;
  mastering->max_luminance = av_make_q(4000, 1);
  mastering->min_luminance = av_make_q(1, 10000);
  EXPECT_EQ(HdrToSdr::ForStream(*stream)->peak_nits(), 4000);
  auto* cll = reinterpret_cast<AVContentLightMetadata*>(av_stream_new_side_data(
      stream, AV_PKT_DATA_CONTENT_LIGHT_LEVEL, sizeof(AVContentLightMetadata)));
  ASSERT_NE(cll, nullptr);
  cll->MaxCLL = 1500;
  cll->MaxFALL = 400;
  EXPECT_EQ(HdrToSdr::ForStream(*stream)->peak_nits(), 1500);
  // Nonsense metadata is bounded: under SDR white, over PQ's range.
  cll->MaxCLL = 20;
  EXPECT_EQ(HdrToSdr::ForStream(*stream)->peak_nits(), 100);
  cll->MaxCLL = 60000;
  EXPECT_EQ(HdrToSdr::ForStream(*stream)->peak_nits(), 10000);
}

// HEVC carries HDR10 metadata in SEI, which FFmpeg gives the frames; an
// MPEG-TS or raw stream has none in its container. The first frame's peak
// then replaces the default, once; a container's peak is never replaced.
TEST(HdrToSdrTest, WithPeakOfTakesAFramesPeakWhereTheStreamHadNone) {
  media::testing::BareStream bare;
  AVStream* stream = bare.stream();
  ASSERT_NE(stream, nullptr);
  stream->codecpar->color_trc = AVCOL_TRC_SMPTE2084;
  auto plain = HdrToSdr::ForStream(*stream);
  ASSERT_NE(plain, nullptr);

  AVFrame* frame = av_frame_alloc();
  ASSERT_NE(frame, nullptr);
  EXPECT_EQ(plain->WithPeakOf(*frame), nullptr);  // no side data
  AVMasteringDisplayMetadata* mastering =
      av_mastering_display_metadata_create_side_data(frame);
  ASSERT_NE(mastering, nullptr);
  mastering->has_luminance = 1;
  mastering->max_luminance = av_make_q(2000, 1);
  mastering->min_luminance = av_make_q(1, 10000);
  auto from_frame = plain->WithPeakOf(*frame);
  ASSERT_NE(from_frame, nullptr);
  EXPECT_EQ(from_frame->peak_nits(), 2000);
  EXPECT_EQ(from_frame->transfer_name(), "smpte2084");
  EXPECT_EQ(from_frame->WithPeakOf(*frame), nullptr);  // once
  // The brighter peak leaves room: 1000 cd/m2 is no longer white.
  const uint16_t c = PqCode(1000);
  EXPECT_EQ(Pixel(*plain, c, c, c)[0], 255);
  EXPECT_LT(Pixel(*from_frame, c, c, c)[0], 255);

  // A container's peak stands; HLG has a fixed peak.
  auto* cll = reinterpret_cast<AVContentLightMetadata*>(av_stream_new_side_data(
      stream, AV_PKT_DATA_CONTENT_LIGHT_LEVEL, sizeof(AVContentLightMetadata)));
  ASSERT_NE(cll, nullptr);
  cll->MaxCLL = 600;
  cll->MaxFALL = 200;
  EXPECT_EQ(HdrToSdr::ForStream(*stream)->WithPeakOf(*frame), nullptr);
  stream->codecpar->color_trc = AVCOL_TRC_ARIB_STD_B67;
  EXPECT_EQ(HdrToSdr::ForStream(*stream)->WithPeakOf(*frame), nullptr);
  av_frame_free(&frame);
}

}  // namespace
}  // namespace media
}  // namespace stylizer
