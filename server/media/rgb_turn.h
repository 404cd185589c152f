// Turning packed RGB24 pictures the way EXIF orientations (1-8) say to show
// them: the still-image decoder applies a JPEG's tag with it, and the CLI's
// contact sheet a movie's display rotation (quarter turns are orientations
// 6, 3 and 8).
#ifndef STYLIZER_SERVER_MEDIA_RGB_TURN_H_
#define STYLIZER_SERVER_MEDIA_RGB_TURN_H_

#include <cstdint>
#include <vector>

namespace stylizer {
namespace media {

// EXIF orientations that are quarter turns clockwise.
inline constexpr int kTurnClockwise90 = 6;
inline constexpr int kTurn180 = 3;
inline constexpr int kTurnClockwise270 = 8;

// `rgb` (width x height, packed RGB24) as orientation `orientation` says to
// show it: 2 mirror left-right, 3 rotate 180, 4 mirror top-bottom,
// 5 transpose, 6 rotate 90 clockwise, 7 transverse, 8 rotate 90
// counter-clockwise. 5-8 swap width and height (*width and *height are
// updated); other values leave the picture as it is.
// The orientation that shows a picture upright whose display rotation is
// `ccw_degrees` counter-clockwise (DisplayRotationDegrees: 0, 90, 180 or
// 270), as players turn it: clockwise by 360 - ccw_degrees. 1 (as stored)
// for 0 or any other value.
int UprightOrientation(int ccw_degrees);

std::vector<uint8_t> TurnRgb24(const std::vector<uint8_t>& rgb, int* width,
                               int* height, int orientation);

}  // namespace media
}  // namespace stylizer

#endif  // STYLIZER_SERVER_MEDIA_RGB_TURN_H_
