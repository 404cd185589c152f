// Tests of the frame shape rule: thin frames refused with the reason, small
// and ordinary frames accepted. Movies: video_pipeline_refusal_test (the
// rule applies to the frames the model gets, after max_side).
#include "server/media/frame_shape.h"

#include <algorithm>
#include <cmath>
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
// A max_side as a still image is scaled: the longer side becomes it, the
// shorter rounded, at least 1.
ScaledSize ImageScaler(int64_t width, int64_t height) {
  return [=](int64_t side) {
    const int64_t longer = std::max(width, height);
    if (side >= longer) return std::make_pair(width, height);
    auto scaled = [&](int64_t s) {
      return s == longer ? side
                         : std::max<int64_t>(
                               1, std::llround(double(s) * side / longer));
    };
    return std::make_pair(scaled(width), scaled(height));
  };
}

TEST(LargestFittingSideTest, FitsTheLimitAndTheShapeRule) {
  // A phone's photo against the 4K limit: as large as fits.
  EXPECT_EQ(LargestFittingSide(4032, 8847360, ImageScaler(4032, 3024)), 3434);
  // A thin strip: the largest that fits the limit (707: 707x14) is too thin,
  // and so is every side down to a small frame (455: 455x9).
  EXPECT_EQ(LargestFittingSide(1000, 10000, ImageScaler(1000, 20)), 455);
  // What fits already is kept.
  EXPECT_EQ(LargestFittingSide(640, 8847360, ImageScaler(640, 480)), 640);
  // Nothing fits a limit under one pixel.
  EXPECT_EQ(LargestFittingSide(640, 0, ImageScaler(640, 480)), 0);
}

// The search for a 67108864x1 image's side walked down one side at a time,
// building an error message at each: 1.6 s of a work thread per request.
TEST(LargestFittingSideTest, IsQuickForAnyLength) {
  int calls = 0;
  const ScaledSize scaler = ImageScaler(67108864, 1);
  const int64_t side = LargestFittingSide(67108864, 8847360, [&](int64_t s) {
    ++calls;
    return scaler(s);
  });
  EXPECT_EQ(side, 4096);  // 4096x1: a small frame
  EXPECT_LT(calls, 100);
}

TEST(ThinPictureRemedyTest, WhatMaxSideCanDoForAMovieOrAnImage) {
  EXPECT_EQ(ThinPictureRemedy(true, 0, true),
            " (a larger max_side, or none, keeps them wide enough)");
  EXPECT_EQ(ThinPictureRemedy(true, 649, false),
            " (a larger max_side, or none, keeps it wide enough)");
  EXPECT_EQ(ThinPictureRemedy(false, 64, true),
            " (or set max_side to 64 or less: the server scales the frames "
            "down to small ones, which may be thin)");
  EXPECT_EQ(ThinPictureRemedy(false, 649, false),
            " (or set max_side to 649 or less: the server scales it down to "
            "a small frame, which may be thin)");
  EXPECT_EQ(ThinPictureRemedy(false, 0, false), "");
}

}  // namespace
}  // namespace media
}  // namespace stylizer
