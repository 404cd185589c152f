// IdleTimer on a fake clock: expiry, restart, disarm, deadline order, and
// Stop() waiting for a callback that is running.
#include "server/service/idle_timer.h"

#include <atomic>
#include <thread>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "server/batching/testing/fake_clock.h"
#include "server/service/service_context.h"

namespace stylizer {
namespace {

using ::stylizer::testing::FakeClock;

class IdleTimerTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  const absl::Time t0_ = clock_.Now();
  TimerThread thread_{&clock_};
};

TEST_F(IdleTimerTest, FiresOnceAfterTheTimeout) {
  std::atomic<int> fired{0};
  absl::Notification done;
  IdleTimer timer(&thread_, absl::Seconds(10), [&] {
    ++fired;
    done.Notify();
  });
  timer.ArmIfDisarmed();
  clock_.BlockUntilWaiterWithDeadline(t0_ + absl::Seconds(10));
  clock_.Advance(absl::Seconds(10));
  done.WaitForNotification();
  EXPECT_EQ(fired.load(), 1);
}

// A restart with extra time (a large message to take) fires that much
// later than the timeout.
TEST_F(IdleTimerTest, RestartWithExtraTimeFiresThatMuchLater) {
  std::atomic<int> fired{0};
  absl::Notification done;
  IdleTimer timer(&thread_, absl::Seconds(10), [&] {
    ++fired;
    done.Notify();
  });
  timer.Restart(absl::Seconds(5));
  clock_.BlockUntilWaiterWithDeadline(t0_ + absl::Seconds(15));
  clock_.Advance(absl::Seconds(14));
  EXPECT_EQ(fired.load(), 0);
  clock_.Advance(absl::Seconds(1));
  done.WaitForNotification();
  EXPECT_EQ(fired.load(), 1);
}

// 212 MB (8 styles of a 4K frame as raw RGB) get 202 s on top.
TEST(TimeToSendTest, IsTheSizeAtTheSlowestReadersRate) {
  EXPECT_EQ(TimeToSend(0), absl::ZeroDuration());
  EXPECT_EQ(TimeToSend(int64_t{3} << 20), absl::Seconds(3));
  EXPECT_GT(TimeToSend(212'000'000), absl::Seconds(200));
}

// Callbacks run in deadline order on one thread, so a second timer that
// fires proves the first one did not.
TEST_F(IdleTimerTest, RestartCountsFromNowAndArmIfDisarmedKeepsTheDeadline) {
  std::atomic<int> a_fired{0};
  absl::Notification a_done, b_done;
  IdleTimer a(&thread_, absl::Seconds(10), [&] {
    ++a_fired;
    a_done.Notify();
  });
  IdleTimer b(&thread_, absl::Seconds(7), [&] { b_done.Notify(); });
  a.ArmIfDisarmed();
  clock_.BlockUntilWaiterWithDeadline(t0_ + absl::Seconds(10));
  clock_.Advance(absl::Seconds(5));
  a.Restart();        // now due at t0 + 15 s
  a.ArmIfDisarmed();  // already armed: stays at t0 + 15 s
  b.ArmIfDisarmed();  // due at t0 + 12 s
  clock_.BlockUntilWaiterWithDeadline(t0_ + absl::Seconds(12));
  clock_.Advance(absl::Seconds(7));
  b_done.WaitForNotification();
  EXPECT_EQ(a_fired.load(), 0);
  clock_.BlockUntilWaiterWithDeadline(t0_ + absl::Seconds(15));
  clock_.Advance(absl::Seconds(3));
  a_done.WaitForNotification();
  EXPECT_EQ(a_fired.load(), 1);
}

TEST_F(IdleTimerTest, DisarmedAndStoppedTimersDoNotFire) {
  std::atomic<int> fired{0};
  absl::Notification last;
  IdleTimer disarmed(&thread_, absl::Seconds(1), [&] { ++fired; });
  IdleTimer stopped(&thread_, absl::Seconds(1), [&] { ++fired; });
  IdleTimer witness(&thread_, absl::Seconds(5), [&] { last.Notify(); });
  disarmed.ArmIfDisarmed();
  disarmed.Disarm();
  stopped.ArmIfDisarmed();
  stopped.Stop();
  stopped.Restart();  // ignored after Stop
  witness.ArmIfDisarmed();
  clock_.BlockUntilWaiterWithDeadline(t0_ + absl::Seconds(5));
  clock_.Advance(absl::Seconds(5));
  last.WaitForNotification();
  EXPECT_EQ(fired.load(), 0);
}

TEST_F(IdleTimerTest, ZeroOrInfiniteTimeoutDisables) {
  IdleTimer zero(&thread_, absl::ZeroDuration(), [] {});
  IdleTimer infinite(&thread_, absl::InfiniteDuration(), [] {});
  EXPECT_FALSE(zero.enabled());
  EXPECT_FALSE(infinite.enabled());
  zero.ArmIfDisarmed();  // no effect, no crash
  infinite.Restart();
}

TEST_F(IdleTimerTest, StopWaitsForARunningCallback) {
  absl::Notification started, release;
  std::atomic<bool> callback_finished{false};
  IdleTimer timer(&thread_, absl::Seconds(1), [&] {
    started.Notify();
    release.WaitForNotification();
    callback_finished = true;
  });
  timer.ArmIfDisarmed();
  clock_.BlockUntilWaiterWithDeadline(t0_ + absl::Seconds(1));
  clock_.Advance(absl::Seconds(1));
  started.WaitForNotification();
  std::atomic<bool> finished_when_stop_returned{false};
  std::thread stopper([&] {
    timer.Stop();
    finished_when_stop_returned = callback_finished.load();
  });
  release.Notify();
  stopper.join();
  EXPECT_TRUE(finished_when_stop_returned.load());
}

TEST_F(IdleTimerTest, ACallbackMayRearmItsOwnTimer) {
  std::atomic<int> fired{0};
  absl::Notification twice;
  IdleTimer* self = nullptr;
  IdleTimer timer(&thread_, absl::Seconds(2), [&] {
    if (++fired == 2) {
      twice.Notify();
    } else {
      self->Restart();
    }
  });
  self = &timer;
  timer.ArmIfDisarmed();
  clock_.BlockUntilWaiterWithDeadline(t0_ + absl::Seconds(2));
  clock_.Advance(absl::Seconds(2));
  clock_.BlockUntilWaiterWithDeadline(t0_ + absl::Seconds(4));
  clock_.Advance(absl::Seconds(2));
  twice.WaitForNotification();
  EXPECT_EQ(fired.load(), 2);
}

}  // namespace
}  // namespace stylizer
