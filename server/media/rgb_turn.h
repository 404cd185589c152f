// Turning packed RGB24 pictures the way EXIF orientations (1-8) say to show
// them: the still-image decoder applies a JPEG's tag with it, and Matroska
// outputs and the CLI's contact sheet a movie's display matrix (quarter
// turns are orientations 6, 3 and 8; with a mirror, 5, 4 and 7).
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

// The orientation that shows a picture as players do whose display matrix
// turns it `ccw_degrees` counter-clockwise (0, 90, 180 or 270) and then,
// where `mirrored`, mirrors it left-right (DisplayTurn in av_util.h). 1 (as
// stored) for {0, false} or any other angle.
int UprightOrientation(int ccw_degrees, bool mirrored);

// `rgb` (width x height, packed RGB24) as orientation `orientation` says to
// show it: 2 mirror left-right, 3 rotate 180, 4 mirror top-bottom,
// 5 transpose, 6 rotate 90 clockwise, 7 transverse, 8 rotate 90
// counter-clockwise. 5-8 swap width and height (*width and *height are
// updated); other values leave the picture as it is.
std::vector<uint8_t> TurnRgb24(const std::vector<uint8_t>& rgb, int* width,
                               int* height, int orientation);

}  // namespace media
}  // namespace stylizer

#endif  // STYLIZER_SERVER_MEDIA_RGB_TURN_H_
