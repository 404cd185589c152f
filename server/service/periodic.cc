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
      // Wakes early only to stop.
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), interval_);
      if (stopping_) return;
      mu_.Unlock();
      task_();
      mu_.Lock();
    }
  });
}

Periodic::~Periodic() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

}  // namespace stylizer
