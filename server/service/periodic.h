// Periodic: runs a task every so often on a thread of its own until
// destroyed (the memory trimmer, the auth token file's reload), and at once
// when asked (RunNow: SIGHUP reloads the files).
#ifndef STYLIZER_SERVER_SERVICE_PERIODIC_H_
#define STYLIZER_SERVER_SERVICE_PERIODIC_H_

#include <functional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace stylizer {

class Periodic {
 public:
  // Calls `task` every `interval` (first after one interval) until
  // destroyed; does nothing if `interval` is not positive.
  Periodic(absl::Duration interval, std::function<void()> task);
  // Stops at once (a running task finishes first) and joins the thread.
  ~Periodic();

  // Has the thread run the task now, then again every interval from then;
  // a request made while the task runs runs it once more after. Does
  // nothing without a positive interval. Returns at once.
  void RunNow() ABSL_LOCKS_EXCLUDED(mu_);

  Periodic(const Periodic&) = delete;
  Periodic& operator=(const Periodic&) = delete;

 private:
  bool ShouldWake() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const absl::Duration interval_;
  const std::function<void()> task_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool run_now_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVICE_PERIODIC_H_
