// swscale conversions for the video pipeline (see frame_convert.h).
#include "server/media/frame_convert.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/media/hdr_to_sdr.h"
#include "server/media/pixel_format.h"
#include "server/media/vector_clones.h"

extern "C" {
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
#include <libavutil/pixfmt.h>
}

namespace stylizer {
namespace media {
namespace {

// Three planes' rows of `n` pixels -> one packed RGB24 row.
STYLIZER_VECTOR_CLONES
void InterleaveRgb(const uint8_t* __restrict r, const uint8_t* __restrict g,
                   const uint8_t* __restrict b, int n,
                   uint8_t* __restrict rgb) {
  for (int i = 0; i < n; ++i) {
    rgb[3 * i] = r[i];
    rgb[3 * i + 1] = g[i];
    rgb[3 * i + 2] = b[i];
  }
}

}  // namespace

std::pair<int, int> OutputSize(int width, int height, int max_side) {
  double w = width, h = height;
  int longer = std::max(width, height);
  if (max_side > 0 && longer > max_side) {
    double scale = static_cast<double>(max_side) / longer;
    w = std::round(width * scale);
    h = std::round(height * scale);
  }
  int ow = std::max(2, static_cast<int>(w) & ~1);
  int oh = std::max(2, static_cast<int>(h) & ~1);
  return {ow, oh};
}

RgbConverter::RgbConverter(int out_width, int out_height,
                           std::shared_ptr<const HdrToSdr> hdr_to_sdr)
    : out_width_(out_width),
      out_height_(out_height),
      hdr_to_sdr_(std::move(hdr_to_sdr)) {}

RgbConverter::~RgbConverter() = default;

absl::Status RgbConverter::Convert(const AVFrame& frame, RgbFrame* out) {
  if (frame.width <= 0 || frame.height <= 0) {
    return absl::InvalidArgumentError("a decoded frame has no size");
  }
  AVPixelFormat src_format =
      PlainPixelFormat(static_cast<AVPixelFormat>(frame.format));
  // An interlaced frame (a camcorder's or a broadcast's 1080i) holds two
  // fields taken a field's time apart: read as one picture, whatever moves
  // is combed, and the model paints the combs. Such a frame is read as its
  // first field alone, every other row of each plane, which the bicubic
  // filter scales to the full height: half the vertical detail, no combs.
  // (FFmpeg's deinterlacers are in libavfilter, which the server does not
  // link: see docs/video.md, "HDR input".)
  const uint8_t* src_data[AV_NUM_DATA_POINTERS] = {};
  int src_linesize[AV_NUM_DATA_POINTERS] = {};
  const int planes = av_pix_fmt_count_planes(src_format);
  const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(src_format);
  const bool fields =
      read_fields_ && frame.interlaced_frame && frame.height >= 2 &&
      planes > 0 && desc != nullptr &&
      !(desc->flags & (AV_PIX_FMT_FLAG_PAL | AV_PIX_FMT_FLAG_BITSTREAM |
                       AV_PIX_FMT_FLAG_HWACCEL));
  const int first_row = fields && !frame.top_field_first ? 1 : 0;
  for (int p = 0; p < AV_NUM_DATA_POINTERS; ++p) {
    src_data[p] = frame.data[p];
    src_linesize[p] = frame.linesize[p];
    if (fields && p < planes) {
      src_data[p] += static_cast<ptrdiff_t>(first_row) * frame.linesize[p];
      src_linesize[p] *= 2;
    }
  }
  // Crop (odd sides) when the even-rounded input is the output size.
  int src_w = frame.width;
  int src_h = fields ? (frame.height + 1 - first_row) / 2 : frame.height;
  if (fields && first_row == 1 && desc->log2_chroma_h > 0 && (src_h & 1)) {
    // The bottom field of 4:2:0 rows 4k + 2: its last chroma row would be
    // one past the plane's.
    --src_h;
  }
  if ((src_w & ~1) == out_width_ && (fields || (src_h & ~1) == out_height_)) {
    src_w = out_width_;
    if (!fields) src_h = out_height_;
  }
  // swscale writes planes (GBRP, or GBRP16 for HDR frames) 4 to 7 times
  // faster than packed RGB24 or RGB48, with the same values (for a 1080p
  // frame on one core, bicubic with full chroma interpolation: 3.7 against
  // 17 ms from 8-bit 4:2:0, 4 against 28 ms from 10-bit); the planes are
  // then interleaved, or tone-mapped, row by row.
  const bool tone_map = hdr_to_sdr_ != nullptr;
  if (tone_map && !frame_peak_checked_) {
    // A PQ stream without a peak in its container may carry one in its
    // first frame (HEVC SEI).
    frame_peak_checked_ = true;
    if (auto with_peak = hdr_to_sdr_->WithPeakOf(frame)) {
      hdr_to_sdr_ = std::move(with_peak);
    }
  }
  if (!tone_map && HasAlpha(src_format)) {
    absl::Status flattened = FlattenOverWhite(frame, src_format, src_w, src_h,
                                              src_data, src_linesize);
    if (!flattened.ok()) return flattened;
    src_format = AV_PIX_FMT_GBRP;
  }
  const AVPixelFormat planar = tone_map ? AV_PIX_FMT_GBRP16 : AV_PIX_FMT_GBRP;
  SwsContext* ctx = sws_getCachedContext(
      sws_.release(), src_w, src_h, src_format, out_width_, out_height_, planar,
      SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, nullptr, nullptr,
      nullptr);
  sws_.reset(ctx);
  if (ctx == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot convert frames of pixel format ",
        av_get_pix_fmt_name(src_format) ? av_get_pix_fmt_name(src_format)
                                        : "unknown",
        " to RGB"));
  }
  SetReadingColorspace(ctx, src_format, frame);
  if (planes_ == nullptr) {
    absl::StatusOr<AvFramePtr> planes = MakeVideoFrame(
        planar, out_width_, out_height_, "allocating RGB planes");
    if (!planes.ok()) return planes.status();
    planes_ = *std::move(planes);
  }
  const int rows = sws_scale(ctx, src_data, src_linesize, 0, src_h,
                             planes_->data, planes_->linesize);
  if (rows != out_height_) {
    return absl::InternalError("converting a frame to RGB failed");
  }
  if (!tone_map) {
    PackGbrp(*planes_, out);
    return absl::OkStatus();
  }
  out->width = out_width_;
  out->height = out_height_;
  out->pixels.resize(static_cast<size_t>(out_width_) * out_height_ * 3);
  hdr_to_sdr_->ConvertGbrp16(*planes_, out->pixels.data());
  return absl::OkStatus();
}

absl::Status RgbConverter::FlattenOverWhite(const AVFrame& frame,
                                            AVPixelFormat format, int width,
                                            int height, const uint8_t* data[],
                                            int linesize[]) {
  // Composited before scaling, so that the colour a file keeps under its
  // transparent pixels cannot bleed into the edges of what is opaque.
  SwsContext* ctx = sws_getCachedContext(
      alpha_sws_.release(), width, height, format, width, height,
      AV_PIX_FMT_GBRAP, SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT,
      nullptr, nullptr, nullptr);
  alpha_sws_.reset(ctx);
  if (ctx == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot convert frames of pixel format ",
        av_get_pix_fmt_name(format) ? av_get_pix_fmt_name(format) : "unknown",
        " to RGB"));
  }
  SetReadingColorspace(ctx, format, frame);
  if (alpha_planes_ == nullptr || alpha_planes_->width != width ||
      alpha_planes_->height != height) {
    absl::StatusOr<AvFramePtr> planes = MakeVideoFrame(
        AV_PIX_FMT_GBRAP, width, height, "allocating RGBA planes");
    if (!planes.ok()) return planes.status();
    alpha_planes_ = *std::move(planes);
  }
  AVFrame& rgba = *alpha_planes_;
  if (sws_scale(ctx, data, linesize, 0, height, rgba.data, rgba.linesize) !=
      height) {
    return absl::InternalError("converting a frame to RGB failed");
  }
  for (int y = 0; y < height; ++y) {
    const uint8_t* a =
        rgba.data[3] + static_cast<ptrdiff_t>(y) * rgba.linesize[3];
    for (int p = 0; p < 3; ++p) {
      uint8_t* c = rgba.data[p] + static_cast<ptrdiff_t>(y) * rgba.linesize[p];
      for (int x = 0; x < width; ++x) c[x] = OverWhite(c[x], a[x], 255);
    }
  }
  for (int p = 0; p < AV_NUM_DATA_POINTERS; ++p) {
    data[p] = p < 3 ? rgba.data[p] : nullptr;
    linesize[p] = p < 3 ? rgba.linesize[p] : 0;
  }
  return absl::OkStatus();
}

void PackGbrp(const AVFrame& gbrp, RgbFrame* out) {
  out->width = gbrp.width;
  out->height = gbrp.height;
  out->pixels.resize(static_cast<size_t>(gbrp.width) * gbrp.height * 3);
  for (int y = 0; y < gbrp.height; ++y) {
    // GBRP's planes are green, blue, red.
    auto row = [&](int plane) {
      return gbrp.data[plane] + y * gbrp.linesize[plane];
    };
    InterleaveRgb(row(2), row(0), row(1), gbrp.width,
                  out->pixels.data() + 3 * static_cast<size_t>(y) * gbrp.width);
  }
}

absl::Status CopyToPaddedRgb(const RgbFrame& rgb, AvFramePtr* frame) {
  if (*frame == nullptr || (*frame)->width != rgb.width ||
      (*frame)->height != rgb.height) {
    absl::StatusOr<AvFramePtr> made = MakeVideoFrame(
        AV_PIX_FMT_RGB24, rgb.width, rgb.height, "allocating an RGB frame");
    if (!made.ok()) return made.status();
    // The padding is read too (and discarded): make it defined.
    std::memset((*made)->buf[0]->data, 0, (*made)->buf[0]->size);
    *frame = *std::move(made);
  }
  av_image_copy_plane((*frame)->data[0], (*frame)->linesize[0],
                      rgb.pixels.data(), rgb.width * 3, rgb.width * 3,
                      rgb.height);
  return absl::OkStatus();
}

absl::StatusOr<AvFramePtr> YuvConverter::Convert(const RgbFrame& rgb) {
  if (rgb.width != width_ || rgb.height != height_ ||
      rgb.pixels.size() != static_cast<size_t>(width_) * height_ * 3) {
    return absl::InternalError(
        absl::StrCat("stylized frame is ", rgb.width, "x", rgb.height,
                     ", the encoder expects ", width_, "x", height_));
  }
  if (sws_ == nullptr) {
    // SWS_FULL_CHR_H_INP: chroma is computed for every pixel, then both
    // halvings are the bicubic filter's. swscale's default averages pixel
    // pairs first, in C; this is SIMD throughout and 1.9 times as fast, and
    // its outputs are no larger (docs/performance.md). The luma is the same:
    // the sizes match, so no filter touches it.
    sws_.reset(sws_getContext(
        width_, height_, AV_PIX_FMT_RGB24, width_, height_, AV_PIX_FMT_YUV420P,
        SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INP, nullptr, nullptr,
        nullptr));
    if (sws_ == nullptr) {
      return absl::InternalError("cannot create the RGB to YUV converter");
    }
    sws_setColorspaceDetails(sws_.get(), sws_getCoefficients(SWS_CS_DEFAULT), 1,
                             sws_getCoefficients(SwsColorspace(colorspace_)), 0,
                             0, 1 << 16, 1 << 16);
  }
  // The last frame's buffers are written again once nobody else holds them
  // (the encoder copies a frame in and lets go): a fresh 1080p frame is 3 MB
  // of new pages for the kernel to zero, per output frame.
  if (last_ == nullptr || !av_frame_is_writable(last_.get())) {
    absl::StatusOr<AvFramePtr> made = MakeVideoFrame(
        AV_PIX_FMT_YUV420P, width_, height_, "allocating a YUV frame");
    if (!made.ok()) return made.status();
    last_ = *std::move(made);
  }
  if (absl::Status s = CopyToPaddedRgb(rgb, &padded_); !s.ok()) return s;
  sws_scale(sws_.get(), padded_->data, padded_->linesize, 0, height_,
            last_->data, last_->linesize);
  AvFramePtr frame = MakeFrame();
  const int rc = av_frame_ref(frame.get(), last_.get());
  if (rc < 0) return AvError(rc, "referencing a YUV frame");
  return frame;
}

}  // namespace media
}  // namespace stylizer
