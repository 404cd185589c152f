// See periodic.h.
#include "server/service/periodic.h"

#include <utility>

namespace stylizer {

Periodic::Periodic(absl::Duration interval, std::function<void()> task)
    : interval_(interval), task_(std::move(task)) {
  if (interval_ <= absl::ZeroDuration()) return;
  thread_ = std::thread([this] {
    absl::MutexLock lock(&mu_);
    while (true) {
      // Wakes early to stop, or to run now.
      mu_.AwaitWithTimeout(absl::Condition(this, &Periodic::ShouldWake),
                           interval_);
      if (stopping_) return;
      run_now_ = false;
      mu_.Unlock();
      task_();
      mu_.Lock();
    }
  });
}

bool Periodic::ShouldWake() const { return stopping_ || run_now_; }

void Periodic::RunNow() {
  absl::MutexLock lock(&mu_);
  run_now_ = true;
}

Periodic::~Periodic() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

}  // namespace stylizer
