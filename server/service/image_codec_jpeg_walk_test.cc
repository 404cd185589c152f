// Tests of the JPEG marker walk (issue 16) on JPEGs built by hand, segment
// by segment and bit by bit: a file without a scan, too many scans (a scan
// bomb refused at once), more than one frame header, frames hidden in
// segments the decoder would not skip, segments longer than their contents
// refused; standard progressive files, restart markers, Adobe's RGB
// transform and an EXIF thumbnail decoded as before.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/service/image_codec.h"
#include "server/service/testing/test_images.h"

namespace stylizer {
namespace {

using testing::Encoded;
using testing::Gradient;
using ::testing::HasSubstr;
using testing::kLimit;

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
