// Colour preservation: keeps an input frame's colours and takes only the
// luminance of its stylized output ("preserve_color" on a style request).
//
// Method: BT.601 full-range YCbCr (the JPEG/JFIF matrix,
// Y = 0.299 R + 0.587 G + 0.114 B). The result has the stylized frame's Y and
// the input's Cb and Cr at the same pixel. Because YCbCr -> RGB is linear with
// Y entering every channel with weight 1, that is the input pixel shifted by
// the luminance difference: out = input + (Y(styled) - Y(input)) on each of
// R, G and B, rounded once and clipped to 0..255 per channel (a clipped
// channel is where the result leaves the RGB cube; there its chroma moves
// towards grey). No colour-space round trip, one pass, no allocation.
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
// number of pixels). The buffers must not overlap.
void PreserveColor(const uint8_t* input, uint8_t* styled, size_t pixels);

// The same on frames. INTERNAL (and `styled` untouched) unless both frames
// have the same size and width * height * 3 bytes: the callers pass a frame
// and its stylized output, so a mismatch is a bug, not a bad request.
absl::Status PreserveColor(const RgbFrame& input, RgbFrame* styled);

}  // namespace media
}  // namespace stylizer

#endif  // STYLIZER_SERVER_MEDIA_PRESERVE_COLOR_H_
