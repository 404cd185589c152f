#include "server/media/yuv_matrix.h"

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

}  // namespace media
}  // namespace stylizer
