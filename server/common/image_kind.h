// Names the image format a file's first bytes announce, for errors that
// refuse it: "a WebP image" says what to convert from, where "neither PNG nor
// JPEG (it starts with bytes 52494646...)" left the caller to work it out.
#ifndef STYLIZER_SERVER_COMMON_IMAGE_KIND_H_
#define STYLIZER_SERVER_COMMON_IMAGE_KIND_H_

#include "absl/strings/string_view.h"

namespace stylizer {

// "WebP", "GIF", "BMP", "TIFF", "HEIF", "AVIF", "JPEG 2000", "JPEG XL",
// "ICO", "PSD" or "QOI" when `head` (a file's first bytes, 32 are enough)
// starts as such a file does; empty otherwise (PNG and JPEG included).
absl::string_view OtherImageKind(absl::string_view head);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_COMMON_IMAGE_KIND_H_
