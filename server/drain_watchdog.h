// DrainWatchdog: bounds a graceful shutdown. Past the drain timeout every
// call is cancelled and must then end on its own; one that never does (a
// bug) would hold the process forever, so after a grace the watchdog gives
// up (logs drain_stuck and exits 1, so the orchestrator restarts the pod).
// Once the drain has ended it is disarmed: it used to stay armed through the
// teardown after a drain that ended close to its limit (a call whose answer
// sat in the socket of a client that stopped reading ends only when gRPC's
// keepalive closes the connection), and exited 1 after `stopped`.
#ifndef STYLIZER_SERVER_DRAIN_WATCHDOG_H_
#define STYLIZER_SERVER_DRAIN_WATCHDOG_H_

#include <functional>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace stylizer {

class DrainWatchdog {
 public:
  // Calls `give_up` on a thread of its own once `limit` has passed, unless
  // Disarm() came first.
  DrainWatchdog(absl::Duration limit, std::function<void()> give_up);
  // Disarms (if not yet) and waits for the thread.
  ~DrainWatchdog();

  DrainWatchdog(const DrainWatchdog&) = delete;
  DrainWatchdog& operator=(const DrainWatchdog&) = delete;

  // The drain has ended: `give_up` is not called from now on (unless it is
  // running already).
  void Disarm();

 private:
  absl::Notification disarmed_;
  std::thread thread_;
};

}  // namespace stylizer

#endif  // STYLIZER_SERVER_DRAIN_WATCHDOG_H_
