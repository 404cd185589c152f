// See memory_trimmer.h.
#include "server/memory_trimmer.h"

#include <malloc.h>

#include <utility>

namespace stylizer {

void MemoryTrimmer::TrimNow() { malloc_trim(0); }

MemoryTrimmer::MemoryTrimmer(absl::Duration interval,
                             std::function<void()> trim)
    : interval_(interval), trim_(trim ? std::move(trim) : &TrimNow) {
  if (interval_ <= absl::ZeroDuration()) return;
  thread_ = std::thread([this] {
    absl::MutexLock lock(&mu_);
    while (true) {
      // Wakes early only to stop.
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), interval_);
      if (stopping_) return;
      mu_.Unlock();
      trim_();
      mu_.Lock();
    }
  });
}

MemoryTrimmer::~MemoryTrimmer() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

}  // namespace stylizer
