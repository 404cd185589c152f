// Tests of still-image coding that should come out right: PNG, JPEG and raw
// round trips (tiny and odd sizes, the colour of a JPEG's odd last column and
// row), the pixel formats FFmpeg hands back (grey, palette, alpha, 16-bit:
// made by the ffmpeg CLI), transparency over white, widths the decoder's
// alignment does not divide, and which outputs can be sent. Refusals, scaling
// and hand-built JPEGs have programs of their own
// (image_codec_{refusal,scaling,jpeg_walk}_test).
#include "server/service/image_codec.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/service/testing/test_images.h"

extern "C" {
#include <libavcodec/avcodec.h>
}

namespace stylizer {
namespace {

using testing::Encoded;
using testing::Gradient;
using testing::kLimit;
using testing::Png;
using testing::PngChunk;

double Psnr(const RgbFrame& a, const RgbFrame& b) {
  double se = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) {
    const double d = double(a.pixels[i]) - b.pixels[i];
    se += d * d;
  }
  const double mse = se / a.pixels.size();
  return mse == 0 ? 99 : 10 * std::log10(255.0 * 255.0 / mse);
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

// A flat colour stays flat to the last column whatever the width: swscale's
// default chroma averaged the last odd column with the padding's black.
TEST(ImageCodecTest, JpegKeepsTheLastColumnOfAnOddWidth) {
  for (int w : {64, 65, 67}) {
    RgbFrame in;
    in.width = w;
    in.height = 45;
    in.pixels.resize(static_cast<size_t>(w) * 45 * 3);
    for (size_t i = 0; i < in.pixels.size(); i += 3) {
      in.pixels[i] = 200;
      in.pixels[i + 1] = 100;
      in.pixels[i + 2] = 30;
    }
    v1::Image jpeg;
    ASSERT_TRUE(EncodeImage(in, v1::IMAGE_FORMAT_JPEG, &jpeg).ok());
    auto out = DecodeImage(jpeg, kLimit);
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_EQ(out->pixels.size(), in.pixels.size());
    int worst = 0;
    for (size_t i = 0; i < in.pixels.size(); ++i) {
      worst = std::max(worst, std::abs(int(out->pixels[i]) - in.pixels[i]));
    }
    EXPECT_LE(worst, 3) << w << "x45";
  }
}

// The Cr sample of the last chroma column (`last_column`) or row of a JPEG,
// as FFmpeg's decoder gives its 4:2:0 planes, at the middle of that side;
// -1 if it cannot be decoded.
int LastCr(const std::string& jpeg, bool last_column) {
  const AVCodec* codec = avcodec_find_decoder(AV_CODEC_ID_MJPEG);
  AVCodecContext* ctx = avcodec_alloc_context3(codec);
  AVPacket* packet = av_packet_alloc();
  AVFrame* frame = av_frame_alloc();
  int cr = -1;
  if (avcodec_open2(ctx, codec, nullptr) == 0 &&
      av_new_packet(packet, static_cast<int>(jpeg.size())) == 0) {
    std::memcpy(packet->data, jpeg.data(), jpeg.size());
    if (avcodec_send_packet(ctx, packet) == 0 &&
        avcodec_receive_frame(ctx, frame) == 0) {
      const int cw = (frame->width + 1) / 2;
      const int ch = (frame->height + 1) / 2;
      const int x = last_column ? cw - 1 : cw / 2;
      const int y = last_column ? ch / 2 : ch - 1;
      cr = frame->data[2][y * frame->linesize[2] + x];
    }
  }
  av_frame_free(&frame);
  av_packet_free(&packet);
  avcodec_free_context(&ctx);
  return cr;
}

// An odd side's last column (or row) is a chroma sample of its own, which
// must carry its colour: the docs promise it. It came out with half its
// colour (an odd width: averaged with the padding) or mixed with its
// neighbour (an odd height).
TEST(ImageCodecTest, JpegKeepsTheColourOfAnOddSidesLastPixels) {
  // Full-range BT.601 Cr of (220, 40, 40): 128 + 0.5 R - 0.4187 G
  // - 0.0813 B.
  const int red_cr = 218;
  for (const auto& [w, h, column] :
       {std::tuple{33, 32, true}, std::tuple{31, 20, true},
        std::tuple{32, 33, false}, std::tuple{20, 17, false}}) {
    SCOPED_TRACE(absl::StrCat(w, "x", h));
    RgbFrame in;
    in.width = w;
    in.height = h;
    in.pixels.assign(static_cast<size_t>(w) * h * 3, 128);  // grey
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        if ((column && x == w - 1) || (!column && y == h - 1)) {
          uint8_t* p = &in.pixels[(static_cast<size_t>(y) * w + x) * 3];
          p[0] = 220;
          p[1] = 40;
          p[2] = 40;
        }
      }
    }
    v1::Image jpeg;
    ASSERT_TRUE(EncodeImage(in, v1::IMAGE_FORMAT_JPEG, &jpeg).ok());
    EXPECT_NEAR(LastCr(jpeg.encoded(), column), red_cr, 12);
  }
}

// Every small and odd size round-trips through both encoders (the image
// fuzzer found swscale reading past the end of a 1x30 frame's pixels when
// encoding JPEG; run this under valgrind to see such reads).
TEST(ImageCodecTest, TinyAndOddSizesRoundTrip) {
  for (int w = 1; w <= 9; ++w) {
    for (int h : {1, 2, 3, 7, 30}) {
      const RgbFrame in = Gradient(w, h);
      for (auto format : {v1::IMAGE_FORMAT_PNG, v1::IMAGE_FORMAT_JPEG}) {
        v1::Image encoded;
        ASSERT_TRUE(EncodeImage(in, format, &encoded).ok()) << w << "x" << h;
        auto out = DecodeImage(encoded, kLimit);
        ASSERT_TRUE(out.ok()) << w << "x" << h << ": " << out.status();
        EXPECT_EQ(out->width, w);
        EXPECT_EQ(out->height, h);
        // PNG is lossless; JPEG only has to decode to the right size.
        if (format == v1::IMAGE_FORMAT_PNG) {
          EXPECT_EQ(out->pixels, in.pixels);
        }
      }
    }
  }
}

TEST(ImageCodecTest, CheckOutputsKnowsWhatCanBeSent) {
  EXPECT_TRUE(CheckOutputs(v1::IMAGE_FORMAT_JPEG, 65500, 32, 1, 1 << 30).ok());
  EXPECT_EQ(CheckOutputs(v1::IMAGE_FORMAT_JPEG, 32, 65501, 1, 1 << 30).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(CheckOutputs(v1::IMAGE_FORMAT_PNG, 65535, 32, 1, 1 << 30).ok());
  // 100x100 RGB is 30000 bytes; PNG may need a little more, JPEG half.
  EXPECT_FALSE(CheckOutputs(v1::IMAGE_FORMAT_RAW, 100, 100, 2, 60000).ok());
  EXPECT_FALSE(CheckOutputs(v1::IMAGE_FORMAT_PNG, 100, 100, 2, 60000).ok());
  EXPECT_TRUE(CheckOutputs(v1::IMAGE_FORMAT_PNG, 100, 100, 2, 70000).ok());
  EXPECT_TRUE(CheckOutputs(v1::IMAGE_FORMAT_JPEG, 100, 100, 2, 60000).ok());
  EXPECT_FALSE(
      CheckOutputs(static_cast<v1::ImageFormat>(9), 8, 8, 1, 1 << 20).ok());
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

// Transparency is composited over white. It was dropped, which left the
// colour under the transparent pixels (0,0,0,0 as optimisers store it): a
// logo on a transparent background came back on a black one.
TEST(ImageCodecTest, TransparentPixelsComeOutOverWhite) {
  // Each picture is 3 pixels: transparent black, half-transparent red (or
  // grey 0), opaque blue (or grey 0).
  const struct {
    const char* name;
    std::string png;
    std::vector<uint8_t> want;
  } cases[] = {
      {"rgba",
       Png(3, 1, 6, 8,
           std::string("\0"
                       "\0\0\0\0"
                       "\xff\0\0\x80"
                       "\0\0\xff\xff",
                       13)),
       {255, 255, 255, 255, 127, 127, 0, 0, 255}},
      {"grey and alpha",
       Png(3, 1, 4, 8,
           std::string("\0"
                       "\0\0"
                       "\0\x80"
                       "\0\xff",
                       7)),
       {255, 255, 255, 127, 127, 127, 0, 0, 0}},
      {"rgba 16-bit",
       Png(3, 1, 6, 16,
           std::string("\0"
                       "\0\0\0\0\0\0\0\0"
                       "\xff\xff\0\0\0\0\x80\0"
                       "\0\0\0\0\xff\xff\xff\xff",
                       25)),
       {255, 255, 255, 255, 127, 127, 0, 0, 255}},
      {"grey and alpha 16-bit",
       Png(3, 1, 4, 16,
           std::string("\0"
                       "\0\0\0\0"
                       "\0\0\x80\0"
                       "\0\0\xff\xff",
                       13)),
       {255, 255, 255, 127, 127, 127, 0, 0, 0}},
      {"rgb with tRNS (black is transparent)",
       Png(3, 1, 2, 8,
           std::string("\0"
                       "\0\0\0"
                       "\xff\0\0"
                       "\0\0\xff",
                       10),
           PngChunk("tRNS", std::string(6, '\0'))),
       {255, 255, 255, 255, 0, 0, 0, 0, 255}},
      {"palette with tRNS",
       Png(3, 1, 3, 8, std::string("\0\0\1\2", 4),
           PngChunk("PLTE", std::string("\0\0\0"
                                        "\xff\0\0"
                                        "\0\0\xff",
                                        9)) +
               PngChunk("tRNS", std::string("\0\x80", 2))),
       {255, 255, 255, 255, 127, 127, 0, 0, 255}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<RgbFrame> out = DecodeImage(Encoded(c.png), kLimit);
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_EQ(out->width, 3);
    ASSERT_EQ(out->height, 1);
    EXPECT_EQ(out->pixels, c.want);
  }
}

// Found while fixing issue 16: the decoder's own pixel check counts the
// width rounded up to its SIMD alignment, so pictures inside the pixel limit
// whose width is not a multiple of it failed to decode ("Operation not
// permitted"), e.g. 4000x2211 under the 4096x2160 limit.
TEST(ImageCodecTest, DecodesUnalignedWidthsUpToThePixelLimit) {
  for (auto format : {v1::IMAGE_FORMAT_PNG, v1::IMAGE_FORMAT_JPEG}) {
    v1::Image image;
    ASSERT_TRUE(EncodeImage(Gradient(1000, 100), format, &image).ok());
    auto out = DecodeImage(image, 1000 * 100);
    ASSERT_TRUE(out.ok()) << format << ": " << out.status();
    EXPECT_EQ(out->width, 1000);
  }
}

}  // namespace
}  // namespace stylizer
