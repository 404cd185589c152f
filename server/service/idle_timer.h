// Idle timers of the streaming RPCs: one thread (TimerThread) runs the
// callbacks of every stream's IdleTimer when it expires. A stream arms its
// timer while it waits on the client (a read or a write outstanding) and
// restarts it whenever the client makes progress; a timer that runs out calls
// the stream's on_idle once, on the timer thread.
//
// Ordering guarantees, so that a reactor can end safely whatever comes first
// (the timer, OnCancel, OnReadDone, OnDone): Arm/Restart/Disarm never block
// and may be called under the caller's own lock; Stop() returns only when
// on_idle is not running and never will again, so a reactor calls it in its
// destructor, without holding any lock on_idle takes.
#ifndef STYLIZER_SERVER_SERVICE_IDLE_TIMER_H_
#define STYLIZER_SERVER_SERVICE_IDLE_TIMER_H_

#include <cstdint>
#include <functional>
#include <set>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/batching/clock.h"

namespace stylizer {

class IdleTimer;

// The thread that runs expired IdleTimers' callbacks, one after the other,
// in deadline order.
class TimerThread {
 public:
  // `clock` (not owned; default the real one) must outlive the thread.
  explicit TimerThread(const Clock* clock = nullptr);
  // Joins the thread. Every IdleTimer on it must be stopped (destroyed) first.
  ~TimerThread();
  TimerThread(const TimerThread&) = delete;
  TimerThread& operator=(const TimerThread&) = delete;

  const Clock* clock() const { return clock_; }

 private:
  friend class IdleTimer;

  void Loop();
  // Arms `timer` to expire at `deadline` (replacing an earlier deadline).
  void ArmLocked(IdleTimer* timer, absl::Time deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DisarmLocked(IdleTimer* timer) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Clock* const clock_;
  absl::Mutex mu_;
  std::set<std::pair<absl::Time, IdleTimer*>> armed_ ABSL_GUARDED_BY(mu_);
  // Bumped whenever the earliest deadline may have moved: wakes the loop.
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 0;
  // The timer whose callback runs now (on the timer thread), or null.
  IdleTimer* running_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// One stream's idle timer. Not armed when created.
class IdleTimer {
 public:
  // Calls `on_idle` on `thread` once the timer, armed, was not restarted or
  // disarmed for `timeout`. A timeout <= 0 or infinite disables the timer
  // (it never arms). `on_idle` must not call Stop().
  IdleTimer(TimerThread* thread, absl::Duration timeout,
            std::function<void()> on_idle);
  // Stop().
  ~IdleTimer();
  IdleTimer(const IdleTimer&) = delete;
  IdleTimer& operator=(const IdleTimer&) = delete;

  // Arms the timer counting from now, unless it is armed already (then its
  // deadline stays).
  void ArmIfDisarmed();
  // Arms the timer counting from now (client progress), with `extra` time
  // on top of the timeout (a large message the client needs time to take).
  void Restart(absl::Duration extra = absl::ZeroDuration());
  // No callback until armed again.
  void Disarm();
  // Disarms for good and waits for a callback that is running now. Call
  // without holding any lock that on_idle takes. Idempotent.
  void Stop();

  absl::Duration timeout() const { return timeout_; }
  bool enabled() const { return enabled_; }

 private:
  friend class TimerThread;

  TimerThread* const thread_;
  const absl::Duration timeout_;
  const bool enabled_;
  const std::function<void()> on_idle_;
  // Guarded by thread_->mu_.
  absl::Time deadline_ = absl::InfiniteFuture();  // InfiniteFuture: disarmed
  bool stopped_ = false;
};

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVICE_IDLE_TIMER_H_
