// Test helpers for still-image coding (image_codec_*_test.cc): the decode
// limit the tests use, a gradient picture, an Image of encoded bytes, and
// PNGs built by hand (a bare header, chunks with their CRCs, whole files of
// any colour type and depth from their rows).
#ifndef STYLIZER_SERVER_SERVICE_TESTING_TEST_IMAGES_H_
#define STYLIZER_SERVER_SERVICE_TESTING_TEST_IMAGES_H_

#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "gtest/gtest.h"
#include "server/service/image_codec.h"
#include "stylizer/v1/stylizer.pb.h"

namespace stylizer::testing {

// The pixel limit the tests decode under: a 4096x2160 frame's.
inline constexpr uint64_t kLimit = 4096ull * 2160ull;

// A `w` x `h` picture whose colours change across and down it.
inline RgbFrame Gradient(int w, int h) {
  RgbFrame f;
  f.width = w;
  f.height = h;
  f.pixels.resize(static_cast<size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      uint8_t* p = &f.pixels[(static_cast<size_t>(y) * w + x) * 3];
      p[0] = static_cast<uint8_t>(x * 255 / w);
      p[1] = static_cast<uint8_t>(y * 255 / h);
      p[2] = static_cast<uint8_t>((x + y) % 256);
    }
  }
  return f;
}

// An Image holding `bytes`, an encoded file.
inline v1::Image Encoded(std::string bytes) {
  v1::Image image;
  image.set_encoded(std::move(bytes));
  return image;
}

// The start of a PNG: its signature and an 8-bit RGB header of `w` x `h`
// (the header's CRC left zero: nothing reads that far).
inline std::string PngHeader(uint32_t w, uint32_t h) {
  std::string s("\x89PNG\r\n\x1a\n", 8);
  s += std::string("\0\0\0\x0dIHDR", 8);
  for (uint32_t v : {w, h}) {
    s += static_cast<char>(v >> 24);
    s += static_cast<char>(v >> 16);
    s += static_cast<char>(v >> 8);
    s += static_cast<char>(v);
  }
  s += std::string("\x08\x02\0\0\0", 5);
  s += std::string("\0\0\0\0", 4);  // CRC (never reached)
  return s;
}

// `v` in 4 bytes, the most significant first.
inline std::string BigEndian32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
          static_cast<char>(v >> 8), static_cast<char>(v)};
}

// One PNG chunk: length, type, data and a correct CRC.
inline std::string PngChunk(const std::string& type, const std::string& data) {
  std::string body = type + data;
  const uint32_t crc =
      crc32(0, reinterpret_cast<const Bytef*>(body.data()), body.size());
  return BigEndian32(data.size()) + body + BigEndian32(crc);
}

// A PNG of `w` x `h` pixels of colour type `colour_type` and bit depth
// `depth` (interlaced: Adam7), from `rows` (each row's filter byte
// included) deflated into one IDAT chunk, with `chunks` (PLTE, tRNS) before
// it.
inline std::string Png(uint32_t w, uint32_t h, int colour_type, int depth,
                       const std::string& rows, const std::string& chunks = "",
                       bool interlaced = false) {
  std::string ihdr = BigEndian32(w) + BigEndian32(h);
  ihdr += static_cast<char>(depth);
  ihdr += static_cast<char>(colour_type);
  ihdr += std::string("\x00\x00", 2);  // deflate, filter
  ihdr += interlaced ? '\x01' : '\x00';
  uLongf size = compressBound(rows.size());
  std::string z(size, '\0');
  EXPECT_EQ(compress(reinterpret_cast<Bytef*>(z.data()), &size,
                     reinterpret_cast<const Bytef*>(rows.data()), rows.size()),
            Z_OK);
  z.resize(size);
  return std::string("\x89PNG\r\n\x1a\n", 8) + PngChunk("IHDR", ihdr) + chunks +
         PngChunk("IDAT", z) + PngChunk("IEND", "");
}

}  // namespace stylizer::testing

#endif  // STYLIZER_SERVER_SERVICE_TESTING_TEST_IMAGES_H_
