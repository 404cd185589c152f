// Sizes from PNG and JPEG headers, and the sizes they make; see image_codec.h.
#include "server/service/image_probe.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

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

// The first frame header (SOFn) of the JPEG `d`: its marker, sample
// precision, size and components' sampling factors.
struct JpegFrame {
  uint8_t marker = 0;
  int precision = 8;
  int width = 0;
  int height = 0;
  struct Component {
    int h = 1;  // horizontal sampling factor
    int v = 1;  // vertical sampling factor
  };
  std::vector<Component> components;
};

absl::StatusOr<JpegFrame> ReadJpegFrame(absl::string_view d) {
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
      // length(2) precision(1) height(2) width(2) components(1), then per
      // component its id(1), sampling factors(1: h << 4 | v), table(1).
      if (i + 9 > d.size()) break;
      JpegFrame frame;
      frame.marker = marker;
      frame.precision = p[i + 4];
      frame.height = AV_RB16(p + i + 5);
      frame.width = AV_RB16(p + i + 7);
      if (frame.width == 0 || frame.height == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("the JPEG header gives an invalid size ", frame.width,
                         "x", frame.height));
      }
      // The components, as far as the file holds them (the size is all the
      // probe needs; CheckJpegAndDropMetadata refuses a short header).
      const size_t count = i + 10 <= d.size() ? p[i + 9] : 0;
      for (size_t c = 0; c < count && i + 13 + 3 * c <= d.size(); ++c) {
        const uint8_t factors = p[i + 11 + 3 * c];
        frame.components.push_back(
            {std::clamp(factors >> 4, 1, 4), std::clamp(factors & 15, 1, 4)});
      }
      return frame;
    }
    if (marker == 0xD9 || marker == 0xDA || length < 2) break;
    i += 2 + length;
  }
  return absl::InvalidArgumentError(
      "the JPEG image is truncated or damaged: no frame header");
}

absl::StatusOr<ImageSize> ProbeJpeg(absl::string_view d) {
  absl::StatusOr<JpegFrame> frame = ReadJpegFrame(d);
  if (!frame.ok()) return frame.status();
  return ImageSize{frame->width, frame->height};
}

// What FFmpeg's JPEG decoder holds for `frame`, from its frame header:
//  - the decoded picture, each component at its own sampling (a 4:2:0 file:
//    1.5 bytes a pixel, 4:4:4: 3, CMYK: 4, grey: 1), in whole 8x8 blocks of
//    whole MCUs, 2 bytes a sample past 8 bits of precision. Chroma layouts
//    other than 4:4:4, 4:2:2, 4:4:0, 4:2:0 and 4:1:1 (with equal chroma
//    planes) may be decoded into a picture with fuller chroma planes, so
//    there every component is counted at the full size;
//  - for a progressive file (SOF2, SOF6, SOF10, SOF14), every coefficient
//    of every block of every component, 2 bytes each, kept until the last
//    scan: 2 bytes a sample more;
//  - an eighth more, for what else decoding holds (the file's copies, the
//    scaler's buffers) and what the allocator keeps.
// Measured at 8192x8192 sent with max_side 64 (peak RSS above the server's
// before the call; the charge): baseline 4:2:0 64-105 MiB (108), baseline
// 4:4:4 199-201 (216), baseline CMYK 260-280 (288), grey 64-68 (72),
// progressive 4:2:0 272-289 (324), progressive 4:4:4 576-578 (648),
// progressive CMYK 768-779 (864), progressive grey 192 (216).
// The picture goes to the scaler as it is: no RGB copy at full size.
int64_t JpegDecodeBytes(const JpegFrame& frame) {
  int hmax = 1, vmax = 1;
  for (const JpegFrame::Component& c : frame.components) {
    hmax = std::max(hmax, c.h);
    vmax = std::max(vmax, c.v);
  }
  // Whole MCUs of 8 * hmax x 8 * vmax pixels.
  const int64_t mcus = int64_t{(frame.width + 8 * hmax - 1) / (8 * hmax)} *
                       ((frame.height + 8 * vmax - 1) / (8 * vmax));
  bool native = frame.components.size() == 1;
  if (frame.components.size() >= 3) {
    const JpegFrame::Component& luma = frame.components[0];
    native = true;
    for (size_t c = 1; c < frame.components.size(); ++c) {
      const JpegFrame::Component& chroma = frame.components[c];
      if (frame.components.size() == 4 && c == 3) {
        native = native && chroma.h == luma.h && chroma.v == luma.v;
      } else {
        native = native && chroma.h == 1 && chroma.v == 1;
      }
    }
    native = native &&
             ((luma.h <= 2 && luma.v <= 2) || (luma.h == 4 && luma.v == 1));
  }
  const bool progressive = (frame.marker & 3) == 2;
  const int64_t picture_bytes_a_sample = frame.precision > 8 ? 2 : 1;
  int64_t bytes = 0;
  for (const JpegFrame::Component& c : frame.components) {
    const int64_t samples = mcus * c.h * c.v * 64;
    const int64_t full = mcus * hmax * vmax * 64;
    bytes += (native ? samples : full) * picture_bytes_a_sample;
    if (progressive) bytes += samples * 2;
  }
  return bytes + bytes / 8;
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
  if (IsJpeg(data)) {
    absl::StatusOr<JpegFrame> frame = ReadJpegFrame(data);
    // Without a readable frame header the image is refused before decoding;
    // 4 bytes a pixel (CMYK) otherwise.
    if (!frame.ok() || frame->components.empty()) return pixels * 4;
    return JpegDecodeBytes(*frame);
  }
  if (!IsPng(data) || data.size() < 26) return pixels * 4;
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
