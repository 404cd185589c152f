// Tests of EXIF orientation: reading the tag (both byte orders, malformed
// segments ignored), turning the pixels for each of the 8 values, and JPEG
// and PNG photos decoded upright through DecodeImage.
#include "server/service/image_orientation.h"

#include <zlib.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/service/image_codec.h"

namespace stylizer {
namespace {

// An EXIF APP1 body: "Exif\0\0", a TIFF header and IFD0 with `tags` entries
// of (tag, type, count, 16-bit value), in the given byte order.
struct Entry {
  uint16_t tag, type;
  uint32_t count;
  uint16_t value;
};
std::string ExifBody(bool big_endian, const std::vector<Entry>& tags) {
  auto u16 = [&](uint16_t v) {
    return big_endian ? std::string{char(v >> 8), char(v & 0xFF)}
                      : std::string{char(v & 0xFF), char(v >> 8)};
  };
  auto u32 = [&](uint32_t v) {
    return big_endian ? u16(v >> 16) + u16(v & 0xFFFF)
                      : u16(v & 0xFFFF) + u16(v >> 16);
  };
  std::string s("Exif\0\0", 6);
  s += big_endian ? std::string("MM\0*", 4) : std::string("II*\0", 4);
  s += u32(8);  // IFD0 right after the header
  s += u16(static_cast<uint16_t>(tags.size()));
  for (const Entry& e : tags) {
    s += u16(e.tag) + u16(e.type) + u32(e.count) + u16(e.value) + u16(0);
  }
  s += u32(0);  // no next IFD
  return s;
}

TEST(ExifOrientationTest, ReadsTheTagInBothByteOrders) {
  for (bool big_endian : {true, false}) {
    SCOPED_TRACE(big_endian ? "big-endian" : "little-endian");
    for (uint16_t v = 1; v <= 8; ++v) {
      EXPECT_EQ(ExifOrientation(ExifBody(big_endian, {{0x0112, 3, 1, v}})), v);
    }
    // Not the first entry.
    EXPECT_EQ(ExifOrientation(ExifBody(
                  big_endian, {{0x010F, 2, 4, 0}, {0x0112, 3, 1, 6}})),
              6);
  }
}

TEST(ExifOrientationTest, IgnoresWhatIsNotAnOrientation) {
  EXPECT_EQ(ExifOrientation(ExifBody(true, {})), 0);
  EXPECT_EQ(ExifOrientation(ExifBody(true, {{0x010F, 2, 4, 0}})), 0);
  EXPECT_EQ(ExifOrientation(ExifBody(true, {{0x0112, 3, 1, 0}})), 0);
  EXPECT_EQ(ExifOrientation(ExifBody(true, {{0x0112, 3, 1, 9}})), 0);
  EXPECT_EQ(ExifOrientation(ExifBody(true, {{0x0112, 4, 1, 6}})), 0);
  EXPECT_EQ(ExifOrientation(ExifBody(true, {{0x0112, 3, 2, 6}})), 0);
  EXPECT_EQ(ExifOrientation("JFIF\0"), 0);
  EXPECT_EQ(ExifOrientation(""), 0);
  std::string bad_order = ExifBody(true, {{0x0112, 3, 1, 6}});
  bad_order[6] = 'X';
  EXPECT_EQ(ExifOrientation(bad_order), 0);
  // Cut anywhere before the end of the value, or with IFD0 pointing past
  // the end: nothing is read outside the segment. (The value is the first 2
  // of the entry's 4 value bytes; the next-IFD offset is never read.)
  const std::string whole = ExifBody(false, {{0x0112, 3, 1, 6}});
  const size_t value_end = 6 + 8 + 2 + 8 + 2;
  EXPECT_EQ(ExifOrientation(whole.substr(0, value_end)), 6);
  for (size_t n = 0; n < value_end; ++n) {
    EXPECT_EQ(ExifOrientation(whole.substr(0, n)), 0) << n;
  }
  std::string far = whole;
  far[10] = '\xF0';  // IFD0 offset 0xF0 + 8
  EXPECT_EQ(ExifOrientation(far), 0);
  far[10] = '\x08';
  far[13] = '\xFF';  // offset 0xFF000008
  EXPECT_EQ(ExifOrientation(far), 0);
}

// A 3x2 picture whose pixels are the letters A-F (in the red channel):
//   A B C
//   D E F
RgbFrame Letters() {
  RgbFrame f;
  f.width = 3;
  f.height = 2;
  for (char c : std::string("ABCDEF")) {
    f.pixels.insert(f.pixels.end(), {uint8_t(c), 0, 0});
  }
  return f;
}

std::string Shown(const RgbFrame& f) {
  std::string s;
  for (int y = 0; y < f.height; ++y) {
    if (y > 0) s += "/";
    for (int x = 0; x < f.width; ++x) {
      s += char(f.pixels[(static_cast<size_t>(y) * f.width + x) * 3]);
    }
  }
  return s;
}

TEST(ApplyExifOrientationTest, EachValueAsViewersShowIt) {
  const std::vector<std::pair<int, std::string>> cases = {
      {0, "ABC/DEF"},    {1, "ABC/DEF"},    {2, "CBA/FED"},
      {3, "FED/CBA"},    {4, "DEF/ABC"},    {5, "AD/BE/CF"},
      {6, "DA/EB/FC"},   {7, "FC/EB/DA"},   {8, "CF/BE/AD"},
  };
  for (const auto& [orientation, want] : cases) {
    RgbFrame f = Letters();
    ASSERT_TRUE(ApplyExifOrientation(orientation, &f).ok());
    EXPECT_EQ(Shown(f), want) << "orientation " << orientation;
    EXPECT_EQ(f.pixels.size(), 18u);
  }
  RgbFrame f = Letters();
  EXPECT_EQ(ApplyExifOrientation(9, &f).code(),
            absl::StatusCode::kInvalidArgument);
}

// A 64x32 picture, red on the left and blue on the right, encoded.
std::string RedAndBlue(v1::ImageFormat format) {
  RgbFrame f;
  f.width = 64;
  f.height = 32;
  for (int y = 0; y < 32; ++y) {
    for (int x = 0; x < 64; ++x) {
      f.pixels.insert(f.pixels.end(),
                      {uint8_t(x < 32 ? 255 : 0), 0, uint8_t(x < 32 ? 0 : 255)});
    }
  }
  v1::Image image;
  EXPECT_TRUE(EncodeImage(f, format, &image).ok());
  return image.encoded();
}

// RedAndBlue as a JPEG with an EXIF segment (orientation `orientation`)
// after its start-of-image marker.
std::string TaggedJpeg(int orientation) {
  std::string jpeg = RedAndBlue(v1::IMAGE_FORMAT_JPEG);
  const std::string body =
      ExifBody(false, {{0x0112, 3, 1, static_cast<uint16_t>(orientation)}});
  const size_t length = body.size() + 2;
  const std::string app1 = std::string("\xFF\xE1", 2) +
                           char(length >> 8) + char(length & 0xFF) + body;
  return jpeg.insert(2, app1);
}

std::string BigEndian32(uint32_t v) {
  return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}

// RedAndBlue as a PNG with an eXIf chunk (orientation `orientation`) after
// its header, big-endian or little-endian.
std::string TaggedPng(int orientation, bool big_endian) {
  std::string png = RedAndBlue(v1::IMAGE_FORMAT_PNG);
  const std::string body =
      "eXIf" +
      ExifBody(big_endian, {{0x0112, 3, 1, static_cast<uint16_t>(orientation)}})
          .substr(6);  // the chunk holds no "Exif\0\0"
  const uint32_t crc =
      crc32(0, reinterpret_cast<const Bytef*>(body.data()), body.size());
  constexpr size_t kAfterIhdr = 8 + 12 + 13;
  return png.insert(kAfterIhdr,
                    BigEndian32(body.size() - 4) + body + BigEndian32(crc));
}

// Red, or blue, at (x, y) of a decoded frame.
char ColourAt(const RgbFrame& f, int x, int y) {
  const uint8_t* p = &f.pixels[(static_cast<size_t>(y) * f.width + x) * 3];
  return p[0] > 200 && p[2] < 60 ? 'R' : p[2] > 200 && p[0] < 60 ? 'B' : '?';
}

TEST(ApplyExifOrientationTest, PhotosAreDecodedUpright) {
  const struct {
    int orientation, width, height;
    char top_left, bottom_right;
  } cases[] = {
      {1, 64, 32, 'R', 'B'},  // as stored
      {3, 64, 32, 'B', 'R'},  // upside down
      {6, 32, 64, 'R', 'B'},  // a phone held upright: the left goes on top
      {8, 32, 64, 'B', 'R'},
  };
  for (const auto& c : cases) {
    // A PNG's eXIf chunk too: viewers (browsers among them) apply it, and
    // it was not read.
    const std::pair<const char*, std::string> files[] = {
        {"JPEG", TaggedJpeg(c.orientation)},
        {"PNG", TaggedPng(c.orientation, /*big_endian=*/true)},
        {"little-endian PNG", TaggedPng(c.orientation, false)}};
    for (const auto& [kind, bytes] : files) {
      SCOPED_TRACE(absl::StrCat(kind, " orientation ", c.orientation));
      v1::Image image;
      image.set_encoded(bytes);
      auto frame = DecodeImage(image, 4096 * 2160);
      ASSERT_TRUE(frame.ok()) << frame.status();
      EXPECT_EQ(frame->width, c.width);
      EXPECT_EQ(frame->height, c.height);
      EXPECT_EQ(ColourAt(*frame, 2, 2), c.top_left);
      EXPECT_EQ(ColourAt(*frame, c.width - 3, c.height - 3), c.bottom_right);
    }
  }
}

// max_side scales the picture as stored, then it is turned: a portrait
// photo comes out upright at max_side tall.
TEST(ApplyExifOrientationTest, ScaledPhotosAreTurnedToo) {
  for (const std::string& bytes : {TaggedJpeg(6), TaggedPng(6, true)}) {
    v1::Image image;
    image.set_encoded(bytes);
    auto frame = DecodeImage(image, 4096 * 2160, /*max_side=*/16);
    ASSERT_TRUE(frame.ok()) << frame.status();
    EXPECT_EQ(frame->width, 8);
    EXPECT_EQ(frame->height, 16);
    EXPECT_EQ(ColourAt(*frame, 4, 1), 'R');
    EXPECT_EQ(ColourAt(*frame, 4, 14), 'B');
  }
}

}  // namespace
}  // namespace stylizer
