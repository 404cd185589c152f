// PNG chunk and JPEG marker walks; see image_structure.h.
#include "server/service/image_structure.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/service/image_orientation.h"

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

// JPEG markers (the byte after 0xFF). FFmpeg's decoder takes only
// 0xC0-0xFE for markers.
constexpr uint8_t kFirstMarker = 0xC0;
constexpr uint8_t kDht = 0xC4;
constexpr uint8_t kSoi = 0xD8;
constexpr uint8_t kEoi = 0xD9;
constexpr uint8_t kSos = 0xDA;
constexpr uint8_t kDqt = 0xDB;
constexpr uint8_t kDri = 0xDD;
constexpr uint8_t kApp0 = 0xE0;
constexpr uint8_t kApp1 = 0xE1;
constexpr uint8_t kApp14 = 0xEE;
constexpr uint8_t kApp15 = 0xEF;
constexpr uint8_t kCom = 0xFE;

// SOF0-3: the frame headers of baseline, extended, progressive and lossless
// Huffman-coded JPEG, the ones FFmpeg decodes.
bool IsFrameHeader(uint8_t m) { return m >= 0xC0 && m <= 0xC3; }

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

absl::StatusOr<std::string> CheckPngAndDropMetadata(absl::string_view png,
                                                    int* orientation) {
  if (orientation != nullptr) *orientation = 0;
  bool seen_exif = false;
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
    if (type == "eXIf" && !seen_exif) {
      seen_exif = true;  // a file has one; a second is not read
      if (orientation != nullptr) {
        *orientation = TiffOrientation(png.substr(pos + 8, length));
      }
    }
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

absl::StatusOr<std::string> CheckJpegAndDropMetadata(absl::string_view jpeg,
                                                     int* orientation) {
  if (orientation != nullptr) *orientation = 0;
  bool seen_exif = false;
  const auto* p = reinterpret_cast<const unsigned char*>(jpeg.data());
  const size_t size = jpeg.size();
  std::string out;
  out.reserve(size + 2 * kMaxJpegScans + 2);
  out.append(jpeg.data(), 2);  // SOI
  size_t frame_at = 0;         // the frame header's byte; 0: none yet
  int frame_width = 0, frame_height = 0;
  int scans = 0;
  size_t i = 2;
  // Every step moves i forward, and each byte is looked at a bounded number
  // of times (memchr, or one segment or scan each), so the walk is linear in
  // the file's size whatever it holds.
  while (i + 2 <= size) {
    if (p[i] != 0xFF) {
      // Stray bytes between segments: libjpeg skips them with a warning, and
      // so does FFmpeg; look for the next marker. They are not copied.
      const void* ff = std::memchr(p + i, 0xFF, size - i);
      if (ff == nullptr) break;
      i = static_cast<const unsigned char*>(ff) - p;
      continue;
    }
    const uint8_t marker = p[i + 1];
    // A fill byte, or 0xFF followed by a byte that FFmpeg does not take for
    // a marker (it only knows 0xC0-0xFE): go on looking, as it does.
    if (marker == 0xFF || marker < kFirstMarker) {
      ++i;
      continue;
    }
    if (IsRestartMarker(marker)) {  // outside a scan: nothing to restart
      i += 2;
      continue;
    }
    if (marker == kEoi) {
      if (frame_at == 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "the JPEG image is damaged: it has no frame header (SOFn marker) "
            "before its end-of-image marker at byte ",
            i));
      }
      // FFmpeg answers a header without a scan with a blank picture.
      if (scans == 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "the JPEG image has no image data: no scan (SOS marker) before "
            "its end-of-image marker at byte ",
            i, "; send the complete file"));
      }
      if (scans > kMaxJpegScans) {
        return absl::InvalidArgumentError(absl::StrCat(
            "the JPEG image has ", scans, " scans, more than the limit of ",
            kMaxJpegScans,
            "; re-encode it (baseline or standard progressive JPEGs have at "
            "most a few dozen)"));
      }
      out.append(jpeg.data() + i, 2);
      return out;  // anything after the end-of-image marker is ignored
    }
    if (marker == kSoi) {
      out.append(jpeg.data() + i, 2);
      i += 2;
      continue;
    }
    // The other markers start a segment: a 16-bit length that counts itself,
    // then the segment's contents.
    if (i + 4 > size) break;
    const size_t length = (size_t{p[i + 2]} << 8) | p[i + 3];
    if (length < 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("the JPEG image is damaged: the segment at byte ", i,
                       " has an invalid length"));
    }
    if (length > size - i - 2) break;  // cut off
    const unsigned char* body = p + i + 4;
    const size_t body_size = length - 2;
    const absl::string_view segment = jpeg.substr(i, 2 + length);
    if (IsFrameHeader(marker)) {
      // Precision (1), height (2), width (2), component count (1), then 3
      // bytes per component.
      if (body_size < 6 || body_size != 6 + 3 * size_t{body[5]}) {
        return absl::InvalidArgumentError(absl::StrCat(
            "the JPEG image is damaged: its frame header at byte ", i, " is ",
            length, " bytes long, which does not match its component count"));
      }
      const int height = AV_RB16(body + 1), width = AV_RB16(body + 3);
      if (frame_at != 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "the JPEG image has more than one frame header (SOFn marker): the "
            "one at byte ",
            frame_at, " declares ", frame_width, "x", frame_height,
            ", the one at byte ", i, " ", width, "x", height,
            "; a JPEG file holds one picture, and decoders differ in which "
            "header they use, so re-encode it"));
      }
      frame_at = i;
      frame_width = width;
      frame_height = height;
      out.append(segment.data(), segment.size());
    } else if (marker == kSos) {
      // Component count (1), 2 bytes per component, then 3 bytes. FFmpeg
      // reads the header through its marker unescaping, so a 0xFF in it
      // would move everything after it.
      const size_t components = body_size > 0 ? body[0] : 0;
      if (frame_at == 0 || components == 0 || components > 4 ||
          body_size != 4 + 2 * components ||
          std::memchr(body, 0xFF, body_size) != nullptr) {
        return absl::InvalidArgumentError(absl::StrCat(
            "the JPEG image is damaged: the scan header at byte ", i,
            frame_at == 0 ? " comes before its frame header" : " is invalid"));
      }
      ++scans;
      // Entropy-coded data runs to the next marker; inside it 0xFF is
      // followed by a stuffed 0x00 or a restart marker.
      size_t end = i + 2 + length;
      while (end < size) {
        const void* ff = std::memchr(p + end, 0xFF, size - end);
        if (ff == nullptr) {
          end = size;
          break;
        }
        end = static_cast<const unsigned char*>(ff) - p;
        if (end + 1 >= size) break;
        const uint8_t next = p[end + 1];
        if (next != 0x00 && !IsRestartMarker(next)) break;
        end += 2;
      }
      // Past the limit the scans are only counted, for the message.
      if (scans <= kMaxJpegScans) {
        out.append(jpeg.data() + i, end - i);
        // FFmpeg goes on after a scan from the byte after the last one its
        // entropy decoder read. It is given the scan up to and including the
        // next marker's 0xFF, and its bit reader stops at most one byte past
        // that, so it can land on the marker's second byte and miss the
        // marker. With two fill bytes (valid JPEG) it lands on a 0xFF of the
        // marker's at worst.
        out.append("\xff\xff", 2);
      }
      i = end;
      continue;
    } else if (marker == kDqt) {
      // Tables of 1 + 64 bytes (8-bit) or 1 + 128 (16-bit) that fill the
      // segment exactly: FFmpeg would look for markers in any rest.
      size_t at = 0;
      while (at < body_size && (body[at] >> 4) <= 1 &&
             at + 1 + 64 * (1 + (body[at] >> 4)) <= body_size) {
        at += 1 + 64 * (1 + (body[at] >> 4));
      }
      if (at != body_size) {
        return absl::InvalidArgumentError(absl::StrCat(
            "the JPEG image is damaged: its quantisation tables at byte ", i,
            " do not fill their segment"));
      }
      out.append(segment.data(), segment.size());
    } else if (marker == kDht || marker == kDri || marker == kCom) {
      // FFmpeg reads these to their end (or fails on them).
      out.append(segment.data(), segment.size());
    } else if (marker >= kApp0 && marker <= kApp15) {
      // Metadata, dropped: EXIF (with its thumbnail), ICC profiles, XMP,
      // JFIF. Adobe's APP14 is kept: its transform flag says whether three
      // or four components are YCbCr or RGB (CMYK).
      if (marker == kApp14 && body_size >= 12 &&
          std::memcmp(body, "Adobe", 5) == 0) {
        out.append(segment.data(), segment.size());
      }
      // The first EXIF segment's orientation is applied to the pixels.
      if (marker == kApp1 && orientation != nullptr && !seen_exif) {
        const absl::string_view contents = jpeg.substr(i + 4, body_size);
        if (IsExifSegment(contents)) {
          seen_exif = true;
          *orientation = ExifOrientation(contents);
        }
      }
    } else {
      // SOF5-7 and SOF13-15 (hierarchical), SOF9-11 (arithmetic coding), JPG,
      // DAC, DNL, DHP, EXP and JPG0-13 (including JPEG-LS): not decodable,
      // and FFmpeg looks for markers inside them instead of skipping them.
      return absl::InvalidArgumentError(absl::StrFormat(
          "the JPEG image has a 0xFF%02X marker at byte %d, which is not part "
          "of a baseline, progressive or lossless Huffman-coded JPEG; "
          "re-encode it as a standard JPEG",
          marker, i));
    }
    i += 2 + length;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "the JPEG image is truncated: its ", size,
      " bytes end before the end-of-image marker; send the complete file"));
}

}  // namespace stylizer
