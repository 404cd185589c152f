// Pixel-format helpers shared by the movie decoder and the still-image codec.
// Header-only so that both can use it without linking each other.
#ifndef STYLIZER_SERVER_MEDIA_PIXEL_FORMAT_H_
#define STYLIZER_SERVER_MEDIA_PIXEL_FORMAT_H_

#include <cstdint>

extern "C" {
#include <libavutil/pixdesc.h>
#include <libavutil/pixfmt.h>
}

namespace stylizer {

// Full-range YUV formats have deprecated "J" names (what JPEG-style decoders
// report); swscale wants the plain format plus a range flag. Returns the
// plain format and sets *full_range for a J format; returns `f` untouched
// otherwise.
inline AVPixelFormat PlainPixelFormat(AVPixelFormat f, bool* full_range) {
  switch (f) {
    case AV_PIX_FMT_YUVJ420P:
      *full_range = true;
      return AV_PIX_FMT_YUV420P;
    case AV_PIX_FMT_YUVJ422P:
      *full_range = true;
      return AV_PIX_FMT_YUV422P;
    case AV_PIX_FMT_YUVJ444P:
      *full_range = true;
      return AV_PIX_FMT_YUV444P;
    case AV_PIX_FMT_YUVJ440P:
      *full_range = true;
      return AV_PIX_FMT_YUV440P;
    case AV_PIX_FMT_YUVJ411P:
      *full_range = true;
      return AV_PIX_FMT_YUV411P;
    default:
      return f;
  }
}

// The plain format of `f` (IsFullRange says the range).
inline AVPixelFormat PlainPixelFormat(AVPixelFormat f) {
  bool full_range = false;
  return PlainPixelFormat(f, &full_range);
}

// Whether pixels of `f` are full range (0-255 for 8 bits) when a frame's
// range is `range`. An unspecified range is limited for YUV, but full for
// grey, as swscale and FFmpeg's command line read it: FFmpeg's JPEG decoder
// gives a one-component JPEG (always full range) as `gray` with no range set,
// and read as limited its blacks and whites were clipped.
// A "J" format is full range whatever its tag.
inline bool IsFullRange(AVPixelFormat f, AVColorRange range) {
  bool full_range = false;
  PlainPixelFormat(f, &full_range);
  if (full_range) return true;
  if (range != AVCOL_RANGE_UNSPECIFIED) return range == AVCOL_RANGE_JPEG;
  const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(f);
  return desc != nullptr && desc->nb_components <= 2 &&
         !(desc->flags & (AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_PAL));
}

// Whether `f` holds YUV (or YCbCr) colour: converting it to RGB takes a
// matrix and a range. False for RGB, palette and grey formats.
inline bool IsYuv(AVPixelFormat f) {
  const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(f);
  return desc != nullptr && desc->nb_components >= 3 &&
         !(desc->flags & (AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_PAL));
}

// Whether pixels of `f` carry transparency (an alpha channel, or a palette
// whose entries have one).
inline bool HasAlpha(AVPixelFormat f) {
  const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(f);
  return desc != nullptr && (desc->flags & AV_PIX_FMT_FLAG_ALPHA);
}

// Colour `c` with opacity `a`, both in [0, max], composited over white, as 8
// bits (rounded): how viewers and image editors show a transparent picture.
inline uint8_t OverWhite(uint32_t c, uint32_t a, uint32_t max) {
  const uint64_t square = uint64_t{max} * max;
  const uint64_t v = uint64_t{c} * a + uint64_t{max} * (max - a);
  return static_cast<uint8_t>((v * 255 + square / 2) / square);
}

}  // namespace stylizer

#endif  // STYLIZER_SERVER_MEDIA_PIXEL_FORMAT_H_
