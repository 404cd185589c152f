// Whether a GIF ends where its block structure says it does. A GIF declares
// no frame count: one cut off (a download that stopped) decoded as a
// shorter movie, and the job ended OK, while MP4, AVI, Matroska and APNG
// inputs cut off are refused as truncated.
#ifndef STYLIZER_SERVER_MEDIA_GIF_STRUCTURE_H_
#define STYLIZER_SERVER_MEDIA_GIF_STRUCTURE_H_

#include <cstddef>
#include <cstdint>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace stylizer {
namespace media {

// Reads up to `size` bytes at `offset` into `out`; 0 at the end.
using ReadAtFunction = absl::FunctionRef<absl::StatusOr<size_t>(
    uint64_t offset, char* out, size_t size)>;

// Walks the GIF's blocks (header, colour tables, extensions, images and
// their data sub-blocks) up to its trailer. INVALID_ARGUMENT when the file
// ends inside a block, naming the frame it ends in, or whose bytes are all
// zeros from a block's start on (a download made at full size first and
// filled as it came, that stopped). A file that ends
// between blocks without the trailer passes (some encoders leave it out,
// and every frame is whole), and so does one whose blocks stop making sense
// (damage the decoder meets, not a cut).
absl::Status CheckGifIsWhole(ReadAtFunction read_at);

}  // namespace media
}  // namespace stylizer

#endif  // STYLIZER_SERVER_MEDIA_GIF_STRUCTURE_H_
