// What still-image decoding refuses, with INVALID_ARGUMENT saying why:
// oversize headers and thin shapes before decoding, malformed, truncated and
// damaged PNGs and JPEGs (a bad CRC, rows or Adam7 passes missing), and
// compressed PNG metadata that would inflate to hundreds of MiB, dropped
// unread (peak RSS measured in a child process).
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/service/image_codec.h"
#include "server/service/testing/test_images.h"

extern "C" {
#include <libavutil/intreadwrite.h>
}

namespace stylizer {
namespace {

using testing::Encoded;
using testing::Gradient;
using ::testing::HasSubstr;
using testing::kLimit;
using testing::Png;
using testing::PngChunk;
using testing::PngHeader;

TEST(ImageCodecTest, RefusesOversizeHeadersBeforeDecoding) {
  auto png = DecodeImage(Encoded(PngHeader(100000, 100000)), kLimit);
  EXPECT_EQ(png.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(png.status().message(), HasSubstr("100000x100000"));
  EXPECT_THAT(png.status().message(), HasSubstr("limit"));

  // A JPEG whose SOF0 says 65000x65000.
  std::string jpeg("\xff\xd8\xff\xc0\x00\x11\x08\xfd\xe8\xfd\xe8\x03", 12);
  jpeg += std::string(12, '\0');
  auto j = DecodeImage(Encoded(jpeg), kLimit);
  EXPECT_EQ(j.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(j.status().message(), HasSubstr("65000x65000"));

  v1::Image raw;
  raw.mutable_raw()->set_width(100000);
  raw.mutable_raw()->set_height(100000);
  EXPECT_THAT(DecodeImage(raw, kLimit).status().message(), HasSubstr("limit"));

  // A 4K frame passes the check.
  auto ok = ProbeImageSize(PngHeader(3840, 2160));
  ASSERT_TRUE(ok.ok());
}

TEST(ImageCodecTest, RefusesMalformedImages) {
  v1::Image png;
  ASSERT_TRUE(EncodeImage(Gradient(32, 32), v1::IMAGE_FORMAT_PNG, &png).ok());
  std::string corrupt = png.encoded();
  for (size_t i = 40; i < corrupt.size(); ++i)
    corrupt[i] = static_cast<char>(i * 7);
  v1::Image jpeg;
  ASSERT_TRUE(EncodeImage(Gradient(32, 32), v1::IMAGE_FORMAT_JPEG, &jpeg).ok());

  const std::vector<std::pair<v1::Image, const char*>> cases = {
      {v1::Image(), "no image"},
      {Encoded(""), "empty"},
      {Encoded("not an image at all"), "neither PNG nor JPEG"},
      // A known format is named: it says what to convert from.
      {Encoded("GIF89a not supported"), "is a GIF image"},
      {Encoded(png.encoded().substr(0, 20)), "PNG"},
      {Encoded(png.encoded().substr(0, 60)), "PNG"},
      {Encoded(corrupt), "PNG"},
      {Encoded(jpeg.encoded().substr(0, 4)), "JPEG"},
      {Encoded(std::string("\xff\xd8\xff\xe0", 4) + std::string(50, 'x')),
       "JPEG"},
      {Encoded(PngHeader(0, 10)), "invalid size"},
  };
  for (const auto& [image, needle] : cases) {
    auto r = DecodeImage(image, kLimit);
    ASSERT_FALSE(r.ok()) << needle;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument)
        << r.status();
    EXPECT_THAT(r.status().message(), HasSubstr(needle));
  }
  v1::Image raw;
  raw.mutable_raw()->set_width(4);
  raw.mutable_raw()->set_height(4);
  raw.mutable_raw()->set_rgb(std::string(47, '\0'));
  EXPECT_THAT(DecodeImage(raw, kLimit).status().message(),
              HasSubstr("47 bytes"));
  raw.mutable_raw()->set_width(0);
  EXPECT_EQ(DecodeImage(raw, kLimit).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// A zlib stream that inflates to `mib` MiB of zeros (about 1 KiB per MiB).
std::string ZlibBomb(int mib) {
  z_stream z{};
  EXPECT_EQ(deflateInit(&z, 9), Z_OK);
  const std::string zeros(1 << 20, '\0');
  std::string out;
  std::vector<unsigned char> buf(1 << 16);
  for (int i = 0; i <= mib; ++i) {
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(zeros.data()));
    z.avail_in = i < mib ? zeros.size() : 0;
    const int flush = i < mib ? Z_NO_FLUSH : Z_FINISH;
    do {
      z.next_out = buf.data();
      z.avail_out = buf.size();
      deflate(&z, flush);
      out.append(reinterpret_cast<char*>(buf.data()), buf.size() - z.avail_out);
    } while (z.avail_out == 0);
  }
  deflateEnd(&z);
  return out;
}

// Inserts `chunk` right after the IHDR chunk of `png`.
std::string InsertAfterHeader(const std::string& png,
                              const std::string& chunk) {
  constexpr size_t kAfterIhdr = 8 + 12 + 13;
  return png.substr(0, kAfterIhdr) + chunk + png.substr(kAfterIhdr);
}

// How far `decode` raises the peak RSS, in MiB, measured in a child process
// (the peak of this process only ever grows); -1 if the decode failed.
template <typename Fn>
int PeakRssGrowthMiB(Fn decode) {
  const pid_t pid = fork();
  if (pid == 0) {
    struct rusage before {
    }, after{};
    getrusage(RUSAGE_SELF, &before);
    const bool ok = decode();
    getrusage(RUSAGE_SELF, &after);
    const long growth = (after.ru_maxrss - before.ru_maxrss) / 1024;
    _exit(ok ? static_cast<int>(std::min<long>(growth, 250)) : 255);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) {
    return -2;
  }
  return WEXITSTATUS(status) == 255 ? -1 : WEXITSTATUS(status);
}

// Issue 13: a 16x16 PNG with a small zTXt or iCCP chunk that inflates to
// hundreds of MiB made the decoder allocate all of it. The chunks are dropped
// unread now: the peak RSS stays put and the picture decodes.
TEST(ImageCodecTest, CompressedMetadataChunksAreNotInflated) {
  const RgbFrame in = Gradient(16, 16);
  v1::Image png;
  ASSERT_TRUE(EncodeImage(in, v1::IMAGE_FORMAT_PNG, &png).ok());
  constexpr int kBombMiB = 256;
  const std::string bomb = ZlibBomb(kBombMiB);
  ASSERT_LT(bomb.size(), 1u << 20);
  for (const std::string type : {"zTXt", "iTXt", "iCCP"}) {
    // keyword, NUL, then (iTXt: compression flag) method 0 and the stream.
    const std::string header = type == "iTXt"
                                   ? std::string("Comment\0\1\0\0\0", 12)
                                   : std::string("Comment\0\0", 9);
    const v1::Image bombed = Encoded(
        InsertAfterHeader(png.encoded(), PngChunk(type, header + bomb)));
    const int growth = PeakRssGrowthMiB([&] {
      auto out = DecodeImage(bombed, kLimit);
      return out.ok() && out->pixels == in.pixels;
    });
    EXPECT_GE(growth, 0) << type << ": the picture did not decode intact";
    EXPECT_LT(growth, 32) << type;
  }
}

// Issue 13: a JPEG cut at 25 % of its length and a PNG with a bad CRC
// decoded to a partly grey picture and OK; docs/api.md promises
// INVALID_ARGUMENT for truncated images.
TEST(ImageCodecTest, RefusesTruncatedAndDamagedImages) {
  const RgbFrame in = Gradient(256, 192);
  v1::Image jpeg, png;
  ASSERT_TRUE(EncodeImage(in, v1::IMAGE_FORMAT_JPEG, &jpeg).ok());
  ASSERT_TRUE(EncodeImage(in, v1::IMAGE_FORMAT_PNG, &png).ok());
  const std::string& j = jpeg.encoded();
  const std::string& p = png.encoded();
  // The first IDAT chunk starts 4 bytes before its type; its data 8 after.
  const size_t kIdat = p.find("IDAT") - 4;
  std::string bad_crc = p;
  bad_crc[kIdat + 8 + 100] ^= 0x10;  // one bit of the image data
  std::string bad_crc_only = p;
  const uint32_t idat_length = AV_RB32(p.data() + kIdat);
  bad_crc_only[kIdat + 8 + idat_length] ^= 0x01;  // the stored CRC itself

  const std::vector<std::pair<std::string, const char*>> cases = {
      {j.substr(0, j.size() / 4), "truncated"},
      {j.substr(0, j.size() / 2), "truncated"},
      {j.substr(0, j.size() - 2), "truncated"},  // everything but EOI
      {p.substr(0, p.size() / 4), "truncated"},
      {p.substr(0, p.size() - 12), "truncated"},  // everything but IEND
      {bad_crc, "CRC"},
      {bad_crc_only, "CRC"},
      // Intact chunks and CRCs, but the image data is no zlib stream.
      {std::string("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x10\0\0\0\x10"
                   "\x08\x02\0\0\0\x90\x91\x68\x36"
                   "\0\0\0\x04IDAT\xff\xff\xff\xff\x34\x98\xc7\xe4"
                   "\0\0\0\0IEND\xae\x42\x60\x82",
                   61),
       "cannot be decoded"},
  };
  for (const auto& [bytes, needle] : cases) {
    auto r = DecodeImage(Encoded(bytes), kLimit);
    EXPECT_FALSE(r.ok()) << needle << " (" << bytes.size() << " bytes)";
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument)
        << r.status();
    EXPECT_THAT(r.status().message(), HasSubstr(needle));
  }
  // Bytes after the end marker are ignored, as decoders always have; so are
  // stray bytes between a JPEG's segments after its frame header (libjpeg
  // skips them too).
  EXPECT_TRUE(DecodeImage(Encoded(j + "trailer"), kLimit).ok());
  const size_t sof = j.find("\xff\xc0");
  ASSERT_NE(sof, std::string::npos);
  const size_t sof_end =
      sof + 2 + ((uint8_t(j[sof + 2]) << 8) | uint8_t(j[sof + 3]));
  const std::string stray =
      j.substr(0, sof_end) + "\x01\x02" + j.substr(sof_end);
  auto with_stray = DecodeImage(Encoded(stray), kLimit);
  ASSERT_TRUE(with_stray.ok()) << with_stray.status();
  EXPECT_EQ(with_stray->pixels, DecodeImage(jpeg, kLimit)->pixels);
  EXPECT_TRUE(DecodeImage(Encoded(p + "trailer"), kLimit).ok());
}

// A PNG of `w` x `h` 8-bit RGB pixels whose image data is `raw`.
std::string PngWithImageData(uint32_t w, uint32_t h, bool interlaced,
                             const std::string& raw) {
  return Png(w, h, /*colour_type=*/2, /*depth=*/8, raw, "", interlaced);
}

// Found while fixing issue 13: a PNG whose image data inflates to fewer rows
// than its header declares (a file cut inside its zlib stream, then given a
// correct IEND) decoded to OK with the missing rows blank: FFmpeg's decoder
// only logs "IEND without all image".
TEST(ImageCodecTest, RefusesPngWithFewerRowsThanItsHeader) {
  constexpr uint32_t kW = 16, kH = 16;
  const std::string row = std::string(1, '\0') + std::string(kW * 3, '\x60');
  std::string all_rows;
  for (uint32_t y = 0; y < kH; ++y) all_rows += row;

  auto whole =
      DecodeImage(Encoded(PngWithImageData(kW, kH, false, all_rows)), kLimit);
  ASSERT_TRUE(whole.ok()) << whole.status();
  EXPECT_EQ(whole->pixels, std::vector<uint8_t>(kW * kH * 3, 0x60));

  for (size_t rows : {size_t{8}, size_t{15}}) {
    auto cut =
        DecodeImage(Encoded(PngWithImageData(
                        kW, kH, false, all_rows.substr(0, rows * row.size()))),
                    kLimit);
    EXPECT_EQ(cut.status().code(), absl::StatusCode::kInvalidArgument)
        << rows << " rows: " << cut.status();
    EXPECT_THAT(cut.status().message(), HasSubstr("truncated"));
    EXPECT_THAT(cut.status().message(), HasSubstr("16x16"));
  }
  // One byte short of the last row.
  auto short_row =
      DecodeImage(Encoded(PngWithImageData(
                      kW, kH, false, all_rows.substr(0, all_rows.size() - 1))),
                  kLimit);
  EXPECT_EQ(short_row.status().code(), absl::StatusCode::kInvalidArgument);
}

// Interlaced (Adam7) PNGs store seven passes; for 16x16 RGB they hold
// 14 + 14 + 26 + 52 + 100 + 200 + 392 = 798 bytes of filtered rows.
TEST(ImageCodecTest, InterlacedPngNeedsEveryPass) {
  const std::string passes(798, '\0');  // filter 0, black pixels
  auto whole =
      DecodeImage(Encoded(PngWithImageData(16, 16, true, passes)), kLimit);
  ASSERT_TRUE(whole.ok()) << whole.status();
  EXPECT_EQ(whole->width, 16);
  auto cut = DecodeImage(
      Encoded(PngWithImageData(16, 16, true, passes.substr(0, 797))), kLimit);
  EXPECT_EQ(cut.status().code(), absl::StatusCode::kInvalidArgument)
      << cut.status();
}

// Issue 13: a raw 8847360x1 image (inside the pixel limit) took about 10 GB
// in the model. Thin shapes are refused from the header or the raw size, so
// before any decoding (media/frame_shape.h has the rule).
TEST(ImageCodecTest, RefusesThinShapes) {
  v1::Image raw;
  raw.mutable_raw()->set_width(8847360);
  raw.mutable_raw()->set_height(1);
  raw.mutable_raw()->set_rgb(std::string(8847360 * 3, '\x80'));
  auto r = DecodeImage(raw, kLimit);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("8847360x1 frame is too thin"));

  auto png = DecodeImage(Encoded(PngHeader(2, 100000)), kLimit);
  EXPECT_EQ(png.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(png.status().message(), HasSubstr("2x100000 frame is too thin"));

  v1::Image thin_but_small;
  ASSERT_TRUE(
      EncodeImage(Gradient(400, 10), v1::IMAGE_FORMAT_PNG, &thin_but_small)
          .ok());
  EXPECT_TRUE(DecodeImage(thin_but_small, kLimit).ok());
}

}  // namespace
}  // namespace stylizer
