// A PNG's and a JPEG's first bytes, which the image codec's probing and
// decoding both tell the formats by. Internal to image_codec.
#ifndef STYLIZER_SERVER_SERVICE_IMAGE_PROBE_H_
#define STYLIZER_SERVER_SERVICE_IMAGE_PROBE_H_

#include "absl/strings/string_view.h"

namespace stylizer {

// Whether `d` starts with PNG's signature.
bool IsPng(absl::string_view d);
// Whether `d` starts with JPEG's SOI marker and another marker.
bool IsJpeg(absl::string_view d);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVICE_IMAGE_PROBE_H_
