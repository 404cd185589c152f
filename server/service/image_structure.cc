// PNG chunk and JPEG marker walks; see image_structure.h.
#include "server/service/image_structure.h"

#include <cstdint>
#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

extern "C" {
#include <libavutil/crc.h>
}

namespace stylizer {
namespace {

constexpr size_t kPngSignatureSize = 8;
// Chunk length (4) + type (4) + CRC (4) around the chunk's data.
constexpr size_t kPngChunkOverhead = 12;

uint32_t BigEndian32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
         (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// Compressed ancillary chunks: FFmpeg's PNG decoder (5.x) inflates zTXt and
// iCCP into a growing buffer with no size limit before it looks at the
// picture; iTXt may be compressed too. None of them affects the pixels the
// service works on.
bool IsCompressedMetadata(absl::string_view type) {
  return type == "zTXt" || type == "iTXt" || type == "iCCP";
}

bool IsRestartMarker(uint8_t m) { return m >= 0xD0 && m <= 0xD7; }

}  // namespace

absl::StatusOr<std::string> CheckPngAndDropMetadata(absl::string_view png) {
  const auto* p = reinterpret_cast<const unsigned char*>(png.data());
  const AVCRC* crc_table = av_crc_get_table(AV_CRC_32_IEEE_LE);
  std::string out;
  out.reserve(png.size());
  out.append(png.data(), kPngSignatureSize);
  bool has_image_data = false;
  size_t pos = kPngSignatureSize;
  while (true) {
    const size_t left = png.size() - pos;
    if (left < kPngChunkOverhead) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the PNG image is truncated: it ends at byte ", png.size(),
          " without its IEND chunk; send the complete file"));
    }
    const uint32_t length = BigEndian32(p + pos);
    const absl::string_view type = png.substr(pos + 4, 4);
    if (length > left - kPngChunkOverhead) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the PNG image is truncated: its ", absl::CHexEscape(type),
          " chunk at byte ", pos, " declares ", length, " bytes but only ",
          left - kPngChunkOverhead, " follow; send the complete file"));
    }
    const uint32_t stored_crc = BigEndian32(p + pos + 8 + length);
    const uint32_t crc =
        av_crc(crc_table, UINT32_MAX, p + pos + 4, length + 4) ^ UINT32_MAX;
    if (crc != stored_crc) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the PNG image is damaged: the CRC of its ", absl::CHexEscape(type),
          " chunk at byte ", pos, " does not match its contents"));
    }
    const size_t chunk_size = kPngChunkOverhead + length;
    if (!IsCompressedMetadata(type)) out.append(png.data() + pos, chunk_size);
    if (type == "IDAT") has_image_data = true;
    pos += chunk_size;
    if (type == "IEND") break;  // anything after IEND is ignored
  }
  if (!has_image_data) {
    return absl::InvalidArgumentError(
        "the PNG image has no image data (no IDAT chunk)");
  }
  return out;
}

absl::Status CheckJpegComplete(absl::string_view jpeg) {
  const auto* p = reinterpret_cast<const unsigned char*>(jpeg.data());
  const size_t size = jpeg.size();
  size_t i = 2;  // after SOI
  while (i + 2 <= size) {
    if (p[i] != 0xFF) {
      // Stray bytes between segments: libjpeg skips them with a warning, and
      // so does FFmpeg; look for the next marker.
      const void* ff = std::memchr(p + i, 0xFF, size - i);
      if (ff == nullptr) break;
      i = static_cast<const unsigned char*>(ff) - p;
      continue;
    }
    const uint8_t marker = p[i + 1];
    if (marker == 0xFF) {  // fill byte
      ++i;
      continue;
    }
    if (marker == 0xD9) return absl::OkStatus();  // EOI
    if (marker == 0x01 || marker == 0xD8 || IsRestartMarker(marker)) {
      i += 2;  // markers without a segment
      continue;
    }
    if (i + 4 > size) break;
    const size_t length = (size_t{p[i + 2]} << 8) | p[i + 3];
    if (length < 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("the JPEG image is damaged: the segment at byte ", i,
                       " has an invalid length"));
    }
    i += 2 + length;
    if (marker != 0xDA) continue;
    // Entropy-coded data runs to the next marker; inside it 0xFF is followed
    // by a stuffed 0x00 or a restart marker.
    while (i < size) {
      const void* ff = std::memchr(p + i, 0xFF, size - i);
      if (ff == nullptr) {
        i = size;
        break;
      }
      i = static_cast<const unsigned char*>(ff) - p;
      if (i + 1 >= size) break;
      const uint8_t next = p[i + 1];
      if (next != 0x00 && !IsRestartMarker(next)) break;
      i += 2;
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "the JPEG image is truncated: its ", size,
      " bytes end before the end-of-image marker; send the complete file"));
}

}  // namespace stylizer
