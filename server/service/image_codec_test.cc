// Tests of still-image coding: PNG/JPEG/raw round trips, the pixel formats
// FFmpeg hands back (grey, palette, alpha, 16-bit: made by the ffmpeg CLI),
// oversize headers refused before decoding, and malformed input.
#include "server/service/image_codec.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stylizer {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kLimit = 4096ull * 2160ull;

RgbFrame Gradient(int w, int h) {
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

double Psnr(const RgbFrame& a, const RgbFrame& b) {
  double se = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) {
    const double d = double(a.pixels[i]) - b.pixels[i];
    se += d * d;
  }
  const double mse = se / a.pixels.size();
  return mse == 0 ? 99 : 10 * std::log10(255.0 * 255.0 / mse);
}

v1::Image Encoded(std::string bytes) {
  v1::Image image;
  image.set_encoded(std::move(bytes));
  return image;
}

TEST(ImageCodecTest, PngRoundTripIsLossless) {
  const RgbFrame in = Gradient(65, 47);
  v1::Image png;
  ASSERT_TRUE(EncodeImage(in, v1::IMAGE_FORMAT_PNG, &png).ok());
  auto size = ProbeImageSize(png.encoded());
  ASSERT_TRUE(size.ok()) << size.status();
  EXPECT_EQ(size->width, 65);
  EXPECT_EQ(size->height, 47);
  auto out = DecodeImage(png, kLimit);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->width, 65);
  EXPECT_EQ(out->height, 47);
  EXPECT_EQ(out->pixels, in.pixels);
}

TEST(ImageCodecTest, JpegRoundTripIsClose) {
  const RgbFrame in = Gradient(64, 48);
  v1::Image jpeg;
  ASSERT_TRUE(EncodeImage(in, v1::IMAGE_FORMAT_JPEG, &jpeg).ok());
  auto size = ProbeImageSize(jpeg.encoded());
  ASSERT_TRUE(size.ok()) << size.status();
  EXPECT_EQ(size->width, 64);
  auto out = DecodeImage(jpeg, kLimit);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->pixels.size(), in.pixels.size());
  EXPECT_GT(Psnr(in, *out), 30);
}

TEST(ImageCodecTest, RawRoundTrip) {
  const RgbFrame in = Gradient(3, 2);
  v1::Image raw;
  ASSERT_TRUE(EncodeImage(in, v1::IMAGE_FORMAT_RAW, &raw).ok());
  auto out = DecodeImage(raw, kLimit);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->pixels, in.pixels);
  EXPECT_EQ(ResolveOutputFormat(v1::IMAGE_FORMAT_UNSPECIFIED, raw),
            v1::IMAGE_FORMAT_RAW);
  EXPECT_EQ(ResolveOutputFormat(v1::IMAGE_FORMAT_UNSPECIFIED, Encoded("x")),
            v1::IMAGE_FORMAT_PNG);
  EXPECT_EQ(ResolveOutputFormat(v1::IMAGE_FORMAT_JPEG, raw),
            v1::IMAGE_FORMAT_JPEG);
}

// Pixel formats the decoders produce besides RGB24, made by the ffmpeg CLI.
TEST(ImageCodecTest, DecodesOtherPixelFormats) {
  const std::string dir = ::testing::TempDir();
  for (const char* spec : {"gray:png", "rgba:png", "pal8:png", "rgb48be:png",
                           "ya8:png", "gray:jpg", "yuvj444p:jpg"}) {
    const std::string fmt(spec, std::strchr(spec, ':'));
    const std::string ext(std::strchr(spec, ':') + 1);
    const std::string path = absl::StrCat(dir, "/in_", fmt, ".", ext);
    const std::string cmd = absl::StrCat(
        "ffmpeg -v error -y -f lavfi -i testsrc=size=40x30 -frames:v 1 "
        "-pix_fmt ",
        fmt, " ", path);
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    std::ifstream file(path, std::ios::binary);
    std::stringstream bytes;
    bytes << file.rdbuf();
    auto out = DecodeImage(Encoded(bytes.str()), kLimit);
    ASSERT_TRUE(out.ok()) << spec << ": " << out.status();
    EXPECT_EQ(out->width, 40) << spec;
    EXPECT_EQ(out->height, 30) << spec;
    EXPECT_EQ(out->pixels.size(), 40u * 30 * 3) << spec;
    std::remove(path.c_str());
  }
}

std::string PngHeader(uint32_t w, uint32_t h) {
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
      {Encoded("GIF89a not supported"), "neither PNG nor JPEG"},
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

}  // namespace
}  // namespace stylizer
