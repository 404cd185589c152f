// Alpha compositing for decoded still images; see image_alpha.h.
#include "server/service/image_alpha.h"

#include <cstdint>
#include <cstring>

extern "C" {
#include <libavutil/intreadwrite.h>
#include <libavutil/pixfmt.h>
}

#include "server/media/pixel_format.h"

namespace stylizer {
namespace {

// Calls `pixel(row, x, rgb)` for every pixel, rgb pointing to its output.
template <typename Fn>
void ForEachPixel(const AVFrame& frame, uint8_t* rgb, ptrdiff_t stride,
                  Fn pixel) {
  for (int y = 0; y < frame.height; ++y) {
    const uint8_t* row =
        frame.data[0] + static_cast<ptrdiff_t>(y) * frame.linesize[0];
    uint8_t* out = rgb + y * stride;
    for (int x = 0; x < frame.width; ++x, out += 3) pixel(row, x, out);
  }
}

}  // namespace

bool HasAlphaToFlatten(int format) {
  switch (format) {
    case AV_PIX_FMT_RGBA:
    case AV_PIX_FMT_YA8:
    case AV_PIX_FMT_RGBA64BE:
    case AV_PIX_FMT_YA16BE:
    case AV_PIX_FMT_PAL8:
      return true;
    default:
      return false;
  }
}

void FlattenOverWhite(const AVFrame& frame, uint8_t* rgb, ptrdiff_t stride) {
  switch (frame.format) {
    case AV_PIX_FMT_RGBA:
      ForEachPixel(frame, rgb, stride,
                   [](const uint8_t* row, int x, uint8_t* out) {
                     const uint8_t* p = row + 4 * x;
                     for (int c = 0; c < 3; ++c) {
                       out[c] = OverWhite(p[c], p[3], 255);
                     }
                   });
      return;
    case AV_PIX_FMT_YA8:
      ForEachPixel(frame, rgb, stride,
                   [](const uint8_t* row, int x, uint8_t* out) {
                     const uint8_t* p = row + 2 * x;
                     std::memset(out, OverWhite(p[0], p[1], 255), 3);
                   });
      return;
    case AV_PIX_FMT_RGBA64BE:
      ForEachPixel(frame, rgb, stride,
                   [](const uint8_t* row, int x, uint8_t* out) {
                     const uint8_t* p = row + 8 * x;
                     const uint32_t a = AV_RB16(p + 6);
                     for (int c = 0; c < 3; ++c) {
                       out[c] = OverWhite(AV_RB16(p + 2 * c), a, 65535);
                     }
                   });
      return;
    case AV_PIX_FMT_YA16BE:
      ForEachPixel(
          frame, rgb, stride, [](const uint8_t* row, int x, uint8_t* out) {
            const uint8_t* p = row + 4 * x;
            std::memset(out, OverWhite(AV_RB16(p), AV_RB16(p + 2), 65535), 3);
          });
      return;
    case AV_PIX_FMT_PAL8: {
      // The palette: 256 native-endian 0xAARRGGBB words (opaque where the
      // file has no tRNS chunk).
      const auto* palette = reinterpret_cast<const uint32_t*>(frame.data[1]);
      ForEachPixel(frame, rgb, stride,
                   [palette](const uint8_t* row, int x, uint8_t* out) {
                     const uint32_t argb =
                         palette != nullptr ? palette[row[x]] : 0;
                     const uint32_t a = argb >> 24;
                     out[0] = OverWhite((argb >> 16) & 0xff, a, 255);
                     out[1] = OverWhite((argb >> 8) & 0xff, a, 255);
                     out[2] = OverWhite(argb & 0xff, a, 255);
                   });
      return;
    }
    default:
      return;
  }
}

}  // namespace stylizer
