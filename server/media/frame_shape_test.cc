// Tests of the frame shape rule: thin frames refused with the reason, small
// and ordinary frames accepted. Movies: video_pipeline_test (the rule
// applies to the frames the model gets, after max_side).
#include "server/media/frame_shape.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

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
}  // namespace
}  // namespace media
}  // namespace stylizer
