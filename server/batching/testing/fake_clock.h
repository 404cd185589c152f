// A clock for tests that moves only when told to (Advance), so that batch
// timeouts and deadlines can be tested exactly. Waits on it end when the
// waited-for condition holds or when Advance passes their deadline.
#ifndef STYLIZER_SERVER_BATCHING_TESTING_FAKE_CLOCK_H_
#define STYLIZER_SERVER_BATCHING_TESTING_FAKE_CLOCK_H_

#include <atomic>
#include <cstdint>
#include <set>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/batching/clock.h"

namespace stylizer {
namespace testing {

class FakeClock final : public Clock {
 public:
  // Starts at `start` (an arbitrary fixed time by default).
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1700000000));

  absl::Time Now() const override;
  bool AwaitWithDeadline(absl::Mutex* mu, const absl::Condition& cond,
                         absl::Time deadline) const override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  // Moves time forward and wakes the waits whose deadline has passed.
  void Advance(absl::Duration duration) ABSL_LOCKS_EXCLUDED(waiters_mu_);

  // Blocks (in real time) until some thread waits with exactly `deadline`.
  void BlockUntilWaiterWithDeadline(absl::Time deadline) const
      ABSL_LOCKS_EXCLUDED(waiters_mu_);

 private:
  std::atomic<int64_t> now_ns_;
  mutable absl::Mutex waiters_mu_;
  // Deadline and the mutex each waiting thread waits on.
  mutable std::multiset<std::pair<absl::Time, absl::Mutex*>> waiters_
      ABSL_GUARDED_BY(waiters_mu_);
};

}  // namespace testing
}  // namespace stylizer

#endif  // STYLIZER_SERVER_BATCHING_TESTING_FAKE_CLOCK_H_
