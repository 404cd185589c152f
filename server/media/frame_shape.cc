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

namespace {

// The largest side in [0, hi] for which `holds` is true, where it is true up
// to some side and false beyond (0: for none).
int64_t LargestWhere(int64_t hi, const std::function<bool(int64_t)>& holds) {
  int64_t lo = 0;
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo + 1) / 2;
    if (holds(mid)) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

}  // namespace

int64_t LargestFittingSide(int64_t longest, int64_t max_pixels,
                           const ScaledSize& scaled) {
  auto pixels = [&](int64_t side) {
    const auto [w, h] = scaled(side);
    return w * h;
  };
  // Within the pixel limit: the sides up to `fits`.
  const int64_t fits = LargestWhere(
      longest, [&](int64_t side) { return pixels(side) <= max_pixels; });
  if (fits == 0) return 0;
  const auto [w, h] = scaled(fits);
  if (std::min(w, h) >= kMinFrameSide) return fits;
  // Too thin there, and at every smaller side: only a small frame will do.
  return LargestWhere(
      fits, [&](int64_t side) { return pixels(side) <= kSmallFramePixels; });
}

std::string ThinPictureRemedy(bool wide_as_sent, int64_t fitting_side,
                              bool movie) {
  if (wide_as_sent) {
    return absl::StrCat(" (a larger max_side, or none, keeps ",
                        movie ? "them" : "it", " wide enough)");
  }
  if (fitting_side <= 0) return "";
  return absl::StrCat(
      " (or set max_side to ", fitting_side, " or less: the server scales ",
      movie ? "the frames down to small ones" : "it down to a small frame",
      ", which may be thin)");
}

}  // namespace media
}  // namespace stylizer
