// Pictures with transparency (PNG's RGBA, grey with alpha, 16-bit variants,
// palettes with a tRNS chunk) flattened onto white, as viewers and image
// editors show and export them. Dropping alpha left whatever colour the file
// keeps under its transparent pixels: usually black, so a logo on a
// transparent background came back on a dark one.
#ifndef STYLIZER_SERVER_SERVICE_IMAGE_ALPHA_H_
#define STYLIZER_SERVER_SERVICE_IMAGE_ALPHA_H_

#include "server/batching/job_queue.h"

extern "C" {
#include <libavutil/frame.h>
}

namespace stylizer {

// Writes `frame` composited over white into `out` (RGB24) and returns true,
// if its pixel format is one PNG's decoder hands over with alpha (rgba,
// ya8, rgba64be, ya16be, pal8); returns false, touching nothing, otherwise.
bool FlattenOverWhite(const AVFrame& frame, RgbFrame* out);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVICE_IMAGE_ALPHA_H_
