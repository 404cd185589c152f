// The frame shapes the service stylizes. The network pads each side of a
// frame to a multiple of 4 (at least 8) and every convolution pads by
// reflection, so a frame with a very short side costs far more than a square
// frame of the same pixel count: measured with bench/model/model_bench on the
// CPU, a 262144x1 frame takes 11 times the time and 21 times the memory of a
// 512x512 one, a 8192x32 frame 1.2 and 1.1 times (docs/api.md has the
// table). Still images, frame streams and movies all go through
// CheckFrameShape, so every RPC refuses the same shapes.
#ifndef STYLIZER_SERVER_MEDIA_FRAME_SHAPE_H_
#define STYLIZER_SERVER_MEDIA_FRAME_SHAPE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <utility>

#include "absl/status/status.h"

namespace stylizer {
namespace media {

// Shortest side a frame may have...
inline constexpr int64_t kMinFrameSide = 32;
// ... unless it has at most this many pixels (64x64): such frames cost
// little whatever their shape.
inline constexpr int64_t kSmallFramePixels = 64 * 64;

// OK if a width x height frame may be stylized: both sides at least
// kMinFrameSide, or at most kSmallFramePixels pixels in all. Otherwise
// INVALID_ARGUMENT saying why and what to do. Sizes must be positive (the
// callers check that, and the pixel limit, first).
absl::Status CheckFrameShape(int64_t width, int64_t height);

// The width and height of a picture scaled with a max_side of `side`.
using ScaledSize = std::function<std::pair<int64_t, int64_t>(int64_t side)>;

// The largest max_side in [1, longest] whose picture, `scaled(side)`, has at
// most `max_pixels` pixels and keeps the shape rule; 0 if none does.
// `scaled` must not shrink as the side grows. The suggestion a refusal
// gives: found by bisection (a linear search from a 67108864x1 image's side
// took over a second).
int64_t LargestFittingSide(int64_t longest, int64_t max_pixels,
                           const ScaledSize& scaled);

// What max_side can do for a picture refused as too thin, in parentheses
// after the refusal (" (...)"), or "": a larger max_side, or none, when the
// picture as sent is wide enough; else `fitting_side` (LargestFittingSide)
// when there is one. Of a movie's frames (`movie`) or of an image.
std::string ThinPictureRemedy(bool wide_as_sent, int64_t fitting_side,
                              bool movie);

}  // namespace media
}  // namespace stylizer

#endif  // STYLIZER_SERVER_MEDIA_FRAME_SHAPE_H_
