// Sizes from PNG and JPEG headers, and the sizes they make; see image_codec.h.
#include "server/service/image_probe.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/common/image_kind.h"
#include "server/service/image_codec.h"

extern "C" {
#include <libavutil/intreadwrite.h>
}

namespace stylizer {
namespace {

constexpr unsigned char kPngSignature[8] = {0x89, 'P',  'N',  'G',
                                            '\r', '\n', 0x1a, '\n'};

}  // namespace

bool IsPng(absl::string_view d) {
  return d.size() >= 8 && std::memcmp(d.data(), kPngSignature, 8) == 0;
}
bool IsJpeg(absl::string_view d) {
  return d.size() >= 3 && static_cast<uint8_t>(d[0]) == 0xFF &&
         static_cast<uint8_t>(d[1]) == 0xD8 &&
         static_cast<uint8_t>(d[2]) == 0xFF;
}

namespace {

absl::StatusOr<ImageSize> ProbePng(absl::string_view d) {
  // Signature (8), chunk length (4), "IHDR" (4), width (4), height (4).
  const auto* p = reinterpret_cast<const unsigned char*>(d.data());
  if (d.size() < 24 || std::memcmp(p + 12, "IHDR", 4) != 0) {
    return absl::InvalidArgumentError(
        "the PNG image is truncated or damaged: no IHDR header");
  }
  const uint32_t w = AV_RB32(p + 16), h = AV_RB32(p + 20);
  if (w == 0 || h == 0 || w > 0x7fffffff || h > 0x7fffffff) {
    return absl::InvalidArgumentError(
        absl::StrCat("the PNG header gives an invalid size ", w, "x", h));
  }
  return ImageSize{static_cast<int>(w), static_cast<int>(h)};
}

absl::StatusOr<ImageSize> ProbeJpeg(absl::string_view d) {
  const auto* p = reinterpret_cast<const unsigned char*>(d.data());
  size_t i = 2;  // after SOI
  while (i + 4 <= d.size()) {
    if (p[i] != 0xFF) {
      return absl::InvalidArgumentError(
          "the JPEG image is damaged: expected a marker before the frame "
          "header");
    }
    const uint8_t marker = p[i + 1];
    if (marker == 0xFF) {  // fill byte
      ++i;
      continue;
    }
    if (marker == 0xD8 || marker == 0x01 ||
        (marker >= 0xD0 && marker <= 0xD7)) {
      i += 2;  // markers without a length
      continue;
    }
    if (marker < 0xC0) {
      // Not a marker to FFmpeg's decoder, which would look for one inside
      // what follows rather than skip it by a length (see image_structure.h);
      // the probe must not find a frame header that the decoder does not.
      return absl::InvalidArgumentError(absl::StrFormat(
          "the JPEG image is damaged: 0xFF%02X at byte %d is not a marker",
          marker, i));
    }
    const uint16_t length = AV_RB16(p + i + 2);
    const bool sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 &&
                     marker != 0xC8 && marker != 0xCC;
    if (sof) {
      // length(2) precision(1) height(2) width(2)
      if (i + 9 > d.size()) break;
      const int h = AV_RB16(p + i + 5), w = AV_RB16(p + i + 7);
      if (w == 0 || h == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("the JPEG header gives an invalid size ", w, "x", h));
      }
      return ImageSize{w, h};
    }
    if (marker == 0xD9 || marker == 0xDA || length < 2) break;
    i += 2 + length;
  }
  return absl::InvalidArgumentError(
      "the JPEG image is truncated or damaged: no frame header");
}

}  // namespace

absl::StatusOr<ImageSize> ProbeImageSize(absl::string_view encoded) {
  if (IsPng(encoded)) return ProbePng(encoded);
  if (IsJpeg(encoded)) return ProbeJpeg(encoded);
  std::string head;
  for (size_t i = 0; i < std::min<size_t>(encoded.size(), 8); ++i) {
    absl::StrAppendFormat(&head, "%02x", static_cast<uint8_t>(encoded[i]));
  }
  if (absl::string_view kind = OtherImageKind(encoded); !kind.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "image.encoded is a ", kind, " image (it starts with bytes ", head,
        "), which this server does not decode; convert it to PNG or JPEG, or "
        "send raw RGB in image.raw"));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "image.encoded is neither PNG nor JPEG (it starts with bytes ",
      head.empty() ? "<none>" : head,
      "); send a PNG or JPEG file, or raw RGB in image.raw"));
}

ImageSize DecodedSize(const v1::Image& image, uint64_t max_pixels) {
  uint64_t width = 0;
  uint64_t height = 0;
  if (image.has_raw()) {
    width = image.raw().width();
    height = image.raw().height();
  } else {
    absl::StatusOr<ImageSize> size = ProbeImageSize(image.encoded());
    if (!size.ok()) return ImageSize();
    width = static_cast<uint64_t>(size->width);
    height = static_cast<uint64_t>(size->height);
  }
  if (width == 0 || height == 0 || width > max_pixels || height > max_pixels ||
      width * height > max_pixels ||
      (image.has_raw() && image.raw().rgb().size() != width * height * 3)) {
    return ImageSize();
  }
  return ImageSize{static_cast<int>(width), static_cast<int>(height)};
}

int64_t ScalingWorkBytes(const v1::Image& image, ImageSize size) {
  const int64_t pixels = int64_t{size.width} * size.height;
  if (!image.has_encoded()) return pixels * 3;  // the padded copy
  const std::string& data = image.encoded();
  if (!IsPng(data) || data.size() < 26) return pixels * 4;  // JPEG
  // IHDR: width, height, bit depth (byte 24), colour type (byte 25).
  const int depth = static_cast<uint8_t>(data[24]);
  const int colour_type = static_cast<uint8_t>(data[25]);
  // Samples a pixel as decoded, by colour type: grey and RGB may carry a
  // tRNS chunk, which the decoder turns into an alpha channel, so every PNG
  // is counted with one (grey 0 -> 2, RGB 2 -> 4, palette 3 -> 1 index,
  // grey and alpha 4 -> 2, RGBA 6 -> 4).
  const int channels = colour_type == 3                       ? 1
                       : colour_type == 0 || colour_type == 4 ? 2
                                                              : 4;
  const int64_t decoded = pixels * channels * (depth == 16 ? 2 : 1);
  return decoded + pixels * 3;  // and the flattened copy
}

ImageSize ScaledImageSize(ImageSize size, uint32_t max_side) {
  const int longer = std::max(size.width, size.height);
  if (max_side == 0 || longer <= 0 ||
      static_cast<uint32_t>(longer) <= max_side) {
    return size;
  }
  const double scale = static_cast<double>(max_side) / longer;
  auto side = [&](int s) {
    return s == longer ? static_cast<int>(max_side)
                       : std::max(1, static_cast<int>(std::lround(s * scale)));
  };
  return ImageSize{side(size.width), side(size.height)};
}

}  // namespace stylizer
