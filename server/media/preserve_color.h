// Colour preservation: keeps an input frame's colours and takes only the
// luminance of its stylized output ("preserve_color" on a style request).
//
// Method: BT.601 full-range YCbCr (the JPEG/JFIF matrix,
// Y = 0.299 R + 0.587 G + 0.114 B). Each output pixel gets the stylized
// pixel's Y and the input pixel's Cb and Cr. In RGB that is the stylized
// luminance plus the input's offsets from its own grey:
//   out = Y(styled) + k * (input - Y(input))   on each of R, G and B,
// with k = 1 wherever that colour exists. Where it would leave the RGB cube
// (a saturated input colour under a much brighter or darker stylized pixel)
// k < 1 is the largest value that fits: the chroma is scaled towards grey,
// so the hue and the stylized luminance stay and only the saturation drops
// (clipping each channel instead would shift hue and flatten the texture).
// Because the offsets are neutral (they sum to zero under every YCbCr
// matrix's luma weights), the input's chroma is kept as BT.709 or BT.2020 Cb,
// Cr as well. One branch-free pass in single precision, no allocation.
#ifndef STYLIZER_SERVER_MEDIA_PRESERVE_COLOR_H_
#define STYLIZER_SERVER_MEDIA_PRESERVE_COLOR_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "server/batching/job_queue.h"

namespace stylizer {
namespace media {

// Rewrites `styled` (packed RGB24, `pixels` pixels) in place so that it has
// its own BT.601 luminance and the chroma of `input` (packed RGB24, the same
// number of pixels), as above. The buffers must not overlap.
void PreserveColor(const uint8_t* input, uint8_t* styled, size_t pixels);

// The same on frames. INTERNAL (and `styled` untouched) unless both frames
// have the same size and width * height * 3 bytes: the callers pass a frame
// and its stylized output, so a mismatch is a bug, not a bad request.
absl::Status PreserveColor(const RgbFrame& input, RgbFrame* styled);

}  // namespace media
}  // namespace stylizer

#endif  // STYLIZER_SERVER_MEDIA_PRESERVE_COLOR_H_
