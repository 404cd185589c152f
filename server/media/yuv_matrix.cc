#include "server/media/yuv_matrix.h"

#include "server/media/pixel_format.h"

extern "C" {
#include <libswscale/swscale.h>
}

namespace stylizer {
namespace media {

AVColorSpace YuvMatrix(AVColorSpace tagged, int width, int height) {
  switch (tagged) {
    case AVCOL_SPC_BT709:
    case AVCOL_SPC_FCC:
    case AVCOL_SPC_BT470BG:
    case AVCOL_SPC_SMPTE170M:
    case AVCOL_SPC_SMPTE240M:
    case AVCOL_SPC_BT2020_NCL:
      return tagged;
    case AVCOL_SPC_BT2020_CL:
      return AVCOL_SPC_BT2020_NCL;
    default:
      // What players commonly assume for untagged pictures (mpv's rule).
      return width >= 1280 || height > 576 ? AVCOL_SPC_BT709
                                           : AVCOL_SPC_SMPTE170M;
  }
}

int SwsColorspace(AVColorSpace matrix) {
  switch (matrix) {
    case AVCOL_SPC_BT709:
      return SWS_CS_ITU709;
    case AVCOL_SPC_FCC:
      return SWS_CS_FCC;
    case AVCOL_SPC_SMPTE240M:
      return SWS_CS_SMPTE240M;
    case AVCOL_SPC_BT2020_NCL:
      return SWS_CS_BT2020;
    default:  // BT.470BG, SMPTE 170M
      return SWS_CS_ITU601;
  }
}

void SetReadingColorspace(SwsContext* ctx, AVPixelFormat source,
                          const AVFrame& frame) {
  const int* table = sws_getCoefficients(
      IsYuv(source) ? SwsColorspace(YuvMatrix(frame.colorspace, frame.width,
                                              frame.height))
                    : SWS_CS_DEFAULT);
  const bool full_range =
      IsFullRange(static_cast<AVPixelFormat>(frame.format), frame.color_range);
  sws_setColorspaceDetails(ctx, table, full_range ? 1 : 0,
                           sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16,
                           1 << 16);
}

}  // namespace media
}  // namespace stylizer
