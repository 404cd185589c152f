// The job queue's time source: the process clock in production, a fake one in
// tests (testing/fake_clock.h) so that batch timeouts and deadlines are exact
// and no test depends on how fast the machine is.
#ifndef STYLIZER_SERVER_BATCHING_CLOCK_H_
#define STYLIZER_SERVER_BATCHING_CLOCK_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace stylizer {

class Clock {
 public:
  virtual ~Clock() = default;

  // The current time.
  virtual absl::Time Now() const = 0;

  // With `mu` held, waits until `cond` holds or Now() reaches `deadline`
  // (absl::InfiniteFuture() = no deadline). `mu` is held again on return.
  // Returns whether `cond` holds. A computed wait: never polls.
  virtual bool AwaitWithDeadline(absl::Mutex* mu, const absl::Condition& cond,
                                 absl::Time deadline) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) = 0;

  // The process's clock (absl::Now()); a shared instance, never null.
  static const Clock* Real();
};

}  // namespace stylizer

#endif  // STYLIZER_SERVER_BATCHING_CLOCK_H_
