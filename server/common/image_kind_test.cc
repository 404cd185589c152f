// Tests of OtherImageKind: the first bytes of files of each format it names
// (as the tools that write them start them), and none for PNG, JPEG, movies
// and text.
#include "server/common/image_kind.h"

#include <string>

#include "gtest/gtest.h"

namespace stylizer {
namespace {

std::string Bytes(const char* s, size_t n) { return std::string(s, n); }

TEST(OtherImageKindTest, NamesWhatItKnows) {
  EXPECT_EQ(OtherImageKind(Bytes("RIFF\x24\x08\0\0WEBPVP8 ", 16)), "WebP");
  EXPECT_EQ(OtherImageKind("GIF89a\x01\0\x01\0"), "GIF");
  EXPECT_EQ(
      OtherImageKind(Bytes("BM\x36\x0c\0\0\0\0\0\0\x36\0\0\0\x28\0\0\0", 18)),
      "BMP");
  EXPECT_EQ(OtherImageKind(Bytes("II*\0\x08\0\0\0", 8)), "TIFF");
  EXPECT_EQ(OtherImageKind(Bytes("MM\0*\0\0\0\x08", 8)), "TIFF");
  EXPECT_EQ(OtherImageKind(Bytes("\0\0\0\x18"
                                 "ftypheic\0\0\0\0",
                                 16)),
            "HEIF");
  EXPECT_EQ(OtherImageKind(Bytes("\0\0\0\x1c"
                                 "ftypavif\0\0\0\0",
                                 16)),
            "AVIF");
  EXPECT_EQ(OtherImageKind(Bytes("\0\0\0\x0cjP  \r\n\x87\n\0\0", 14)),
            "JPEG 2000");
  EXPECT_EQ(OtherImageKind(Bytes("\xff\x0a\xfa", 3)), "JPEG XL");
  EXPECT_EQ(OtherImageKind(Bytes("\0\0\1\0\1\0\x10\x10", 8)), "ICO");
  EXPECT_EQ(OtherImageKind("8BPS\0\1"), "PSD");
  EXPECT_EQ(OtherImageKind("qoif\0\0\0\x10"), "QOI");
}

TEST(OtherImageKindTest, NamesNothingElse) {
  EXPECT_EQ(OtherImageKind(""), "");
  EXPECT_EQ(OtherImageKind(Bytes("\x89PNG\r\n\x1a\n", 8)), "");
  EXPECT_EQ(OtherImageKind(Bytes("\xff\xd8\xff\xe0", 4)), "");
  // An MP4 movie: ISO media too, but not an image brand.
  EXPECT_EQ(OtherImageKind(Bytes("\0\0\0\x20"
                                 "ftypisom\0\0\2\0",
                                 16)),
            "");
  EXPECT_EQ(OtherImageKind("hello, world"), "");
  EXPECT_EQ(OtherImageKind("BMW and Audi make cars"), "");  // no DIB header
  EXPECT_EQ(OtherImageKind(Bytes("\0\0\1\0\0\0", 6)), "");  // no icons
  EXPECT_EQ(OtherImageKind("GIF"), "");                     // too short
}

}  // namespace
}  // namespace stylizer
