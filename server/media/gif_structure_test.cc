// CheckGifIsWhole over every cut of a real GIF, and over bytes that are no
// GIF's.
#include "server/media/gif_structure.h"

#include <cstring>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/media/testing/test_movies.h"

namespace stylizer {
namespace media {
namespace {

using ::testing::HasSubstr;

absl::Status Check(const std::string& bytes) {
  return CheckGifIsWhole([&](uint64_t offset, char* out, size_t size) {
    if (offset >= bytes.size()) return absl::StatusOr<size_t>(0);
    const size_t n = std::min<size_t>(size, bytes.size() - offset);
    std::memcpy(out, bytes.data() + offset, n);
    return absl::StatusOr<size_t>(n);
  });
}

TEST(GifStructureTest, EveryCutInsideABlockIsFound) {
  const std::string path = ::testing::TempDir() + "/gif_structure_test.gif";
  ASSERT_TRUE(testing::MakeMovie(
                  "-f lavfi -i testsrc=size=48x32:rate=1 -frames:v 3", path)
                  .ok());
  absl::StatusOr<std::string> gif = testing::ReadFile(path);
  ASSERT_TRUE(gif.ok()) << gif.status();
  EXPECT_TRUE(Check(*gif).ok());
  EXPECT_TRUE(Check(gif->substr(0, gif->size() - 1)).ok());  // no trailer
  int whole = 0;
  for (size_t n = 7; n + 1 < gif->size(); ++n) {
    absl::Status s = Check(gif->substr(0, n));
    if (s.ok()) {
      ++whole;  // a cut between blocks: each frame read is whole
    } else {
      EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(std::string(s.message()), HasSubstr("the GIF ends at byte "))
          << n;
    }
  }
  // Between blocks: after the header's tables, after each extension and
  // each frame (3 frames, each with its graphic control extension, and the
  // looping extension).
  EXPECT_GE(whole, 3);
  EXPECT_LE(whole, 10);
}

TEST(GifStructureTest, NoGifAndDamageAreLeftToTheDecoder) {
  EXPECT_TRUE(Check("").ok());
  EXPECT_TRUE(Check("GIF8").ok());
  EXPECT_TRUE(Check("not a gif at all").ok());
  // A header, a screen without a colour table, then a byte that starts no
  // block.
  EXPECT_TRUE(
      Check(std::string("GIF89a\x01\x00\x01\x00\x00\x00\x00\x99", 14)).ok());
  // A header cut inside its screen descriptor.
  EXPECT_EQ(Check("GIF89a\x01\x00").code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace media
}  // namespace stylizer
