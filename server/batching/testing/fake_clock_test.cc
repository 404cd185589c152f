// Tests of the fake clock the job queue's tests rely on: a timed wait ends
// exactly when Advance reaches its deadline, or earlier when its condition
// holds, and never by itself.
#include "server/batching/testing/fake_clock.h"

#include <atomic>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace stylizer {
namespace testing {
namespace {

TEST(FakeClockTest, MovesOnlyWhenAdvanced) {
  FakeClock clock;
  const absl::Time start = clock.Now();
  absl::SleepFor(absl::Milliseconds(2));
  EXPECT_EQ(clock.Now(), start);
  clock.Advance(absl::Milliseconds(3));
  EXPECT_EQ(clock.Now(), start + absl::Milliseconds(3));
}

TEST(FakeClockTest, TimedWaitEndsWhenAdvancePassesItsDeadline) {
  FakeClock clock;
  absl::Mutex mu;
  bool never = false;
  std::atomic<bool> done{false};
  bool result = true;
  const absl::Time deadline = clock.Now() + absl::Milliseconds(5);
  std::thread waiter([&] {
    absl::MutexLock lock(&mu);
    result = clock.AwaitWithDeadline(&mu, absl::Condition(&never), deadline);
    done = true;
  });
  clock.BlockUntilWaiterWithDeadline(deadline);
  clock.Advance(absl::Milliseconds(4));
  absl::SleepFor(absl::Milliseconds(10));
  EXPECT_FALSE(done);
  clock.Advance(absl::Milliseconds(1));
  waiter.join();
  EXPECT_FALSE(result);
}

TEST(FakeClockTest, TimedWaitEndsWhenItsConditionHolds) {
  FakeClock clock;
  absl::Mutex mu;
  bool ready = false;
  bool result = false;
  const absl::Time deadline = clock.Now() + absl::Hours(1);
  std::thread waiter([&] {
    absl::MutexLock lock(&mu);
    result = clock.AwaitWithDeadline(&mu, absl::Condition(&ready), deadline);
  });
  clock.BlockUntilWaiterWithDeadline(deadline);
  {
    absl::MutexLock lock(&mu);
    ready = true;
  }
  waiter.join();
  EXPECT_TRUE(result);
}

}  // namespace
}  // namespace testing
}  // namespace stylizer
