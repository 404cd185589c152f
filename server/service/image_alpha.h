// Pictures with transparency (PNG's RGBA, grey with alpha, 16-bit variants,
// palettes with a tRNS chunk) flattened onto white, as viewers and image
// editors show and export them. Dropping alpha left whatever colour the file
// keeps under its transparent pixels: usually black, so a logo on a
// transparent background came back on a dark one.
#ifndef STYLIZER_SERVER_SERVICE_IMAGE_ALPHA_H_
#define STYLIZER_SERVER_SERVICE_IMAGE_ALPHA_H_

#include <cstddef>
#include <cstdint>

extern "C" {
#include <libavutil/frame.h>
}

namespace stylizer {

// Whether `format` is one that PNG's decoder hands over with alpha (rgba,
// ya8, rgba64be, ya16be, pal8), which FlattenOverWhite takes.
bool HasAlphaToFlatten(int format);

// Writes `frame` (HasAlphaToFlatten of its format) composited over white as
// RGB24: frame.height rows of frame.width pixels, `stride` bytes apart from
// `rgb`.
void FlattenOverWhite(const AVFrame& frame, uint8_t* rgb, ptrdiff_t stride);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVICE_IMAGE_ALPHA_H_
