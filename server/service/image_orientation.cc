// EXIF orientation: reading the tag and turning the pixels; see
// image_orientation.h.
#include "server/service/image_orientation.h"

#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "server/media/rgb_turn.h"

namespace stylizer {
namespace {

constexpr char kExifHeader[] = {'E', 'x', 'i', 'f', 0, 0};
constexpr uint16_t kOrientationTag = 0x0112;
constexpr uint16_t kTypeShort = 3;
constexpr size_t kIfdEntrySize = 12;

// Reads TIFF integers in the byte order the TIFF header declares.
class TiffReader {
 public:
  TiffReader(const unsigned char* data, size_t size, bool big_endian)
      : data_(data), size_(size), big_endian_(big_endian) {}
  bool U16(size_t at, uint16_t* v) const {
    if (at > size_ || size_ - at < 2) return false;
    *v = big_endian_ ? (data_[at] << 8) | data_[at + 1]
                     : (data_[at + 1] << 8) | data_[at];
    return true;
  }
  bool U32(size_t at, uint32_t* v) const {
    uint16_t a, b;
    if (!U16(at, &a) || !U16(at + 2, &b)) return false;
    *v = big_endian_ ? (uint32_t{a} << 16) | b : (uint32_t{b} << 16) | a;
    return true;
  }

 private:
  const unsigned char* data_;
  size_t size_;
  bool big_endian_;
};

}  // namespace

bool IsExifSegment(absl::string_view app1_body) {
  return app1_body.size() >= sizeof(kExifHeader) &&
         std::memcmp(app1_body.data(), kExifHeader, sizeof(kExifHeader)) == 0;
}

int ExifOrientation(absl::string_view app1_body) {
  if (!IsExifSegment(app1_body)) return 0;
  return TiffOrientation(app1_body.substr(sizeof(kExifHeader)));
}

int TiffOrientation(absl::string_view tiff) {
  const auto* p = reinterpret_cast<const unsigned char*>(tiff.data());
  if (tiff.size() < 8) return 0;
  bool big_endian;
  if (std::memcmp(p, "MM\0*", 4) == 0) {
    big_endian = true;
  } else if (std::memcmp(p, "II*\0", 4) == 0) {
    big_endian = false;
  } else {
    return 0;
  }
  const TiffReader r(p, tiff.size(), big_endian);
  uint32_t ifd = 0;
  uint16_t entries = 0;
  if (!r.U32(4, &ifd) || !r.U16(ifd, &entries)) return 0;
  for (uint32_t i = 0; i < entries; ++i) {
    const size_t at = size_t{ifd} + 2 + i * kIfdEntrySize;
    uint16_t tag, type, value;
    uint32_t count;
    if (!r.U16(at, &tag) || !r.U16(at + 2, &type) || !r.U32(at + 4, &count) ||
        !r.U16(at + 8, &value)) {
      return 0;
    }
    if (tag != kOrientationTag) continue;
    if (type != kTypeShort || count != 1 || value < 1 || value > 8) return 0;
    return value;
  }
  return 0;
}

absl::Status ApplyExifOrientation(int orientation, RgbFrame* frame) {
  if (orientation == 0 || orientation == 1) return absl::OkStatus();
  if (orientation < 0 || orientation > 8) {
    return absl::InvalidArgumentError(
        absl::StrCat("EXIF orientation ", orientation, " is not 1-8"));
  }
  frame->pixels = media::TurnRgb24(frame->pixels, &frame->width,
                                   &frame->height, orientation);
  return absl::OkStatus();
}

}  // namespace stylizer
