// Checks of the container structure of PNG and JPEG files, done before the
// bytes reach FFmpeg's decoders: a truncated or damaged file is refused (the
// decoders would return a partly grey picture), and PNG metadata chunks that
// the PNG decoder would inflate without any bound are dropped.
#ifndef STYLIZER_SERVER_SERVICE_IMAGE_STRUCTURE_H_
#define STYLIZER_SERVER_SERVICE_IMAGE_STRUCTURE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace stylizer {

// Walks the chunks of the PNG file `png` (signature already checked) and
// returns the file without its zTXt, iTXt and iCCP chunks: compressed text
// and colour profiles, which FFmpeg's PNG decoder inflates into memory with no
// limit (a 1 MiB chunk can inflate to 1 GiB) and which the service never
// uses. INVALID_ARGUMENT if a chunk is cut off, a chunk's CRC does not match,
// the file has no image data (IDAT) or ends before its IEND chunk, or the
// image data is not a zlib stream that inflates to every row the header
// declares (inflated once, counted, not kept).
absl::StatusOr<std::string> CheckPngAndDropMetadata(absl::string_view png);

// Walks the markers of the JPEG file `jpeg` (SOI already checked), skipping
// the entropy-coded data after each start-of-scan, and returns OK once it
// reaches the end-of-image marker. INVALID_ARGUMENT if the file ends first
// (a truncated download or upload) or a segment length is invalid.
absl::Status CheckJpegComplete(absl::string_view jpeg);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVICE_IMAGE_STRUCTURE_H_
