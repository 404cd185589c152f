// PNG chunk and JPEG marker walks; see image_structure.h.
#include "server/service/image_structure.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

extern "C" {
#include <libavutil/crc.h>
#include <libavutil/intreadwrite.h>
}
#include <zlib.h>

namespace stylizer {
namespace {

constexpr size_t kPngSignatureSize = 8;
// Chunk length (4) + type (4) + CRC (4) around the chunk's data.
constexpr size_t kPngChunkOverhead = 12;

// Compressed ancillary chunks: FFmpeg's PNG decoder (5.x) inflates zTXt and
// iCCP into a growing buffer with no size limit before it looks at the
// picture; iTXt may be compressed too. None of them affects the pixels the
// service works on.
bool IsCompressedMetadata(absl::string_view type) {
  return type == "zTXt" || type == "iTXt" || type == "iCCP";
}

bool IsRestartMarker(uint8_t m) { return m >= 0xD0 && m <= 0xD7; }

// The IHDR fields that fix how many bytes the image data inflates to.
struct PngHeader {
  uint32_t width = 0;
  uint32_t height = 0;
  int bits_per_pixel = 0;  // 0: not a valid colour type / depth pair
  bool interlaced = false;
};

PngHeader ParseIhdr(const unsigned char* d) {
  PngHeader h;
  h.width = AV_RB32(d);
  h.height = AV_RB32(d + 4);
  const int depth = d[8];
  int channels = 0;
  switch (d[9]) {  // colour type
    case 0: channels = 1; break;  // grey
    case 2: channels = 3; break;  // RGB
    case 3: channels = 1; break;  // palette index
    case 4: channels = 2; break;  // grey + alpha
    case 6: channels = 4; break;  // RGBA
    default: break;
  }
  if (depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16) {
    h.bits_per_pixel = channels * depth;
  }
  h.interlaced = d[12] == 1;
  return h;
}

// Bytes of filtered scanlines (one filter byte per row) that a w x h pass
// needs; 0 for an empty pass.
uint64_t PassBytes(uint64_t w, uint64_t h, int bits_per_pixel) {
  if (w == 0 || h == 0) return 0;
  return h * (1 + (w * bits_per_pixel + 7) / 8);
}

// What the IDAT stream must inflate to: the rows of the whole picture, or of
// the seven Adam7 passes.
uint64_t ExpectedImageBytes(const PngHeader& h) {
  if (!h.interlaced) return PassBytes(h.width, h.height, h.bits_per_pixel);
  static constexpr int kAdam7[7][4] = {{0, 0, 8, 8}, {4, 0, 8, 8},
                                       {0, 4, 4, 8}, {2, 0, 4, 4},
                                       {0, 2, 2, 4}, {1, 0, 2, 2},
                                       {0, 1, 1, 2}};
  uint64_t total = 0;
  for (const auto& [x0, y0, dx, dy] : kAdam7) {
    const uint64_t w = h.width > uint32_t(x0) ? (h.width - x0 + dx - 1) / dx : 0;
    const uint64_t hh =
        h.height > uint32_t(y0) ? (h.height - y0 + dy - 1) / dy : 0;
    total += PassBytes(w, hh, h.bits_per_pixel);
  }
  return total;
}

// FFmpeg's PNG decoder (5.x) accepts image data that ends early, with only a
// log line, and returns the missing rows blank; so the stream is inflated
// here first, counting (not keeping) what it yields, up to `expected` bytes.
absl::Status CheckImageDataLength(const std::vector<absl::string_view>& idat,
                                  const PngHeader& header) {
  if (header.bits_per_pixel == 0) return absl::OkStatus();  // decoder's call
  const uint64_t expected = ExpectedImageBytes(header);
  z_stream z{};
  if (inflateInit(&z) != Z_OK) {
    return absl::InternalError("cannot start zlib to check a PNG image");
  }
  unsigned char sink[1 << 15];
  uint64_t produced = 0;
  int rc = Z_OK;
  for (absl::string_view piece : idat) {
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(piece.data()));
    z.avail_in = static_cast<uInt>(piece.size());
    while (z.avail_in > 0 && rc == Z_OK && produced < expected) {
      z.next_out = sink;
      z.avail_out = static_cast<uInt>(
          std::min<uint64_t>(sizeof(sink), expected - produced));
      rc = inflate(&z, Z_NO_FLUSH);
      produced += (z.next_out - sink);
      if (rc == Z_BUF_ERROR) rc = Z_OK;  // needs more input: next chunk
    }
    if (rc != Z_OK || produced >= expected) break;
  }
  inflateEnd(&z);
  if (rc != Z_OK && rc != Z_STREAM_END) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the PNG image cannot be decoded: its image data is not a valid "
        "zlib stream (",
        z.msg != nullptr ? z.msg : "zlib error", ")"));
  }
  if (produced < expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the PNG image is truncated: its image data holds ", produced,
        " of the ", expected, " bytes that its ", header.width, "x",
        header.height, " pixels need; send the complete file"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> CheckPngAndDropMetadata(absl::string_view png) {
  const auto* p = reinterpret_cast<const unsigned char*>(png.data());
  const AVCRC* crc_table = av_crc_get_table(AV_CRC_32_IEEE_LE);
  std::string out;
  out.reserve(png.size());
  out.append(png.data(), kPngSignatureSize);
  PngHeader header;
  std::vector<absl::string_view> idat;
  size_t pos = kPngSignatureSize;
  while (true) {
    const size_t left = png.size() - pos;
    if (left < kPngChunkOverhead) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the PNG image is truncated: it ends at byte ", png.size(),
          " without its IEND chunk; send the complete file"));
    }
    const uint32_t length = AV_RB32(p + pos);
    const absl::string_view type = png.substr(pos + 4, 4);
    if (length > left - kPngChunkOverhead) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the PNG image is truncated: its ", absl::CHexEscape(type),
          " chunk at byte ", pos, " declares ", length, " bytes but only ",
          left - kPngChunkOverhead, " follow; send the complete file"));
    }
    const uint32_t stored_crc = AV_RB32(p + pos + 8 + length);
    const uint32_t crc =
        av_crc(crc_table, UINT32_MAX, p + pos + 4, length + 4) ^ UINT32_MAX;
    if (crc != stored_crc) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the PNG image is damaged: the CRC of its ", absl::CHexEscape(type),
          " chunk at byte ", pos, " does not match its contents"));
    }
    const size_t chunk_size = kPngChunkOverhead + length;
    if (!IsCompressedMetadata(type)) out.append(png.data() + pos, chunk_size);
    if (type == "IHDR" && length == 13 && pos == kPngSignatureSize) {
      header = ParseIhdr(p + pos + 8);
    }
    if (type == "IDAT") idat.push_back(png.substr(pos + 8, length));
    pos += chunk_size;
    if (type == "IEND") break;  // anything after IEND is ignored
  }
  if (idat.empty()) {
    return absl::InvalidArgumentError(
        "the PNG image has no image data (no IDAT chunk)");
  }
  if (absl::Status s = CheckImageDataLength(idat, header); !s.ok()) return s;
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
