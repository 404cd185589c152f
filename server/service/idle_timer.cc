// Stream idle timers on one thread; see idle_timer.h.
#include "server/service/idle_timer.h"

#include <algorithm>

namespace stylizer {

TimerThread::TimerThread(const Clock* clock)
    : clock_(clock != nullptr ? clock : Clock::Real()) {
  thread_ = std::thread([this] { Loop(); });
}

TimerThread::~TimerThread() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    ++version_;
  }
  thread_.join();
}

void TimerThread::ArmLocked(IdleTimer* timer, absl::Time deadline) {
  DisarmLocked(timer);
  timer->deadline_ = deadline;
  armed_.emplace(deadline, timer);
  ++version_;
}

void TimerThread::DisarmLocked(IdleTimer* timer) {
  if (timer->deadline_ == absl::InfiniteFuture()) return;
  armed_.erase({timer->deadline_, timer});
  timer->deadline_ = absl::InfiniteFuture();
}

void TimerThread::Loop() {
  absl::MutexLock lock(&mu_);
  while (!stop_) {
    if (!armed_.empty() && armed_.begin()->first <= clock_->Now()) {
      IdleTimer* timer = armed_.begin()->second;
      armed_.erase(armed_.begin());
      timer->deadline_ = absl::InfiniteFuture();
      // Outside the lock: on_idle takes the stream's lock, and the stream
      // arms and disarms its timer under that lock. Stop() waits for this.
      running_ = timer;
      mu_.Unlock();
      timer->on_idle_();
      mu_.Lock();
      running_ = nullptr;
      continue;
    }
    const uint64_t seen = version_;
    const absl::Time next =
        armed_.empty() ? absl::InfiniteFuture() : armed_.begin()->first;
    auto changed = [this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return version_ != seen;
    };
    clock_->AwaitWithDeadline(&mu_, absl::Condition(&changed), next);
  }
}

IdleTimer::IdleTimer(TimerThread* thread, absl::Duration timeout,
                     std::function<void()> on_idle)
    : thread_(thread),
      timeout_(timeout),
      enabled_(thread != nullptr && timeout > absl::ZeroDuration() &&
               timeout != absl::InfiniteDuration()),
      on_idle_(std::move(on_idle)) {}

IdleTimer::~IdleTimer() { Stop(); }

void IdleTimer::ArmIfDisarmed() {
  if (!enabled_) return;
  absl::MutexLock lock(&thread_->mu_);
  if (stopped_ || deadline_ != absl::InfiniteFuture()) return;
  thread_->ArmLocked(this, thread_->clock_->Now() + timeout_);
}

void IdleTimer::Restart(absl::Duration extra) {
  if (!enabled_) return;
  absl::MutexLock lock(&thread_->mu_);
  if (stopped_) return;
  thread_->ArmLocked(this, thread_->clock_->Now() + timeout_ +
                               std::max(extra, absl::ZeroDuration()));
}

void IdleTimer::Disarm() {
  if (!enabled_) return;
  absl::MutexLock lock(&thread_->mu_);
  thread_->DisarmLocked(this);
}

void IdleTimer::Stop() {
  if (!enabled_) return;
  absl::MutexLock lock(&thread_->mu_);
  stopped_ = true;
  thread_->DisarmLocked(this);
  auto not_running = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return thread_->running_ != this;
  };
  thread_->mu_.Await(absl::Condition(&not_running));
}

}  // namespace stylizer
