// Telling a still PNG or JPEG from a movie; see still_image.h.
#include "client/still_image.h"

#include <cstdint>
#include <fstream>

#include "absl/strings/match.h"
#include "client/image_signatures.h"

namespace stylizer::client {
namespace {

// Whether the PNG read from `in` (past its signature) is animated: an acTL
// chunk before the first IDAT. Chunks are walked by their lengths; a file
// cut short or malformed counts as still (the server says what it is).
bool PngIsAnimated(std::ifstream& in) {
  // A bound on the walk: a still PNG reaches IDAT within a few chunks.
  for (int chunk = 0; chunk < 1000; ++chunk) {
    unsigned char header[8];
    if (!in.read(reinterpret_cast<char*>(header), sizeof(header))) {
      return false;
    }
    const uint32_t length = uint32_t{header[0]} << 24 |
                            uint32_t{header[1]} << 16 |
                            uint32_t{header[2]} << 8 | uint32_t{header[3]};
    const absl::string_view type(reinterpret_cast<const char*>(header) + 4, 4);
    if (type == "acTL") return true;
    if (type == "IDAT" || type == "IEND") return false;
    // The chunk's data and its CRC.
    if (!in.seekg(static_cast<std::streamoff>(length) + 4, std::ios::cur)) {
      return false;
    }
  }
  return false;
}

}  // namespace

absl::string_view StillImageKind(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char head[8];
  if (!in.read(head, sizeof(head))) return "";
  const absl::string_view start(head, sizeof(head));
  if (absl::StartsWith(start, kJpegSignature)) return "JPEG";
  if (start == kPngSignature && !PngIsAnimated(in)) return "PNG";
  return "";
}

}  // namespace stylizer::client
