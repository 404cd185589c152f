// BT.601 luminance transfer; see preserve_color.h.
#include "server/media/preserve_color.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "server/media/vector_clones.h"

namespace stylizer {
namespace media {
namespace {

// BT.601 luma weights.
constexpr float kWr = 0.299f;
constexpr float kWg = 0.587f;
constexpr float kWb = 0.114f;
// Stands in for a zero chroma offset in a divisor (the quotient then only
// has to be >= 1, or is multiplied by zero).
constexpr float kTiny = 1e-6f;

inline uint8_t ToByte(float v) {
  return static_cast<uint8_t>(
      static_cast<int>(std::min(255.0f, std::max(0.0f, v)) + 0.5f));
}

STYLIZER_VECTOR_CLONES
void TransferLuma(const uint8_t* __restrict input, uint8_t* __restrict styled,
                  size_t pixels) {
  // One branch-free pass (the min/max and the selects vectorise).
  for (size_t i = 0; i < pixels; ++i) {
    const float r = input[3 * i];
    const float g = input[3 * i + 1];
    const float b = input[3 * i + 2];
    const float y_in = kWr * r + kWg * g + kWb * b;
    const float y =
        kWr * styled[3 * i] + kWg * styled[3 * i + 1] + kWb * styled[3 * i + 2];
    // The input's chroma as offsets from its grey (they average to zero
    // under the luma weights, so hi >= 0 >= lo).
    const float dr = r - y_in;
    const float dg = g - y_in;
    const float db = b - y_in;
    const float hi = std::max(dr, std::max(dg, db));
    const float lo = std::min(dr, std::min(dg, db));
    // The largest k <= 1 that keeps y + k * offset inside 0..255 on every
    // channel: 1 unless the input's colour does not exist at luminance y.
    const float k = std::min(1.0f, std::min((255.0f - y) / std::max(hi, kTiny),
                                            y / std::max(-lo, kTiny)));
    styled[3 * i] = ToByte(y + k * dr);
    styled[3 * i + 1] = ToByte(y + k * dg);
    styled[3 * i + 2] = ToByte(y + k * db);
  }
}

}  // namespace

void PreserveColor(const uint8_t* input, uint8_t* styled, size_t pixels) {
  TransferLuma(input, styled, pixels);
}

absl::Status PreserveColor(const RgbFrame& input, RgbFrame* styled) {
  const size_t bytes = static_cast<size_t>(input.width) * input.height * 3;
  if (input.width != styled->width || input.height != styled->height ||
      input.pixels.size() != bytes || styled->pixels.size() != bytes) {
    return absl::InternalError(absl::StrCat(
        "preserve_color needs the stylized frame at the input's size: input ",
        input.width, "x", input.height, " (", input.pixels.size(),
        " bytes), stylized ", styled->width, "x", styled->height, " (",
        styled->pixels.size(), " bytes)"));
  }
  PreserveColor(input.pixels.data(), styled->pixels.data(), bytes / 3);
  return absl::OkStatus();
}

}  // namespace media
}  // namespace stylizer
