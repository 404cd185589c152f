// Backoff retries for UNAVAILABLE before any output; see retry.h.
#include "client/retry.h"

#include <algorithm>

#include "absl/time/clock.h"

namespace stylizer::client {

bool IsRetryable(const AttemptResult& result) {
  return result.status.code() == absl::StatusCode::kUnavailable &&
         !result.output_started;
}

absl::Duration BackoffFor(const RetryPolicy& policy, int retry) {
  absl::Duration d = policy.initial_backoff;
  for (int i = 0; i < retry && d < policy.max_backoff; ++i) {
    d = d * policy.multiplier;
  }
  return std::min(d, policy.max_backoff);
}

absl::Status RunWithRetry(const RetryPolicy& policy,
                          absl::FunctionRef<AttemptResult()> attempt,
                          const std::function<void(absl::Duration)>& sleep) {
  for (int retry = 0;; ++retry) {
    AttemptResult result = attempt();
    if (result.status.ok() || !IsRetryable(result) ||
        retry >= policy.max_retries) {
      return result.status;
    }
    const absl::Duration wait = BackoffFor(policy, retry);
    if (sleep) {
      sleep(wait);
    } else {
      absl::SleepFor(wait);
    }
  }
}

}  // namespace stylizer::client
