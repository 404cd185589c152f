// Turning RGB24 pictures by EXIF orientation; see rgb_turn.h.
#include "server/media/rgb_turn.h"

#include <cstring>

namespace stylizer {
namespace media {

int UprightOrientation(int ccw_degrees, bool mirrored) {
  // Turned, then mirrored: a quarter turn counter-clockwise then a mirror is
  // the transverse (7), clockwise the transpose (5).
  switch (ccw_degrees) {
    case 0:
      return mirrored ? 2 : 1;
    case 90:
      return mirrored ? 7 : kTurnClockwise270;
    case 180:
      return mirrored ? 4 : kTurn180;
    case 270:
      return mirrored ? 5 : kTurnClockwise90;
    default:
      return 1;
  }
}

std::vector<uint8_t> TurnRgb24(const std::vector<uint8_t>& rgb, int* width,
                               int* height, int orientation) {
  if (orientation < 2 || orientation > 8) return rgb;
  const int w = *width, h = *height;
  const bool swap = orientation >= 5;
  const int out_w = swap ? h : w, out_h = swap ? w : h;
  std::vector<uint8_t> out(rgb.size());
  for (int y = 0; y < out_h; ++y) {
    uint8_t* row = out.data() + static_cast<size_t>(y) * out_w * 3;
    for (int x = 0; x < out_w; ++x) {
      // The input pixel (u, v) shown at (x, y).
      int u = x, v = y;
      switch (orientation) {
        case 2: u = w - 1 - x; v = y; break;
        case 3: u = w - 1 - x; v = h - 1 - y; break;
        case 4: u = x; v = h - 1 - y; break;
        case 5: u = y; v = x; break;
        case 6: u = y; v = h - 1 - x; break;
        case 7: u = w - 1 - y; v = h - 1 - x; break;
        case 8: u = w - 1 - y; v = x; break;
      }
      std::memcpy(row + static_cast<size_t>(x) * 3,
                  rgb.data() + (static_cast<size_t>(v) * w + u) * 3, 3);
    }
  }
  *width = out_w;
  *height = out_h;
  return out;
}

}  // namespace media
}  // namespace stylizer
