// Tests of DrainWatchdog: it gives up once its limit passes, and never after
// Disarm (the drain ended).
#include "server/drain_watchdog.h"

#include <atomic>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace stylizer {
namespace {

TEST(DrainWatchdogTest, GivesUpAtItsLimit) {
  absl::Notification gave_up;
  DrainWatchdog watchdog(absl::Milliseconds(20), [&] { gave_up.Notify(); });
  EXPECT_TRUE(gave_up.WaitForNotificationWithTimeout(absl::Seconds(30)));
}

TEST(DrainWatchdogTest, ADisarmedWatchdogNeverGivesUp) {
  std::atomic<bool> gave_up{false};
  {
    // A limit no descheduling of this thread before Disarm reaches.
    DrainWatchdog watchdog(absl::Seconds(2), [&] { gave_up = true; });
    watchdog.Disarm();
    absl::SleepFor(absl::Milliseconds(2500));  // past its limit
  }
  EXPECT_FALSE(gave_up);
}

TEST(DrainWatchdogTest, DestroyingItDisarmsIt) {
  std::atomic<bool> gave_up{false};
  {
    DrainWatchdog watchdog(absl::Hours(1), [&] { gave_up = true; });
  }  // returns at once: the thread does not wait out the hour
  EXPECT_FALSE(gave_up);
}

}  // namespace
}  // namespace stylizer
