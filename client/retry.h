// Retry with exponential backoff, only where it is safe: an attempt that
// failed with UNAVAILABLE before any output arrived (nothing was written, the
// server did no visible work) is tried again; everything else is final.
#ifndef STYLIZER_CLIENT_RETRY_H_
#define STYLIZER_CLIENT_RETRY_H_

#include <functional>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/time/time.h"

namespace stylizer::client {

struct RetryPolicy {
  // Retries after the first attempt (0 = no retries). Default 3.
  int max_retries = 3;
  // Wait before the first retry. Default 250 ms.
  absl::Duration initial_backoff = absl::Milliseconds(250);
  // Each wait is the previous one times this. Default 2.
  double multiplier = 2.0;
  // Longest single wait. Default 4 s.
  absl::Duration max_backoff = absl::Seconds(4);
};

// The outcome of one attempt.
struct AttemptResult {
  absl::Status status;
  // True once any response (or output byte) arrived: never retried then.
  bool output_started = false;
};

// Whether an attempt with this outcome may be tried again.
bool IsRetryable(const AttemptResult& result);

// The wait before retry number `retry` (0-based), without jitter.
absl::Duration BackoffFor(const RetryPolicy& policy, int retry);

// Runs `attempt` until it succeeds, fails in a non-retryable way, or the
// retries are spent; waits with `sleep` (default absl::SleepFor) between
// attempts. Returns the last attempt's status.
absl::Status RunWithRetry(
    const RetryPolicy& policy, absl::FunctionRef<AttemptResult()> attempt,
    const std::function<void(absl::Duration)>& sleep = nullptr);

}  // namespace stylizer::client

#endif  // STYLIZER_CLIENT_RETRY_H_
