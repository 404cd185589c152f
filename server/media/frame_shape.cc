// Frame shape rule; see frame_shape.h.
#include "server/media/frame_shape.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace stylizer {
namespace media {

absl::Status CheckFrameShape(int64_t width, int64_t height) {
  if (std::min(width, height) >= kMinFrameSide ||
      width * height <= kSmallFramePixels) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "a ", width, "x", height,
      " frame is too thin to stylize: frames of more ", "than ",
      kSmallFramePixels, " pixels need both sides at least ", kMinFrameSide,
      " pixels (thinner ones cost many times more than a ",
      "square frame of the same size); crop, pad or resize it"));
}

}  // namespace media
}  // namespace stylizer
