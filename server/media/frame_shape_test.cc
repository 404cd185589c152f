// Tests of the frame shape rule: thin frames refused with the reason, small
// and ordinary frames accepted.
#include "server/media/frame_shape.h"

#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/media/movie_reader.h"
#include "server/media/spool.h"
#include "server/media/testing/test_movies.h"

namespace stylizer {
namespace media {
namespace {

using ::testing::HasSubstr;

TEST(FrameShapeTest, AcceptsOrdinaryAndSmallFrames) {
  for (auto [w, h] : std::vector<std::pair<int64_t, int64_t>>{{1920, 1080},
                                                              {1080, 1920},
                                                              {32, 32},
                                                              {32, 276480},
                                                              {276480, 32},
                                                              {1, 1},
                                                              {13, 10},
                                                              {64, 64},
                                                              {4096, 1},
                                                              {1, 4096},
                                                              {200, 20}}) {
    EXPECT_TRUE(CheckFrameShape(w, h).ok()) << w << "x" << h;
  }
}

// Issue 13: a 8847360x1 raw image (inside the pixel limit) took about 10 GB.
TEST(FrameShapeTest, RefusesThinFramesWithTheReason) {
  for (auto [w, h] : std::vector<std::pair<int64_t, int64_t>>{
           {8847360, 1}, {1, 8847360}, {4097, 1}, {2048, 31}, {31, 2048}}) {
    const absl::Status s = CheckFrameShape(w, h);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << w << "x" << h;
    EXPECT_THAT(s.message(), HasSubstr(absl::StrCat(w, "x", h)));
    EXPECT_THAT(s.message(), HasSubstr("at least 32 pixels"));
  }
}

// Movies go through the same rule when the reader opens them.
TEST(FrameShapeTest, MovieReaderRefusesThinMovies) {
  const std::string dir = testing::MakeTempDir("frame_shape");
  for (const char* size : {"4800x2", "96x96"}) {
    const std::string path = absl::StrCat(dir, "/", size, ".mkv");
    ASSERT_TRUE(
        testing::MakeMovie(absl::StrCat("-f lavfi -i color=size=", size,
                                        ":rate=5:duration=0.4 -c:v ffv1"),
                           path)
            .ok());
    absl::StatusOr<std::string> bytes = testing::ReadFile(path);
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    auto spool = Spool::Create({});
    ASSERT_TRUE(spool.ok()) << spool.status();
    ASSERT_TRUE((*spool)->Append(*bytes).ok());
    (*spool)->Finish();
    auto reader = MovieReader::Open(spool->get(), {});
    if (std::string(size) == "96x96") {
      EXPECT_TRUE(reader.ok()) << reader.status();
    } else {
      EXPECT_EQ(reader.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(reader.status().message(), HasSubstr("too thin"));
    }
  }
}

}  // namespace
}  // namespace media
}  // namespace stylizer
