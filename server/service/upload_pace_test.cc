#include "server/service/upload_pace.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stylizer {
namespace {

using ::testing::HasSubstr;

TEST(UploadPaceTest, AClientAtTheFloorOrAboveIsNeverCut) {
  UploadPace pace(1000, absl::Seconds(10));
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(pace.Add(1000, absl::Seconds(1)).ok()) << i;
  }
}

TEST(UploadPaceTest, ATrickleIsCutOnceAWholeWindowOfWaitingHasPassed) {
  UploadPace pace(1000, absl::Seconds(10));
  // A byte every 2 s: within the first window, nothing is decided.
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(pace.Add(1, absl::Seconds(2)).ok()) << i;
  }
  const absl::Status cut = pace.Add(1, absl::Seconds(2));
  EXPECT_EQ(cut.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(cut.message(), HasSubstr("5 bytes came in the last 10s"));
  EXPECT_THAT(cut.message(), HasSubstr("floor of 1000 bytes/s"));
  EXPECT_THAT(cut.message(), HasSubstr("--upload_min_rate"));
}

TEST(UploadPaceTest, EachWindowStandsOnItsOwn) {
  UploadPace pace(1000, absl::Seconds(10));
  // A burst pays for its own window only, not for the trickle after it.
  ASSERT_TRUE(pace.Add(100000, absl::Seconds(10)).ok());
  ASSERT_TRUE(pace.Add(1, absl::Seconds(5)).ok());
  EXPECT_EQ(pace.Add(1, absl::Seconds(5)).code(),
            absl::StatusCode::kDeadlineExceeded);
}

TEST(UploadPaceTest, TimeTheServerDidNotWaitDoesNotCount) {
  UploadPace pace(1000, absl::Seconds(10));
  // Messages the server read at once (it had held the upload back while
  // its job caught up): no waiting, nothing owed, however long it took.
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(pace.Add(1, absl::ZeroDuration()).ok()) << i;
  }
}

TEST(UploadPaceTest, NoFloorWhenTurnedOff) {
  for (UploadPace pace : {UploadPace(0, absl::Seconds(10)),
                          UploadPace(1000, absl::ZeroDuration()),
                          UploadPace(1000, absl::InfiniteDuration())}) {
    for (int i = 0; i < 100; ++i) {
      ASSERT_TRUE(pace.Add(0, absl::Seconds(5)).ok()) << i;
    }
  }
}

}  // namespace
}  // namespace stylizer
