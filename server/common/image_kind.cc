// Image format signatures; see image_kind.h.
#include "server/common/image_kind.h"

#include "absl/strings/match.h"

namespace stylizer {
namespace {

// ISO base media files (HEIF, AVIF): a box "ftyp" at byte 4, then the major
// brand.
absl::string_view IsoImageKind(absl::string_view head) {
  if (head.size() < 12 || head.substr(4, 4) != "ftyp") return {};
  const absl::string_view brand = head.substr(8, 4);
  if (brand == "avif" || brand == "avis") return "AVIF";
  for (absl::string_view heif : {"heic", "heix", "hevc", "heim", "heis", "hevm",
                                 "hevs", "mif1", "msf1"}) {
    if (brand == heif) return "HEIF";
  }
  return {};
}

// "BM", then (after the file header's 14 bytes) the size of a DIB header
// of one of the kinds there are: "BM" alone starts plenty of text.
bool IsBmp(absl::string_view head) {
  if (head.size() < 18 || !absl::StartsWith(head, "BM")) return false;
  const auto byte = [&](size_t i) {
    return static_cast<uint32_t>(static_cast<uint8_t>(head[i]));
  };
  const uint32_t dib =
      byte(14) | byte(15) << 8 | byte(16) << 16 | byte(17) << 24;
  for (uint32_t size : {12u, 16u, 40u, 52u, 56u, 64u, 108u, 124u}) {
    if (dib == size) return true;
  }
  return false;
}

}  // namespace

absl::string_view OtherImageKind(absl::string_view head) {
  if (head.size() >= 12 && absl::StartsWith(head, "RIFF") &&
      head.substr(8, 4) == "WEBP") {
    return "WebP";
  }
  if (absl::StartsWith(head, "GIF87a") || absl::StartsWith(head, "GIF89a")) {
    return "GIF";
  }
  if (IsBmp(head)) return "BMP";
  if (absl::StartsWith(head, absl::string_view("II*\0", 4)) ||
      absl::StartsWith(head, absl::string_view("MM\0*", 4))) {
    return "TIFF";
  }
  if (absl::string_view iso = IsoImageKind(head); !iso.empty()) return iso;
  if (absl::StartsWith(head,
                       absl::string_view("\0\0\0\x0cjP  \r\n\x87\n", 12)) ||
      absl::StartsWith(head, absl::string_view("\xff\x4f\xff\x51", 4))) {
    return "JPEG 2000";
  }
  if (absl::StartsWith(head, absl::string_view("\xff\x0a", 2)) ||
      absl::StartsWith(head,
                       absl::string_view("\0\0\0\x0cJXL \r\n\x87\n", 12))) {
    return "JPEG XL";
  }
  // Reserved 0, type 1 (icon), then a count of at least one.
  if (head.size() >= 6 &&
      absl::StartsWith(head, absl::string_view("\0\0\1\0", 4)) &&
      (head[4] != 0 || head[5] != 0)) {
    return "ICO";
  }
  if (absl::StartsWith(head, "8BPS")) return "PSD";
  if (absl::StartsWith(head, "qoif")) return "QOI";
  return {};
}

}  // namespace stylizer
