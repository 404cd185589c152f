// The shutdown watchdog; see drain_watchdog.h.
#include "server/drain_watchdog.h"

#include <utility>

namespace stylizer {

DrainWatchdog::DrainWatchdog(absl::Duration limit,
                             std::function<void()> give_up)
    : thread_([this, limit, give_up = std::move(give_up)] {
        if (!disarmed_.WaitForNotificationWithTimeout(limit)) give_up();
      }) {}

DrainWatchdog::~DrainWatchdog() {
  Disarm();
  thread_.join();
}

void DrainWatchdog::Disarm() {
  if (!disarmed_.HasBeenNotified()) disarmed_.Notify();
}

}  // namespace stylizer
