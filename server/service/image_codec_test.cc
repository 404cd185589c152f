// Tests of still-image coding: PNG/JPEG/raw round trips, the pixel formats
// FFmpeg hands back (grey, palette, alpha, 16-bit: made by the ffmpeg CLI),
// oversize headers refused before decoding, and malformed input.
#include "server/service/image_codec.h"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/intreadwrite.h>
}

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

// The size a call reserves memory for before decoding: the header's, or 0x0
// for what DecodeImage refuses before allocating.
TEST(ImageCodecTest, DecodedSizeComesFromTheHeader) {
  constexpr uint64_t kLimit = 4096 * 4096;
  const ImageSize png = DecodedSize(Encoded(PngHeader(3840, 2160)), kLimit);
  EXPECT_EQ(png.width, 3840);
  EXPECT_EQ(png.height, 2160);
  EXPECT_EQ(DecodedSize(Encoded(PngHeader(100000, 100000)), kLimit).width, 0);
  EXPECT_EQ(DecodedSize(Encoded("not a picture"), kLimit).width, 0);
  v1::Image raw;
  raw.mutable_raw()->set_width(4);
  raw.mutable_raw()->set_height(2);
  raw.mutable_raw()->set_rgb(std::string(4 * 2 * 3, '\0'));
  EXPECT_EQ(DecodedSize(raw, kLimit).width, 4);
  raw.mutable_raw()->set_rgb(std::string(5, '\0'));  // the wrong length
  EXPECT_EQ(DecodedSize(raw, kLimit).width, 0);
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

std::string BigEndian32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
          static_cast<char>(v >> 8), static_cast<char>(v)};
}

// One PNG chunk: length, type, data and a correct CRC.
std::string PngChunk(const std::string& type, const std::string& data) {
  std::string body = type + data;
  const uint32_t crc =
      crc32(0, reinterpret_cast<const Bytef*>(body.data()), body.size());
  return BigEndian32(data.size()) + body + BigEndian32(crc);
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

// A PNG of `w` x `h` pixels of colour type `colour_type` and bit depth
// `depth` (interlaced: Adam7), from `rows` (each row's filter byte
// included) deflated into one IDAT chunk, with `chunks` (PLTE, tRNS) before
// it.
std::string Png(uint32_t w, uint32_t h, int colour_type, int depth,
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

// A PNG of `w` x `h` 8-bit RGB pixels whose image data is `raw`.
std::string PngWithImageData(uint32_t w, uint32_t h, bool interlaced,
                             const std::string& raw) {
  return Png(w, h, /*colour_type=*/2, /*depth=*/8, raw, "", interlaced);
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

TEST(ImageCodecTest, ScaledImageSizeKeepsTheAspect) {
  EXPECT_EQ(ScaledImageSize({4032, 3024}, 1024).width, 1024);
  EXPECT_EQ(ScaledImageSize({4032, 3024}, 1024).height, 768);
  EXPECT_EQ(ScaledImageSize({3024, 4032}, 1024).width, 768);
  EXPECT_EQ(ScaledImageSize({3024, 4032}, 1024).height, 1024);
  EXPECT_EQ(ScaledImageSize({101, 50}, 10).height, 5);      // 4.95, rounded
  EXPECT_EQ(ScaledImageSize({1000, 1}, 10).height, 1);      // at least 1
  EXPECT_EQ(ScaledImageSize({640, 480}, 0).width, 640);     // 0: as is
  EXPECT_EQ(ScaledImageSize({640, 480}, 2000).width, 640);  // never up
}

// What decoding a large picture to a smaller one holds, by its kind: a
// 16-bit RGBA PNG's picture is 8 bytes a pixel, and its flattened copy 3
// more (it was reserved at 3 in all).
TEST(ImageCodecTest, ScalingWorkBytesFollowTheDecodedPicture) {
  const ImageSize size{10, 10};
  const std::string no_rows;
  EXPECT_EQ(ScalingWorkBytes(Encoded(Png(10, 10, 6, 16, no_rows)), size),
            100 * (8 + 3));
  EXPECT_EQ(ScalingWorkBytes(Encoded(Png(10, 10, 6, 8, no_rows)), size),
            100 * (4 + 3));
  // Grey and RGB may have a tRNS chunk: counted with alpha.
  EXPECT_EQ(ScalingWorkBytes(Encoded(Png(10, 10, 2, 8, no_rows)), size),
            100 * (4 + 3));
  EXPECT_EQ(ScalingWorkBytes(Encoded(Png(10, 10, 0, 16, no_rows)), size),
            100 * (4 + 3));
  EXPECT_EQ(ScalingWorkBytes(Encoded(Png(10, 10, 3, 8, no_rows)), size),
            100 * (1 + 3));  // a palette may have alpha
  // A 4:2:0 JPEG: one 16x16 MCU of 6 blocks, and an eighth.
  v1::Image jpeg;
  ASSERT_TRUE(EncodeImage(Gradient(10, 10), v1::IMAGE_FORMAT_JPEG, &jpeg).ok());
  EXPECT_EQ(ScalingWorkBytes(jpeg, size), 6 * 64 * 9 / 8);
  v1::Image raw;
  ASSERT_TRUE(EncodeImage(Gradient(10, 10), v1::IMAGE_FORMAT_RAW, &raw).ok());
  EXPECT_EQ(ScalingWorkBytes(raw, size), 100 * 3);
}

// A JPEG's start and frame header: `marker` (0xC0 baseline, 0xC2
// progressive, ...), `precision` bits, and per component its sampling
// factors (h << 4 | v). Enough for the cost model, which reads no further.
std::string JpegFrameHeader(uint8_t marker, int width, int height,
                            const std::vector<uint8_t>& factors,
                            int precision = 8) {
  std::string d = "\xff\xd8";
  const size_t length = 8 + 3 * factors.size();
  d += {'\xff',
        static_cast<char>(marker),
        static_cast<char>(length >> 8),
        static_cast<char>(length & 0xff),
        static_cast<char>(precision),
        static_cast<char>(height >> 8),
        static_cast<char>(height & 0xff),
        static_cast<char>(width >> 8),
        static_cast<char>(width & 0xff),
        static_cast<char>(factors.size())};
  for (size_t c = 0; c < factors.size(); ++c) {
    d += {static_cast<char>(c + 1), static_cast<char>(factors[c]), '\0'};
  }
  return d + "\xff\xd9";
}

// A JPEG costs what FFmpeg's decoder holds: the picture at its chroma layout,
// and for a progressive file 2 bytes of coefficients a sample, plus an
// eighth. Every JPEG was charged 4 bytes a pixel, which a progressive 4:4:4
// one (9) or CMYK one (12) exceeds: peak RSS at 8192x8192 was 576 and 773
// MiB for a charge of 256.
TEST(ImageCodecTest, JpegScalingWorkFollowsItsFrameHeader) {
  const ImageSize size{8192, 8192};
  const int64_t pixels = int64_t{8192} * 8192;
  auto cost = [&](uint8_t marker, const std::vector<uint8_t>& factors,
                  int precision = 8) {
    return ScalingWorkBytes(
        Encoded(JpegFrameHeader(marker, 8192, 8192, factors, precision)), size);
  };
  const std::vector<uint8_t> yuv420 = {0x22, 0x11, 0x11};
  const std::vector<uint8_t> yuv444 = {0x11, 0x11, 0x11};
  const std::vector<uint8_t> cmyk = {0x11, 0x11, 0x11, 0x11};
  const std::vector<uint8_t> grey = {0x11};
  // Baseline: the picture only.
  EXPECT_EQ(cost(0xC0, yuv420), pixels * 3 / 2 * 9 / 8);
  EXPECT_EQ(cost(0xC0, yuv444), pixels * 3 * 9 / 8);
  EXPECT_EQ(cost(0xC0, cmyk), pixels * 4 * 9 / 8);
  EXPECT_EQ(cost(0xC0, grey), pixels * 9 / 8);
  // Extended (SOF1) at 12 bits: 16-bit samples.
  EXPECT_EQ(cost(0xC1, yuv420, 12), pixels * 3 * 9 / 8);
  // Progressive: and 2 bytes of coefficients a sample.
  EXPECT_EQ(cost(0xC2, yuv420), pixels * 3 / 2 * 3 * 9 / 8);
  EXPECT_EQ(cost(0xC2, yuv444), pixels * 3 * 3 * 9 / 8);
  EXPECT_EQ(cost(0xC2, cmyk), pixels * 4 * 3 * 9 / 8);
  EXPECT_EQ(cost(0xC2, grey), pixels * 3 * 9 / 8);
  // A layout the decoder may widen (Cb and Cr sampled differently): the
  // picture at full size, the coefficients at their own sampling.
  EXPECT_EQ(cost(0xC0, {0x22, 0x11, 0x21}), pixels * 3 * 9 / 8);
  EXPECT_EQ(cost(0xC2, {0x22, 0x11, 0x21}),
            (pixels * 3 + (pixels + pixels / 4 + pixels / 2) * 2) * 9 / 8);
  // Whole MCUs: 100x100 4:2:0 is 7x7 MCUs of 16x16.
  EXPECT_EQ(ScalingWorkBytes(Encoded(JpegFrameHeader(0xC0, 100, 100, yuv420)),
                             ImageSize{100, 100}),
            7 * 7 * 6 * 64 * 9 / 8);
}

// A picture scaled with max_side keeps its colours (each output pixel the
// mean of the area it covers), whatever it was sent as.
TEST(ImageCodecTest, MaxSideScalesEveryKindOfImage) {
  // Left half red, right half blue, 300x150.
  RgbFrame frame;
  frame.width = 300;
  frame.height = 150;
  for (int y = 0; y < 150; ++y) {
    for (int x = 0; x < 300; ++x) {
      frame.pixels.insert(frame.pixels.end(), {uint8_t(x < 150 ? 255 : 0), 0,
                                               uint8_t(x < 150 ? 0 : 255)});
    }
  }
  for (v1::ImageFormat format :
       {v1::IMAGE_FORMAT_RAW, v1::IMAGE_FORMAT_PNG, v1::IMAGE_FORMAT_JPEG}) {
    SCOPED_TRACE(v1::ImageFormat_Name(format));
    v1::Image image;
    ASSERT_TRUE(EncodeImage(frame, format, &image).ok());
    absl::StatusOr<RgbFrame> out = DecodeImage(image, kLimit, 100);
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_EQ(out->width, 100);
    ASSERT_EQ(out->height, 50);
    const uint8_t* left = &out->pixels[(25 * 100 + 10) * 3];
    const uint8_t* right = &out->pixels[(25 * 100 + 90) * 3];
    EXPECT_NEAR(left[0], 255, 6);
    EXPECT_NEAR(left[2], 0, 6);
    EXPECT_NEAR(right[0], 0, 6);
    EXPECT_NEAR(right[2], 255, 6);
  }
}

// Transparency is flattened before scaling: scaling straight alpha first
// darkened the pixels where opaque and transparent meet.
TEST(ImageCodecTest, MaxSideScalesTransparentPicturesWithoutDarkEdges) {
  // Opaque red on the left 151 columns, transparent black after: every
  // picture over white has a red channel of 255, whatever is averaged.
  std::string rows;
  for (int y = 0; y < 60; ++y) {
    rows += '\0';
    for (int x = 0; x < 300; ++x) {
      rows += x <= 150 ? std::string("\xff\0\0\xff", 4) : std::string(4, '\0');
    }
  }
  absl::StatusOr<RgbFrame> out =
      DecodeImage(Encoded(Png(300, 60, 6, 8, rows)), kLimit, 100);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->width, 100);
  ASSERT_EQ(out->height, 20);
  int darkest = 255;
  for (size_t i = 0; i < out->pixels.size(); i += 3) {
    darkest = std::min<int>(darkest, out->pixels[i]);
  }
  EXPECT_GE(darkest, 253);
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

  auto whole = DecodeImage(Encoded(PngWithImageData(kW, kH, false, all_rows)),
                           kLimit);
  ASSERT_TRUE(whole.ok()) << whole.status();
  EXPECT_EQ(whole->pixels, std::vector<uint8_t>(kW * kH * 3, 0x60));

  for (size_t rows : {size_t{8}, size_t{15}}) {
    auto cut = DecodeImage(
        Encoded(PngWithImageData(kW, kH, false,
                                 all_rows.substr(0, rows * row.size()))),
        kLimit);
    EXPECT_EQ(cut.status().code(), absl::StatusCode::kInvalidArgument)
        << rows << " rows: " << cut.status();
    EXPECT_THAT(cut.status().message(), HasSubstr("truncated"));
    EXPECT_THAT(cut.status().message(), HasSubstr("16x16"));
  }
  // One byte short of the last row.
  auto short_row = DecodeImage(
      Encoded(PngWithImageData(kW, kH, false,
                               all_rows.substr(0, all_rows.size() - 1))),
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

// The shape rule is the model's: with max_side it applies to the picture
// the model gets. A 5000x20 strip scaled to 200x1 is a small frame, and was
// refused as a thin one.
TEST(ImageCodecTest, TheShapeRuleAppliesToTheScaledPicture) {
  for (const auto& [width, height, max_side, out_width, out_height] :
       {std::tuple{5000, 20, 200, 200, 1}, std::tuple{3000, 31, 64, 64, 1}}) {
    SCOPED_TRACE(absl::StrCat(width, "x", height, " max_side ", max_side));
    v1::Image strip;
    ASSERT_TRUE(
        EncodeImage(Gradient(width, height), v1::IMAGE_FORMAT_PNG, &strip)
            .ok());
    EXPECT_EQ(DecodeImage(strip, kLimit).status().code(),
              absl::StatusCode::kInvalidArgument);  // thin as it is
    absl::StatusOr<RgbFrame> scaled = DecodeImage(strip, kLimit, max_side);
    ASSERT_TRUE(scaled.ok()) << scaled.status();
    EXPECT_EQ(scaled->width, out_width);
    EXPECT_EQ(scaled->height, out_height);
    v1::Image raw;
    raw.mutable_raw()->set_width(width);
    raw.mutable_raw()->set_height(height);
    const RgbFrame pixels = Gradient(width, height);
    raw.mutable_raw()->set_rgb(
        std::string(pixels.pixels.begin(), pixels.pixels.end()));
    EXPECT_TRUE(DecodeImage(raw, kLimit, max_side).ok());
  }
  // Scaled, but still thin: refused.
  v1::Image strip;
  ASSERT_TRUE(
      EncodeImage(Gradient(8000, 20), v1::IMAGE_FORMAT_PNG, &strip).ok());
  EXPECT_THAT(DecodeImage(strip, kLimit, 4000).status().message(),
              HasSubstr("4000x10 frame is too thin"));
}

// With max_side the limit is on what the server decodes to scale down; the
// refusal said "the server's limit of 67108864 pixels", which is not the
// frame limit a client reads from GetModelInfo.
TEST(ImageCodecTest, OverTheScalingLimitSaysWhichLimit) {
  auto png =
      DecodeImage(Encoded(PngHeader(9000, 9000)), kMaxImagePixelsToScale, 64);
  EXPECT_EQ(png.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(png.status().message(),
              HasSubstr("over the largest picture the server scales down, "
                        "67108864 pixels (8192x8192)"));
}

// ---------------------------------------------------------------------------
// Hand-built JPEGs for the marker walk (issue 16).

// One JPEG segment: the marker, a 16-bit length and the body.
std::string JpegSegment(uint8_t marker, const std::string& body) {
  const size_t length = body.size() + 2;
  return std::string{'\xff', static_cast<char>(marker),
                     static_cast<char>(length >> 8),
                     static_cast<char>(length & 0xff)} +
         body;
}

std::string Bytes(std::initializer_list<int> values) {
  std::string s;
  for (int v : values) s += static_cast<char>(v);
  return s;
}

// The body of a DHT segment for one table: class and id, the number of codes
// of each length (pairs of length and count), then the symbols.
std::string HuffmanTable(int class_id,
                         std::initializer_list<std::pair<int, int>> counts,
                         const std::string& symbols) {
  std::string counts16(16, '\0');
  for (const auto& [length, count] : counts) counts16[length - 1] = count;
  return static_cast<char>(class_id) + counts16 + symbols;
}

// Entropy-coded data: bits written most significant first, the last byte
// padded with 1-bits, and every 0xFF followed by a stuffed 0x00.
class JpegBits {
 public:
  void Put(uint32_t value, int count) {
    for (int i = count - 1; i >= 0; --i) bits_.push_back((value >> i) & 1);
  }
  std::string Bytes() const {
    std::vector<bool> bits = bits_;
    while (bits.size() % 8 != 0) bits.push_back(true);
    std::string out;
    for (size_t i = 0; i < bits.size(); i += 8) {
      uint8_t byte = 0;
      for (size_t j = 0; j < 8; ++j) byte = byte << 1 | bits[i + j];
      out += static_cast<char>(byte);
      if (byte == 0xff) out += '\0';
    }
    return out;
  }

 private:
  std::vector<bool> bits_;
};

// One scan of a progressive JPEG: the components it codes (0-based), its
// spectral band and its successive-approximation bits.
struct JpegScan {
  std::vector<int> components;
  int ss, se, ah, al;
};

// libjpeg's default progression (jpeg_simple_progression) for YCbCr: 10 scans.
std::vector<JpegScan> LibjpegColourProgression() {
  return {{{0, 1, 2}, 0, 0, 0, 1}, {{0}, 1, 5, 0, 2},  {{2}, 1, 63, 0, 1},
          {{1}, 1, 63, 0, 1},      {{0}, 6, 63, 0, 2}, {{0}, 1, 63, 2, 1},
          {{0, 1, 2}, 0, 0, 1, 0}, {{2}, 1, 63, 1, 0}, {{1}, 1, 63, 1, 0},
          {{0}, 1, 63, 1, 0}};
}

// and for greyscale: 6 scans.
std::vector<JpegScan> LibjpegGreyProgression() {
  return {{{0}, 0, 0, 0, 1},  {{0}, 1, 5, 0, 2}, {{0}, 6, 63, 0, 2},
          {{0}, 1, 63, 2, 1}, {{0}, 0, 0, 1, 0}, {{0}, 1, 63, 1, 0}};
}

// A progressive (SOF2) JPEG of `w` x `h` pixels in `components` components
// (1: grey; 3: YCbCr, all 4:4:4) coded with `script`: every AC coefficient is
// zero, and the luma DC steps up once in the first block, so the picture is
// flat: luma 128 + 2, chroma 128. A real encoder's scan script with real
// coefficients has the same structure, only longer scans.
std::string ProgressiveJpeg(int w, int h, int components,
                            const std::vector<JpegScan>& script) {
  const int blocks = ((w + 7) / 8) * ((h + 7) / 8);
  std::string sof = Bytes({8, h >> 8, h & 0xff, w >> 8, w & 0xff, components});
  for (int c = 0; c < components; ++c) sof += Bytes({c + 1, 0x11, 0});
  // DC table 0: category 0 -> "0", category 4 -> "10"; AC table 0: the 15
  // end-of-band run symbols EOB0..EOB14, 4 bits each ("0000".."1110").
  std::string eob_runs;
  for (int r = 0; r < 15; ++r) eob_runs += static_cast<char>(r << 4);
  const std::string dht = HuffmanTable(0x00, {{1, 1}, {2, 1}}, Bytes({0, 4})) +
                          HuffmanTable(0x10, {{4, 15}}, eob_runs);
  std::string out = "\xff\xd8" + JpegSegment(0xdb, '\0' + std::string(64, 1)) +
                    JpegSegment(0xc2, sof) + JpegSegment(0xc4, dht);
  for (const JpegScan& scan : script) {
    std::string sos(1, static_cast<char>(scan.components.size()));
    for (int c : scan.components) sos += Bytes({c + 1, 0x00});
    sos += Bytes({scan.ss, scan.se, scan.ah << 4 | scan.al});
    JpegBits bits;
    if (scan.ss == 0 && scan.ah == 0) {  // DC, first pass
      for (int b = 0; b < blocks; ++b) {
        for (int c : scan.components) {
          if (b == 0 && c == 0) {
            bits.Put(0b10, 2);    // category 4
            bits.Put(0b1000, 4);  // +8
          } else {
            bits.Put(0, 1);
          }
        }
      }
    } else if (scan.ss == 0) {  // DC refinement: one bit per block
      for (int b = 0; b < blocks; ++b) {
        for (size_t c = 0; c < scan.components.size(); ++c) bits.Put(0, 1);
      }
    } else {  // AC, first pass or refinement: all zero, as end-of-band runs
      for (int left = blocks; left > 0;) {
        const int run = std::min(left, 32767);
        int r = 0;
        while ((2 << r) <= run) ++r;
        bits.Put(r, 4);
        bits.Put(run - (1 << r), r);
        left -= run;
      }
    }
    out += JpegSegment(0xda, sos) + bits.Bytes();
  }
  return out + "\xff\xd9";
}

// The scan bomb of issue 16: a greyscale progressive JPEG whose DC scan is
// followed by `ac_scans` copies of one whole-band AC scan (26 bytes each at
// 4096x2160); each copy costs the decoder a pass over every block.
std::string ScanBomb(int w, int h, int ac_scans) {
  std::vector<JpegScan> script = {{{0}, 0, 0, 0, 0}};
  for (int i = 0; i < ac_scans; ++i) script.push_back({{0}, 1, 63, 0, 0});
  return ProgressiveJpeg(w, h, 1, script);
}

// Pieces of a greyscale baseline JPEG of `w` x `h`: its frame header, its
// tables, and one scan of all-zero blocks.
std::string BaselineFrameHeader(int w, int h) {
  return JpegSegment(
      0xc0, Bytes({8, h >> 8, h & 0xff, w >> 8, w & 0xff, 1, 1, 0x11, 0}));
}
std::string BaselineTables() {
  // DC: category 0 -> "0"; AC: end of block -> "0".
  return JpegSegment(0xdb, '\0' + std::string(64, 1)) +
         JpegSegment(0xc4, HuffmanTable(0x00, {{1, 1}}, Bytes({0})) +
                               HuffmanTable(0x10, {{1, 1}}, Bytes({0})));
}
std::string BaselineScan(int w, int h) {
  JpegBits bits;
  const int blocks = ((w + 7) / 8) * ((h + 7) / 8);
  for (int b = 0; b < blocks; ++b) bits.Put(0, 2);  // DC 0, end of block
  return JpegSegment(0xda, Bytes({1, 1, 0x00, 0, 63, 0})) + bits.Bytes();
}

bool IsFlat(const RgbFrame& f, int value) {
  return std::all_of(f.pixels.begin(), f.pixels.end(),
                     [&](uint8_t p) { return std::abs(int{p} - value) <= 1; });
}

// A frame header and tables but no scan: FFmpeg decoded it as a blank
// (grey) picture, and the call was answered OK.
TEST(ImageCodecTest, RefusesJpegWithoutAScan) {
  const std::string headers =
      "\xff\xd8" + BaselineTables() + BaselineFrameHeader(64, 48);
  auto r = DecodeImage(Encoded(headers + "\xff\xd9"), kLimit);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument)
      << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("no scan (SOS marker)"));
  auto whole =
      DecodeImage(Encoded(headers + BaselineScan(64, 48) + "\xff\xd9"), kLimit);
  EXPECT_TRUE(whole.ok()) << whole.status();
}

// Issue 16: a 1 MB 4096x2160 progressive JPEG repeating one 25-byte AC scan
// 40000 times passed every check and kept a work thread decoding for about
// 11 s, with no way to cancel it. The marker walk counts the scans now.
TEST(ImageCodecTest, RefusesJpegWithTooManyScans) {
  const std::string bomb = ScanBomb(4096, 2160, 40000);
  ASSERT_LT(bomb.size(), 1100000u);
  const auto start = std::chrono::steady_clock::now();
  auto r = DecodeImage(Encoded(bomb), kLimit);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument)
      << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("40001 scans"));
  EXPECT_THAT(r.status().message(), HasSubstr("limit of 256"));
  EXPECT_LT(took, std::chrono::seconds(2))
      << "refused only after "
      << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
      << " ms";

  // The limit itself still decodes; one more scan is refused.
  auto at_limit = DecodeImage(Encoded(ScanBomb(64, 64, 255)), kLimit);
  ASSERT_TRUE(at_limit.ok()) << at_limit.status();
  EXPECT_EQ(at_limit->width, 64);
  auto over = DecodeImage(Encoded(ScanBomb(64, 64, 256)), kLimit);
  EXPECT_EQ(over.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(over.status().message(), HasSubstr("257 scans"));
}

// Ordinary progressive JPEGs (libjpeg's default scan scripts: 10 scans for
// colour, 6 for grey) decode as before.
TEST(ImageCodecTest, DecodesStandardProgressiveJpegs) {
  auto colour = DecodeImage(
      Encoded(ProgressiveJpeg(100, 75, 3, LibjpegColourProgression())), kLimit);
  ASSERT_TRUE(colour.ok()) << colour.status();
  EXPECT_EQ(colour->width, 100);
  EXPECT_EQ(colour->height, 75);
  EXPECT_TRUE(IsFlat(*colour, 130));
  auto grey = DecodeImage(
      Encoded(ProgressiveJpeg(64, 48, 1, LibjpegGreyProgression())), kLimit);
  ASSERT_TRUE(grey.ok()) << grey.status();
  EXPECT_EQ(grey->width, 64);
  EXPECT_TRUE(IsFlat(*grey, 130));

  // Metadata segments are dropped before decoding, but not Adobe's APP14:
  // transform 0 says the three components are R, G and B, not YCbCr.
  const std::string ycbcr =
      ProgressiveJpeg(16, 16, 3, LibjpegColourProgression());
  const std::string adobe =
      ycbcr.substr(0, 2) +
      JpegSegment(0xee, std::string("Adobe\0\x64\0\0\0\0\0", 12)) +
      ycbcr.substr(2);
  auto rgb = DecodeImage(Encoded(adobe), kLimit);
  ASSERT_TRUE(rgb.ok()) << rgb.status();
  EXPECT_EQ(rgb->pixels[0], 130);
  EXPECT_EQ(rgb->pixels[1], 128);
  EXPECT_EQ(rgb->pixels[2], 128);
}

// Restart markers inside a scan stay where they are.
TEST(ImageCodecTest, DecodesJpegWithRestartMarkers) {
  // 16x16 grey, a restart interval of one block: each block's "0" "0" in a
  // byte of its own (padded with 1-bits), RST0..RST2 between them.
  const std::string scan =
      std::string("\x3f\xff\xd0\x3f\xff\xd1\x3f\xff\xd2\x3f", 10);
  const std::string jpeg =
      "\xff\xd8" + BaselineTables() + JpegSegment(0xdd, Bytes({0, 1})) +
      BaselineFrameHeader(16, 16) +
      JpegSegment(0xda, Bytes({1, 1, 0, 0, 63, 0})) + scan + "\xff\xd9";
  auto out = DecodeImage(Encoded(jpeg), kLimit);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->width, 16);
  EXPECT_TRUE(IsFlat(*out, 128));
}

// Issue 16: the probe (and so StylizeImage's memory reservation) read the
// first frame header, FFmpeg decoded with the last: a 16x16 header followed
// by a 1024x512 one was reserved as 16x16 and decoded at 1024x512. Hiding
// the large frame inside a segment the walk skipped by its length (FFmpeg
// does not skip unknown segments) did the same.
TEST(ImageCodecTest, RefusesJpegWithMoreThanOneFrameHeader) {
  const std::string tables = BaselineTables();
  const std::string plain = "\xff\xd8" + tables +
                            BaselineFrameHeader(1024, 512) +
                            BaselineScan(1024, 512) + "\xff\xd9";
  auto ok = DecodeImage(Encoded(plain), kLimit);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->width, 1024);

  const std::string two = "\xff\xd8" + tables + BaselineFrameHeader(16, 16) +
                          BaselineFrameHeader(1024, 512) +
                          BaselineScan(1024, 512) + "\xff\xd9";
  ASSERT_EQ(ProbeImageSize(two).value_or(ImageSize{}).width, 16);
  auto r = DecodeImage(Encoded(two), kLimit);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument)
      << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("more than one frame header"));
  EXPECT_THAT(r.status().message(), HasSubstr("1024x512"));

  // The large frame inside a JPG0 (0xF0) segment, the small header after it.
  const std::string hidden =
      "\xff\xd8" +
      JpegSegment(0xf0, tables + BaselineFrameHeader(1024, 512) +
                            BaselineScan(1024, 512)) +
      BaselineFrameHeader(16, 16) + "\xff\xd9";
  ASSERT_EQ(ProbeImageSize(hidden).value_or(ImageSize{}).width, 16);
  auto h = DecodeImage(Encoded(hidden), kLimit);
  EXPECT_EQ(h.status().code(), absl::StatusCode::kInvalidArgument)
      << h.status();
  EXPECT_FALSE(h.ok() && h->width == 1024);
}

// Found while fixing issue 16: FFmpeg does not skip every segment by its
// length as the walk does. After a scan it goes on from the byte after the
// last one the entropy decoder read, and a scan can end by reading the 0xFF
// of the next marker (here the last block's end is five zero-run codes "1",
// four of them from that 0xFF); after an APP0 "AVI1" segment of 6 bytes it
// goes on one byte past its end. Either way it missed the next marker and
// found the frame header and scan hidden in that segment's payload: these
// 16x16 files decoded at 1024x512. The decoder is given the file without its
// metadata segments and with fill bytes after each scan now.
TEST(ImageCodecTest, FramesHiddenInSegmentsAreNotDecoded) {
  const std::string hidden = BaselineTables() + BaselineFrameHeader(1024, 512) +
                             BaselineScan(1024, 512);
  // DC: category 0 -> "0"; AC: end of block -> "0", zero run of 16 -> "1".
  const std::string tables =
      JpegSegment(0xdb, '\0' + std::string(64, 1)) +
      JpegSegment(0xc4, HuffmanTable(0x00, {{1, 1}}, Bytes({0})) +
                            HuffmanTable(0x10, {{1, 2}}, Bytes({0x00, 0xf0})));
  // Blocks 1-3: "0" "0"; block 4: "0", then "1" x 5 (the last 4 from 0xFF).
  const std::string reads_next_ff =
      "\xff\xd8" + tables + BaselineFrameHeader(16, 16) +
      JpegSegment(0xda, Bytes({1, 1, 0, 0, 63, 0})) + "\x01";
  const std::string in_comment =
      reads_next_ff + JpegSegment(0xfe, hidden) + "\xff\xd9";
  const std::string in_exif =
      reads_next_ff + JpegSegment(0xe1, std::string("Exif\0\0", 6) + hidden) +
      "\xff\xd9";
  const std::string after_avi1 =
      "\xff\xd8" + BaselineTables() + BaselineFrameHeader(16, 16) +
      BaselineScan(16, 16) + JpegSegment(0xe0, "AVI1") +
      JpegSegment(0xe1, std::string("Exif\0\0", 6) + hidden) + "\xff\xd9";
  for (const auto& [name, bytes] :
       std::vector<std::pair<const char*, std::string>>{
           {"comment", in_comment}, {"exif", in_exif}, {"avi1", after_avi1}}) {
    ASSERT_EQ(ProbeImageSize(bytes).value_or(ImageSize{}).width, 16) << name;
    auto r = DecodeImage(Encoded(bytes), kLimit);
    ASSERT_TRUE(r.ok()) << name << ": " << r.status();
    EXPECT_EQ(r->width, 16) << name;
    EXPECT_EQ(r->height, 16) << name;
  }
}

// A frame header's length must match its component count, and quantisation
// tables must fill their segment: FFmpeg reads the declared contents and
// looks for markers in the rest, so a second frame header there would count
// for it and not for the walk.
TEST(ImageCodecTest, RefusesJpegSegmentsLongerThanTheirContents) {
  const std::string big = BaselineFrameHeader(1024, 512);
  std::string small = BaselineFrameHeader(16, 16);
  // The 16x16 header's length covers the 1024x512 header after it.
  small[3] = static_cast<char>(small[3] + big.size());
  const std::string sof = "\xff\xd8" + BaselineTables() + small + big +
                          BaselineScan(1024, 512) + "\xff\xd9";
  auto r = DecodeImage(Encoded(sof), kLimit);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument)
      << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("frame header"));

  const std::string dqt = "\xff\xd8" +
                          JpegSegment(0xdb, '\0' + std::string(64, 1) + big) +
                          BaselineTables() + BaselineFrameHeader(16, 16) +
                          BaselineScan(16, 16) + "\xff\xd9";
  r = DecodeImage(Encoded(dqt), kLimit);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument)
      << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("quantisation tables"));
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

// A camera JPEG carries a whole small JPEG (the thumbnail) inside its EXIF
// APP1 segment: its frame header and scan are segment payload, not part of
// the picture, and must not count.
TEST(ImageCodecTest, DecodesJpegWithExifThumbnail) {
  v1::Image jpeg, thumb;
  ASSERT_TRUE(EncodeImage(Gradient(64, 48), v1::IMAGE_FORMAT_JPEG, &jpeg).ok());
  ASSERT_TRUE(
      EncodeImage(Gradient(16, 12), v1::IMAGE_FORMAT_JPEG, &thumb).ok());
  const std::string& t = thumb.encoded();
  // TIFF header (little-endian), an empty IFD0 linking to IFD1, which points
  // at the thumbnail (JPEGInterchangeFormat, ...Length), then the thumbnail.
  auto le16 = [](int v) { return Bytes({v & 0xff, v >> 8}); };
  auto le32 = [](uint32_t v) {
    return Bytes(
        {int(v & 0xff), int(v >> 8 & 0xff), int(v >> 16 & 0xff), int(v >> 24)});
  };
  const uint32_t thumb_offset = 8 + 6 + 2 + 2 * 12 + 4;
  std::string tiff = std::string("II*\0", 4) + le32(8) + le16(0) + le32(14);
  tiff += le16(2);
  tiff += le16(0x0201) + le16(4) + le32(1) + le32(thumb_offset);
  tiff += le16(0x0202) + le16(4) + le32(1) + le32(t.size());
  tiff += le32(0);
  ASSERT_EQ(tiff.size(), thumb_offset);
  const std::string app1 =
      JpegSegment(0xe1, std::string("Exif\0\0", 6) + tiff + t);
  const std::string with_thumb =
      jpeg.encoded().substr(0, 2) + app1 + jpeg.encoded().substr(2);
  auto out = DecodeImage(Encoded(with_thumb), kLimit);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->width, 64);
  EXPECT_EQ(out->height, 48);
  EXPECT_EQ(out->pixels, DecodeImage(jpeg, kLimit)->pixels);
}

}  // namespace
}  // namespace stylizer
