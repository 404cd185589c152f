// Pixel-format helpers shared by the movie decoder and the still-image codec.
// Header-only so that both can use it without linking each other.
#ifndef STYLIZER_SERVER_MEDIA_PIXEL_FORMAT_H_
#define STYLIZER_SERVER_MEDIA_PIXEL_FORMAT_H_

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

// Whether `f` holds YUV (or YCbCr) colour: converting it to RGB takes a
// matrix and a range. False for RGB, palette and grey formats.
inline bool IsYuv(AVPixelFormat f) {
  const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(f);
  return desc != nullptr && desc->nb_components >= 3 &&
         !(desc->flags & (AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_PAL));
}

}  // namespace stylizer

#endif  // STYLIZER_SERVER_MEDIA_PIXEL_FORMAT_H_
