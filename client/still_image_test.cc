// Tests of StillImageKind on written files.
#include "client/still_image.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"

namespace stylizer::client {
namespace {

// One PNG chunk: length, type, data and a CRC (not checked here).
std::string Chunk(absl::string_view type, const std::string& data) {
  const uint32_t n = static_cast<uint32_t>(data.size());
  std::string out = {static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                     static_cast<char>(n >> 8), static_cast<char>(n)};
  absl::StrAppend(&out, type, data, "CRC!");
  return out;
}

class StillImageKindTest : public ::testing::Test {
 protected:
  void TearDown() override { std::remove(path_.c_str()); }

  absl::string_view KindOf(const std::string& bytes) {
    std::ofstream(path_, std::ios::binary) << bytes;
    return StillImageKind(path_);
  }

  const std::string png_ = std::string("\x89PNG\r\n\x1a\n", 8);
  const std::string path_ = (std::filesystem::temp_directory_path() /
                             absl::StrCat("still_image_test.", getpid()))
                                .string();
};

TEST_F(StillImageKindTest, StillPicturesAreNamed) {
  EXPECT_EQ(KindOf(std::string("\xff\xd8\xff\xe0\0\x10JFIF", 10)), "JPEG");
  // Chunks before the image data are walked past (a 70 KB ICC profile).
  EXPECT_EQ(KindOf(png_ + Chunk("IHDR", std::string(13, '\0')) +
                   Chunk("iCCP", std::string(70000, 'p')) +
                   Chunk("IDAT", "data") + Chunk("IEND", "")),
            "PNG");
}

TEST_F(StillImageKindTest, MoviesAndAnimatedPngsAreNot) {
  // An animated PNG is a movie: FFmpeg reads it frame by frame.
  EXPECT_EQ(KindOf(png_ + Chunk("IHDR", std::string(13, '\0')) +
                   Chunk("acTL", std::string(8, '\0')) + Chunk("IDAT", "data")),
            "");
  EXPECT_EQ(KindOf(std::string("\0\0\0\x20"
                               "ftypisom",
                               12)),
            "");                       // MP4
  EXPECT_EQ(KindOf("GIF89a..."), "");  // an animated GIF is a movie too
  EXPECT_EQ(KindOf(""), "");
  EXPECT_EQ(KindOf("\xff\xd8"), "");  // too short to tell
  EXPECT_EQ(StillImageKind(path_ + ".missing"), "");
}

}  // namespace
}  // namespace stylizer::client
