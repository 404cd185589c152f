#include "server/media/hdr_to_sdr.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "server/media/gamut.h"
#include "server/media/vector_clones.h"

extern "C" {
#include <libavutil/mastering_display_metadata.h>
#include <libavutil/pixdesc.h>
}

namespace stylizer {
namespace media {
namespace {

// The input LUT's steps: the top 12 bits of each 16-bit code. PQ was made
// for 12-bit coding without visible steps, and sources are 10-bit; 16 KB
// stay in the L1 cache where 64K entries would not.
constexpr int kCodeBits = 12;
constexpr int kCodes = 1 << kCodeBits;
// The output LUT's steps over the square root of light 0..1: fine where
// the inverse EOTF is steep (near black), under 0.3 of a level everywhere.
constexpr int kOetfSteps = 4096;
// Mobius keeps light up to this (in 100 cd/m2) as it is: FFmpeg's default.
constexpr float kMobiusKnee = 0.3f;
constexpr double kDefaultPeakNits = 1000;

// SMPTE ST 2084 (PQ): code in 0..1 -> light in units of 100 cd/m2.
double PqToLinear(double code) {
  constexpr double m1 = 2610.0 / 16384, m2 = 2523.0 / 4096 * 128;
  constexpr double c1 = 3424.0 / 4096, c2 = 2413.0 / 4096 * 32,
                   c3 = 2392.0 / 4096 * 32;
  const double p = std::pow(code, 1 / m2);
  return 100 * std::pow(std::max(p - c1, 0.0) / (c2 - c3 * p), 1 / m1);
}

// ARIB STD-B67 (HLG): code in 0..1 -> light in units of 100 cd/m2 on
// BT.2100's reference display (1000 cd/m2 peak, system gamma 1.2): the
// inverse OETF, then the OOTF per component, as zimg (FFmpeg's zscale)
// applies it. BT.2100 weights the OOTF by the pixel's luminance instead;
// the two differ in the saturation of bright colours only.
double HlgToLinear(double code) {
  constexpr double a = 0.17883277, b = 0.28466892, c = 0.55991073;
  const double scene =
      code <= 0.5 ? code * code / 3 : (std::exp((code - c) / a) + b) / 12;
  return 10 * std::pow(scene, 1.2);
}

// SDR display light 0..1 -> BT.709 signal 0..1, through the inverse of the
// display's response, BT.1886 (gamma 2.4, black at 0): the light computed
// is display light, so a BT.1886 display shows that light (as zimg does).
double Bt1886InverseEotf(double light) { return std::pow(light, 1 / 2.4); }

// The source's peak light in cd/m2 from HDR10 metadata (side data of a
// stream or of a frame): the content light level (MaxCLL), else the
// mastering display's peak, else 0.
double PeakNits(const uint8_t* cll_data, size_t cll_size,
                const uint8_t* mastering_data, size_t mastering_size) {
  if (cll_data != nullptr && cll_size >= sizeof(AVContentLightMetadata)) {
    const auto* cll = reinterpret_cast<const AVContentLightMetadata*>(cll_data);
    if (cll->MaxCLL > 0) return cll->MaxCLL;
  }
  if (mastering_data != nullptr &&
      mastering_size >= sizeof(AVMasteringDisplayMetadata)) {
    const auto* mastering =
        reinterpret_cast<const AVMasteringDisplayMetadata*>(mastering_data);
    if (mastering->has_luminance && mastering->max_luminance.den > 0) {
      const double peak = av_q2d(mastering->max_luminance);
      if (std::isfinite(peak) && peak > 0) return peak;
    }
  }
  return 0;
}

double StreamPeakNits(const AVStream& stream) {
  size_t cll_size = 0, mastering_size = 0;
  const uint8_t* cll = av_stream_get_side_data(
      &stream, AV_PKT_DATA_CONTENT_LIGHT_LEVEL, &cll_size);
  const uint8_t* mastering = av_stream_get_side_data(
      &stream, AV_PKT_DATA_MASTERING_DISPLAY_METADATA, &mastering_size);
  return PeakNits(cll, cll_size, mastering, mastering_size);
}

}  // namespace

bool HdrToSdr::IsHdr(AVColorTransferCharacteristic transfer) {
  return transfer == AVCOL_TRC_SMPTE2084 || transfer == AVCOL_TRC_ARIB_STD_B67;
}

std::unique_ptr<HdrToSdr> HdrToSdr::ForStream(const AVStream& stream) {
  const AVCodecParameters& par = *stream.codecpar;
  if (par.color_trc == AVCOL_TRC_SMPTE2084) {
    const double peak = StreamPeakNits(stream);
    auto made = std::make_unique<HdrToSdr>(Transfer::kPq, par.color_primaries,
                                           peak > 0 ? peak : kDefaultPeakNits);
    made->peak_from_metadata_ = peak > 0;
    return made;
  }
  if (par.color_trc == AVCOL_TRC_ARIB_STD_B67) {
    return std::make_unique<HdrToSdr>(Transfer::kHlg, par.color_primaries,
                                      kDefaultPeakNits);
  }
  return nullptr;
}

HdrToSdr::HdrToSdr(Transfer transfer, AVColorPrimaries primaries,
                   double peak_nits)
    : transfer_(transfer),
      primaries_(primaries),
      // Below SDR white there is nothing to map; above PQ's range nothing
      // can be.
      peak_nits_(std::clamp(peak_nits, 100.0, 10000.0)),
      peak_(peak_nits_ / 100) {
  // FFmpeg's mobius(): a curve through (knee, knee) with slope 1 there and
  // peak -> 1.
  const double j = kMobiusKnee;
  const double a = -j * j * (peak_ - 1) / (j * j - 2 * j + peak_);
  const double b = (j * j - 2 * j * peak_ + peak_) / std::max(peak_ - 1, 1e-6);
  mobius_a_ = static_cast<float>(a);
  mobius_b_ = static_cast<float>(b);
  mobius_scale_ = static_cast<float>((b * b + 2 * b * j + j * j) / (b - a));

  to_linear_.resize(kCodes);
  for (int code = 0; code < kCodes; ++code) {
    const double v = static_cast<double>(code) / (kCodes - 1);
    to_linear_[code] = static_cast<float>(
        transfer == Transfer::kPq ? PqToLinear(v) : HlgToLinear(v));
  }
  oetf_.resize(kOetfSteps + 1);
  for (int i = 0; i <= kOetfSteps; ++i) {
    const double root = static_cast<double>(i) / kOetfSteps;
    oetf_[i] =
        static_cast<uint8_t>(std::lround(255 * Bt1886InverseEotf(root * root)));
  }
  // The stream's primaries (BT.2020 when it leaves them unsaid) to BT.709,
  // in linear light. Every primaries but BT.709's were taken as BT.2020's:
  // Display P3 came out over-saturated, its magenta turned towards blue.
  const std::array<double, 9> to_bt709 = GamutToBt709(primaries);
  for (int i = 0; i < 9; ++i) to_bt709_[i] = static_cast<float>(to_bt709[i]);
}

std::unique_ptr<HdrToSdr> HdrToSdr::WithPeakOf(const AVFrame& frame) const {
  if (transfer_ != Transfer::kPq || peak_from_metadata_) return nullptr;
  const AVFrameSideData* cll =
      av_frame_get_side_data(&frame, AV_FRAME_DATA_CONTENT_LIGHT_LEVEL);
  const AVFrameSideData* mastering =
      av_frame_get_side_data(&frame, AV_FRAME_DATA_MASTERING_DISPLAY_METADATA);
  const double peak = PeakNits(cll != nullptr ? cll->data : nullptr,
                               cll != nullptr ? cll->size : 0,
                               mastering != nullptr ? mastering->data : nullptr,
                               mastering != nullptr ? mastering->size : 0);
  if (peak <= 0) return nullptr;
  auto made = std::make_unique<HdrToSdr>(transfer_, primaries_, peak);
  made->peak_from_metadata_ = true;
  return made;
}

std::string HdrToSdr::transfer_name() const {
  return av_color_transfer_name(transfer_ == Transfer::kPq
                                    ? AVCOL_TRC_SMPTE2084
                                    : AVCOL_TRC_ARIB_STD_B67);
}

namespace {

// The pixels of one pass, so that its arrays stay in the L1 cache.
constexpr size_t kChunk = 256;

// BT.2020 light to BT.709's, tone-mapped, as LUT positions (the square root
// of SDR light in kOetfSteps). Branch-free, so that it vectorises.
STYLIZER_VECTOR_CLONES
void ToneMapChunk(const float* __restrict r, const float* __restrict g,
                  const float* __restrict b, size_t n,
                  const std::array<float, 9>& matrix, float mobius_a,
                  float mobius_b, float mobius_scale,
                  int32_t* __restrict steps) {
  const std::array<float, 9> m = matrix;
  for (size_t i = 0; i < n; ++i) {
    const float r709 = m[0] * r[i] + m[1] * g[i] + m[2] * b[i];
    const float g709 = m[3] * r[i] + m[4] * g[i] + m[5] * b[i];
    const float b709 = m[6] * r[i] + m[7] * g[i] + m[8] * b[i];
    // The brightest component sets one scale for all three, so hues stay.
    const float sig = std::max(std::max(r709, g709), std::max(b709, 1e-6f));
    // Mobius above the knee, unchanged below it.
    const float curve =
        mobius_scale * (sig + mobius_a) / ((sig + mobius_b) * sig);
    const float k = sig <= kMobiusKnee ? 1.f : curve;
    const float out[3] = {r709 * k, g709 * k, b709 * k};
    for (int c = 0; c < 3; ++c) {
      const float light = std::min(std::max(out[c], 0.f), 1.f);
      steps[3 * i + c] =
          static_cast<int32_t>(std::sqrt(light) * kOetfSteps + 0.5f);
    }
  }
}

}  // namespace

void HdrToSdr::Convert(const uint16_t* r_codes, const uint16_t* g_codes,
                       const uint16_t* b_codes, size_t pixels,
                       uint8_t* rgb24) const {
  const float* __restrict lin = to_linear_.data();
  const uint8_t* __restrict oetf = oetf_.data();
  float r[kChunk], g[kChunk], b[kChunk];
  int32_t steps[3 * kChunk];
  for (size_t start = 0; start < pixels; start += kChunk) {
    const size_t n = std::min(kChunk, pixels - start);
    for (size_t i = 0; i < n; ++i) {
      r[i] = lin[r_codes[start + i] >> (16 - kCodeBits)];
      g[i] = lin[g_codes[start + i] >> (16 - kCodeBits)];
      b[i] = lin[b_codes[start + i] >> (16 - kCodeBits)];
    }
    ToneMapChunk(r, g, b, n, to_bt709_, mobius_a_, mobius_b_, mobius_scale_,
                 steps);
    uint8_t* out = rgb24 + 3 * start;
    for (size_t i = 0; i < 3 * n; ++i) out[i] = oetf[steps[i]];
  }
}

void HdrToSdr::ConvertGbrp16(const AVFrame& gbrp16, uint8_t* rgb24) const {
  for (int y = 0; y < gbrp16.height; ++y) {
    // GBRP's planes are green, blue, red.
    auto row = [&](int plane) {
      return reinterpret_cast<const uint16_t*>(gbrp16.data[plane] +
                                               y * gbrp16.linesize[plane]);
    };
    Convert(row(2), row(0), row(1), gbrp16.width,
            rgb24 + 3 * static_cast<size_t>(y) * gbrp16.width);
  }
}

}  // namespace media
}  // namespace stylizer
