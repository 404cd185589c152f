// MemoryBudget: reservations add up to the capacity, are given back on
// destruction, Release and move, and past the budget fail with
// RESOURCE_EXHAUSTED saying to retry.
#include "server/service/memory_budget.h"

#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/service/retry_info.h"

namespace stylizer {
namespace {

using ::testing::HasSubstr;

TEST(MemoryBudgetTest, ReservesUpToTheCapacityAndGivesBack) {
  MemoryBudget budget(100);
  absl::StatusOr<MemoryBudget::Reservation> a = budget.Reserve(60, "a");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->bytes(), 60);
  EXPECT_EQ(budget.reserved(), 60);
  {
    absl::StatusOr<MemoryBudget::Reservation> b = budget.Reserve(40, "b");
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_EQ(budget.reserved(), 100);
    absl::StatusOr<MemoryBudget::Reservation> c = budget.Reserve(1, "frame c");
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.status().code(), absl::StatusCode::kResourceExhausted);
    EXPECT_THAT(c.status().message(), HasSubstr("frame c needs 1"));
    EXPECT_THAT(c.status().message(), HasSubstr("retry"));
    ASSERT_TRUE(RetryDelay(c.status()).has_value());  // for the client
    EXPECT_EQ(*RetryDelay(c.status()), absl::Seconds(2));
  }
  EXPECT_EQ(budget.reserved(), 60);
  a->Release();
  EXPECT_EQ(budget.reserved(), 0);
  a->Release();  // idempotent
  EXPECT_EQ(budget.reserved(), 0);
}

TEST(MemoryBudgetTest, MovesCarryTheBytes) {
  MemoryBudget budget(100);
  MemoryBudget::Reservation held;
  {
    absl::StatusOr<MemoryBudget::Reservation> r = budget.Reserve(30, "r");
    ASSERT_TRUE(r.ok());
    held = *std::move(r);
  }
  EXPECT_EQ(budget.reserved(), 30);
  MemoryBudget::Reservation moved(std::move(held));
  EXPECT_EQ(held.bytes(), 0);
  EXPECT_EQ(moved.bytes(), 30);
  absl::StatusOr<MemoryBudget::Reservation> other = budget.Reserve(20, "o");
  ASSERT_TRUE(other.ok());
  moved = *std::move(other);  // gives the 30 back, holds the 20
  EXPECT_EQ(budget.reserved(), 20);
}

TEST(MemoryBudgetTest, MoreThanTheWholeBudgetSaysSo) {
  MemoryBudget budget(100);
  absl::StatusOr<MemoryBudget::Reservation> r = budget.Reserve(101, "a movie");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(r.status().message(), HasSubstr("whole memory budget"));
  EXPECT_THAT(r.status().message(), HasSubstr("send less at once"));
  EXPECT_FALSE(RetryDelay(r.status()).has_value());  // retrying cannot help
  EXPECT_EQ(budget.reserved(), 0);
  EXPECT_EQ(budget.Reserve(-1, "x").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(budget.Reserve(0, "nothing").ok());
}

// What is set aside for good, and what the caller itself holds, can never
// be had by waiting: a reservation that needs them is refused without a
// retry hint; one that only needs what other calls hold gets the hint.
TEST(MemoryBudgetTest, OnlyWhatOthersHoldIsWorthWaitingFor) {
  MemoryBudget budget(100);
  ASSERT_TRUE(budget.SetAside(30, "gRPC's buffer quota").ok());
  EXPECT_EQ(budget.reserved(), 30);
  EXPECT_FALSE(budget.SetAside(71, "too much").ok());

  absl::StatusOr<MemoryBudget::Reservation> never = budget.Reserve(71, "x");
  ASSERT_FALSE(never.ok());
  EXPECT_THAT(never.status().message(),
              HasSubstr("more than the 70 bytes of this server's whole memory "
                        "budget (100 bytes, 30 of them set aside)"));
  EXPECT_FALSE(RetryDelay(never.status()).has_value());

  absl::StatusOr<MemoryBudget::Reservation> mine = budget.Reserve(40, "fixed");
  ASSERT_TRUE(mine.ok());
  // 31 more beside the caller's own 40: 71 > 70, never.
  absl::StatusOr<MemoryBudget::Reservation> more =
      budget.Reserve(31, "frames", /*held_by_caller=*/40);
  ASSERT_FALSE(more.ok());
  EXPECT_THAT(more.status().message(),
              HasSubstr("frames needs 31 bytes beside the 40 this call "
                        "already holds"));
  EXPECT_FALSE(RetryDelay(more.status()).has_value());
  // The same 31 for another call: it fits once the 40 are given back.
  absl::StatusOr<MemoryBudget::Reservation> other = budget.Reserve(31, "b");
  ASSERT_FALSE(other.ok());
  EXPECT_TRUE(RetryDelay(other.status()).has_value());
  mine->Release();
  EXPECT_TRUE(budget.Reserve(31, "b").ok());
  EXPECT_EQ(budget.reserved(), 30);  // set aside for good
}

TEST(MemoryBudgetTest, ObserverHearsEveryChange) {
  std::vector<int64_t> seen;
  MemoryBudget budget(100,
                      [&seen](int64_t reserved) { seen.push_back(reserved); });
  {
    absl::StatusOr<MemoryBudget::Reservation> a = budget.Reserve(60, "a");
    ASSERT_TRUE(a.ok());
    EXPECT_FALSE(budget.Reserve(50, "b").ok());  // refused: nothing changes
    absl::StatusOr<MemoryBudget::Reservation> c = budget.Reserve(30, "c");
    ASSERT_TRUE(c.ok());
  }
  EXPECT_THAT(seen, ::testing::ElementsAre(60, 90, 60, 0));
}

}  // namespace
}  // namespace stylizer
