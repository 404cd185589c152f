// BT.601 luminance transfer; see preserve_color.h.
#include "server/media/preserve_color.h"

#include "absl/strings/str_cat.h"

namespace stylizer {
namespace media {
namespace {

// BT.601 luma weights in 14-bit fixed point (0.299, 0.587, 0.114 x 16384,
// rounded so that they sum to exactly 16384: equal RGB deltas give that
// delta as luma).
constexpr int32_t kShift = 14;
constexpr int32_t kWr = 4899;
constexpr int32_t kWg = 9617;
constexpr int32_t kWb = 1868;
static_assert(kWr + kWg + kWb == 1 << kShift, "luma weights must sum to 1");
// Added before the shift: one half for rounding, plus 256 << kShift so the
// shifted value is never negative (|delta| <= 255 << kShift); taken off
// after.
constexpr int32_t kBias = (1 << (kShift - 1)) + (256 << kShift);

inline uint8_t Clip(int32_t v) {
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

// The compiler vectorises the loop below only where it may shuffle bytes
// (SSSE3 and up): the baseline x86-64 build gets an AVX2 clone chosen at load
// time (GCC's function multiversioning) next to the plain one.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define STYLIZER_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define STYLIZER_VECTOR_CLONES
#endif

STYLIZER_VECTOR_CLONES
void TransferLuma(const uint8_t* __restrict input, uint8_t* __restrict styled,
                  size_t pixels) {
  // One pass over whole pixels, branch-free (the clips become min/max).
  for (size_t i = 0; i < pixels; ++i) {
    const int32_t r = input[3 * i];
    const int32_t g = input[3 * i + 1];
    const int32_t b = input[3 * i + 2];
    const int32_t delta = kWr * (styled[3 * i] - r) +
                          kWg * (styled[3 * i + 1] - g) +
                          kWb * (styled[3 * i + 2] - b);
    const int32_t dy = ((delta + kBias) >> kShift) - 256;
    styled[3 * i] = Clip(r + dy);
    styled[3 * i + 1] = Clip(g + dy);
    styled[3 * i + 2] = Clip(b + dy);
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
