// libFuzzer target over still-image decoding as StylizeImage and
// StylizeFrames do it: DecodeImage on the bytes (PNG and JPEG by their
// signature, anything else as a raw RGB24 image; once more with a max_side
// for what decodes), then EncodeImage of the
// result as PNG, JPEG and raw. A PNG is decoded once as it is and once with
// its chunk CRCs corrected, so that mutations reach the decoder itself. Any
// crash, leak or sanitizer report is a bug; errors returned as absl::Status are
// the expected outcome.
#include <cstddef>
#include <cstdint>
#include <string>

#include "server/service/image_codec.h"

extern "C" {
#include <libavutil/crc.h>
#include <libavutil/intreadwrite.h>
#include <libavutil/log.h>
}

namespace {

// Keeps one input's work small; thin shapes are refused anyway.
constexpr uint64_t kMaxPixels = 1024 * 1024;
// Decoded images up to this size are also encoded back.
constexpr size_t kMaxEncodePixels = 256 * 256;

// Raw inputs: bytes 0-1 and 2-3 are the width and height (little-endian),
// the rest the pixels (DecodeImage checks the byte count).
stylizer::v1::Image ToImage(const uint8_t* data, size_t size) {
  stylizer::v1::Image image;
  const bool png = size >= 4 && data[0] == 0x89 && data[1] == 'P';
  const bool jpeg = size >= 2 && data[0] == 0xFF && data[1] == 0xD8;
  if (png || jpeg || size < 4) {
    image.set_encoded(reinterpret_cast<const char*>(data), size);
    return image;
  }
  stylizer::v1::RawImage* raw = image.mutable_raw();
  raw->set_width(data[0] | (data[1] << 8));
  raw->set_height(data[2] | (data[3] << 8));
  raw->set_rgb(reinterpret_cast<const char*>(data + 4), size - 4);
  return image;
}

// A copy of the PNG `bytes` with every complete chunk's CRC made correct, so
// that mutated PNGs also get past the CRC check into the decoder.
std::string WithCorrectPngCrcs(std::string bytes) {
  const AVCRC* table = av_crc_get_table(AV_CRC_32_IEEE_LE);
  auto* p = reinterpret_cast<uint8_t*>(bytes.data());
  size_t pos = 8;
  while (bytes.size() - pos >= 12) {
    const uint32_t length = AV_RB32(p + pos);
    if (length > bytes.size() - pos - 12) break;
    const uint32_t crc =
        av_crc(table, UINT32_MAX, p + pos + 4, length + 4) ^ UINT32_MAX;
    AV_WB32(p + pos + 8 + length, crc);
    pos += 12 + length;
  }
  return bytes;
}

void DecodeAndEncode(const stylizer::v1::Image& image) {
  absl::StatusOr<stylizer::RgbFrame> frame =
      stylizer::DecodeImage(image, kMaxPixels);
  if (!frame.ok()) return;
  // Once more scaled down (StylizeImageRequest.max_side), to a side that
  // follows from the picture: flattening, area scaling, padded copies.
  const uint32_t max_side =
      1 + static_cast<uint32_t>(frame->width * 7 + frame->height) % 300;
  (void)stylizer::DecodeImage(image, kMaxPixels, max_side);
  if (static_cast<size_t>(frame->width) * frame->height > kMaxEncodePixels) {
    return;
  }
  for (auto format :
       {stylizer::v1::IMAGE_FORMAT_PNG, stylizer::v1::IMAGE_FORMAT_JPEG,
        stylizer::v1::IMAGE_FORMAT_RAW}) {
    stylizer::v1::Image out;
    (void)stylizer::EncodeImage(*frame, format, &out);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  av_log_set_level(AV_LOG_QUIET);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const stylizer::v1::Image image = ToImage(data, size);
  (void)stylizer::ProbeImageSize(image.encoded());
  DecodeAndEncode(image);
  const std::string& encoded = image.encoded();
  if (encoded.size() > 8 && encoded[1] == 'P') {
    stylizer::v1::Image fixed;
    fixed.set_encoded(WithCorrectPngCrcs(encoded));
    if (fixed.encoded() != encoded) DecodeAndEncode(fixed);
  }
  return 0;
}
