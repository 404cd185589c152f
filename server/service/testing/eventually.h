// Polling for the service's tests: waits for a condition that other threads
// make true, with a wide bound (no timing is asserted).
#ifndef STYLIZER_SERVER_SERVICE_TESTING_EVENTUALLY_H_
#define STYLIZER_SERVER_SERVICE_TESTING_EVENTUALLY_H_

#include <functional>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace stylizer::testing {

// True once `condition` holds, polled every 5 ms; false if it still does not
// after `bound`.
inline bool Eventually(const std::function<bool()>& condition,
                       absl::Duration bound = absl::Seconds(30)) {
  const absl::Time end = absl::Now() + bound;
  while (!condition()) {
    if (absl::Now() > end) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

}  // namespace stylizer::testing

#endif  // STYLIZER_SERVER_SERVICE_TESTING_EVENTUALLY_H_
