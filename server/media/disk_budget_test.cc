// Unit tests of the spools' disk budget: its own limit, and the free room of
// a disk (a fake here, statvfs in the server) less what uploads have taken
// and not written yet.
#include "server/media/disk_budget.h"

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/service/retry_info.h"

namespace stylizer {
namespace media {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kMB = 1000000;

// A disk of `size` bytes whose free room the test sets.
struct FakeDisk {
  uint64_t size = 50 * kMB;
  uint64_t free = 50 * kMB;
  DiskBudget::SpaceReader Reader() {
    return [this]() -> std::optional<DiskBudget::DiskSpace> {
      return DiskBudget::DiskSpace{size, free};
    };
  }
};

// Two announced uploads that fit the disk one at a time, not together: the
// second is busy (retry hint) from the moment the first has taken its room,
// also once the first's bytes are on the disk, and fits once it has ended.
TEST(DiskBudgetTest, TheDisksFreeRoomIsTheBudgetWithoutALimit) {
  FakeDisk disk;
  DiskBudget budget(0, disk.Reader());
  ASSERT_TRUE(budget.Take(36 * kMB, 36 * kMB).ok());
  absl::Status busy = budget.Take(36 * kMB, 36 * kMB);
  EXPECT_TRUE(absl::IsResourceExhausted(busy)) << busy;
  EXPECT_TRUE(RetryDelay(busy).has_value()) << busy;
  EXPECT_THAT(std::string(busy.message()),
              HasSubstr("36000000 of them claimed by uploads still arriving"));
  // The first writes half of its bytes: the disk's free room counts them.
  budget.Wrote(18 * kMB);
  disk.free -= 18 * kMB;
  EXPECT_TRUE(absl::IsResourceExhausted(budget.Take(36 * kMB, 36 * kMB)));
  EXPECT_TRUE(budget.Take(14 * kMB, 14 * kMB).ok());  // what is left
  budget.Give(14 * kMB);
  budget.Give(36 * kMB, 18 * kMB);
  disk.free += 18 * kMB;
  EXPECT_EQ(budget.used(), 0u);
  EXPECT_TRUE(budget.Take(36 * kMB, 36 * kMB).ok());
}

// Files other than uploads fill the disk: no wait for other uploads helps,
// so no retry hint, and the message says whose the room is.
TEST(DiskBudgetTest, ADiskFilledByOtherFilesIsNotBusy) {
  FakeDisk disk;
  disk.free = 10 * kMB;
  DiskBudget budget(0, disk.Reader());
  ASSERT_TRUE(budget.Take(4 * kMB, 4 * kMB).ok());  // another upload
  const absl::Status s = budget.Take(20 * kMB, 20 * kMB);
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  EXPECT_FALSE(RetryDelay(s).has_value()) << s;
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("is filled by files other than uploads: 10000000 of "
                        "its 50000000 bytes are free, the other uploads in "
                        "progress hold 4000000"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("operator must free room"));
  // Once the other upload ends, 10 MB would be free: a 6 MB upload waits
  // for it (busy), as it fits then.
  EXPECT_TRUE(RetryDelay(budget.Take(8 * kMB, 8 * kMB)).has_value());
}

// Larger than the whole disk: refused for good, whatever is free.
TEST(DiskBudgetTest, AMovieLargerThanTheDiskIsRefusedForGood) {
  FakeDisk disk;
  DiskBudget budget(0, disk.Reader());
  const absl::Status s = budget.Take(kMB, 60 * kMB);
  EXPECT_TRUE(absl::IsResourceExhausted(s));
  EXPECT_FALSE(RetryDelay(s).has_value());
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("larger than the server's whole disk"));
}

// The limit applies before the disk, and a growing upload's refusal counts
// its own bytes (the numbers looked as if room were left).
TEST(DiskBudgetTest, TheLimitsRefusalCountsTheUploadsOwnBytes) {
  FakeDisk disk;
  DiskBudget budget(45 * kMB, disk.Reader());
  ASSERT_TRUE(budget.Take(16 * kMB, 16 * kMB).ok());  // a pipe, growing
  ASSERT_TRUE(budget.Take(28 * kMB, 28 * kMB).ok());  // announced
  const absl::Status s = budget.Take(2 * kMB, 18 * kMB, 16 * kMB);
  EXPECT_TRUE(RetryDelay(s).has_value()) << s;
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("(44000000 of 45000000 bytes, --spool_disk_bytes, "
                        "16000000 of them this upload's)"));
}

// A disk that cannot be read leaves the limit alone in charge.
TEST(DiskBudgetTest, AnUnreadableDiskLeavesTheLimit) {
  DiskBudget budget(
      10 * kMB, []() -> std::optional<DiskBudget::DiskSpace> { return {}; });
  EXPECT_TRUE(budget.Take(10 * kMB, 10 * kMB).ok());
  EXPECT_TRUE(absl::IsResourceExhausted(budget.Take(1, 1)));
}

}  // namespace
}  // namespace media
}  // namespace stylizer
