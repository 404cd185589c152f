// Tests of Periodic: its runs, RunNow, and a prompt stop.
#include "server/service/periodic.h"

#include <gtest/gtest.h>

#include <atomic>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"

namespace stylizer {
namespace {

// Waits up to 30 s for `done`.
template <typename F>
bool Eventually(F done) {
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (!done()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return true;
}

TEST(PeriodicTest, RunsEveryInterval) {
  std::atomic<int> runs{0};
  Periodic periodic(absl::Milliseconds(5), [&] { ++runs; });
  EXPECT_TRUE(Eventually([&] { return runs.load() >= 3; }));
}

// SIGHUP: an hourly reload is run at once when asked, as often as asked.
TEST(PeriodicTest, RunNowRunsTheTaskAtOnce) {
  std::atomic<int> runs{0};
  Periodic periodic(absl::Hours(1), [&] { ++runs; });
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(runs.load(), 0);
  periodic.RunNow();
  EXPECT_TRUE(Eventually([&] { return runs.load() == 1; }));
  periodic.RunNow();
  EXPECT_TRUE(Eventually([&] { return runs.load() == 2; }));
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(runs.load(), 2);
}

// A request that comes while the task runs is not lost: the task runs once
// more after (the file may have changed after the running read).
TEST(PeriodicTest, ARequestDuringARunRunsItOnceMore) {
  std::atomic<int> runs{0};
  absl::Notification started, release;
  Periodic periodic(absl::Hours(1), [&] {
    if (++runs == 1) {
      started.Notify();
      release.WaitForNotification();
    }
  });
  periodic.RunNow();
  started.WaitForNotification();
  periodic.RunNow();
  release.Notify();
  EXPECT_TRUE(Eventually([&] { return runs.load() == 2; }));
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(runs.load(), 2);
}

TEST(PeriodicTest, WithoutAnIntervalNothingRuns) {
  std::atomic<int> runs{0};
  Periodic periodic(absl::ZeroDuration(), [&] { ++runs; });
  periodic.RunNow();
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(runs.load(), 0);
}

TEST(PeriodicTest, StopsAtOnceWhenDestroyed) {
  const absl::Time start = absl::Now();
  {
    Periodic periodic(absl::Hours(1), [] {});
  }
  EXPECT_LT(absl::Now() - start, absl::Minutes(1));
}

}  // namespace
}  // namespace stylizer
