// FakeClock: time in an atomic, waiters registered so Advance can wake them.
#include "server/batching/testing/fake_clock.h"

#include <vector>

namespace stylizer {
namespace testing {

FakeClock::FakeClock(absl::Time start) : now_ns_(absl::ToUnixNanos(start)) {}

absl::Time FakeClock::Now() const {
  return absl::FromUnixNanos(now_ns_.load(std::memory_order_acquire));
}

bool FakeClock::AwaitWithDeadline(absl::Mutex* mu, const absl::Condition& cond,
                                  absl::Time deadline) const {
  const std::pair<absl::Time, absl::Mutex*> me(deadline, mu);
  {
    absl::MutexLock lock(&waiters_mu_);
    waiters_.insert(me);
  }
  auto done = [&]() { return cond.Eval() || Now() >= deadline; };
  mu->Await(absl::Condition(&done));
  {
    absl::MutexLock lock(&waiters_mu_);
    waiters_.erase(waiters_.find(me));
  }
  return cond.Eval();
}

void FakeClock::Advance(absl::Duration duration) {
  std::vector<absl::Mutex*> to_wake;
  {
    absl::MutexLock lock(&waiters_mu_);
    now_ns_.fetch_add(absl::ToInt64Nanoseconds(duration),
                      std::memory_order_acq_rel);
    const absl::Time now = Now();
    for (const auto& [deadline, mu] : waiters_) {
      if (deadline <= now) to_wake.push_back(mu);
    }
  }
  // Releasing a mutex makes absl re-evaluate its waiters' conditions.
  for (absl::Mutex* mu : to_wake) {
    mu->Lock();
    mu->Unlock();
  }
}

void FakeClock::BlockUntilWaiterWithDeadline(absl::Time deadline) const {
  auto waiting = [&]() {
    waiters_mu_.AssertReaderHeld();
    for (const auto& waiter : waiters_) {
      if (waiter.first == deadline) return true;
    }
    return false;
  };
  absl::MutexLock lock(&waiters_mu_);
  waiters_mu_.Await(absl::Condition(&waiting));
}

}  // namespace testing
}  // namespace stylizer
