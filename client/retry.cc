// Backoff retries before any output; see retry.h.
#include "client/retry.h"

#include <algorithm>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/service/retry_info.h"

namespace stylizer::client {

bool IsBusyRefusal(const absl::Status& status) {
  return status.code() == absl::StatusCode::kResourceExhausted &&
         RetryDelay(status).has_value();
}

bool IsRetryable(const RetryPolicy& policy, const AttemptResult& result) {
  if (result.output_started) return false;
  switch (result.status.code()) {
    case absl::StatusCode::kUnavailable:
      return true;
    case absl::StatusCode::kResourceExhausted:
      return policy.retry_busy && IsBusyRefusal(result.status);
    default:
      return false;
  }
}

absl::Duration BackoffFor(const RetryPolicy& policy, int retry) {
  absl::Duration d = policy.initial_backoff;
  for (int i = 0; i < retry && d < policy.max_backoff; ++i) {
    d = d * policy.multiplier;
  }
  return std::min(d, policy.max_backoff);
}

absl::Duration WaitBeforeRetry(const RetryPolicy& policy, int retry,
                               const absl::Status& status) {
  const absl::Duration backoff = BackoffFor(policy, retry);
  const auto hint = RetryDelay(status);
  if (!hint.has_value()) return backoff;
  return std::max(backoff, std::min(*hint, kMaxServerRetryDelay));
}

absl::Status RunWithRetry(const RetryPolicy& policy,
                          absl::FunctionRef<AttemptResult()> attempt,
                          const std::function<void(absl::Duration)>& sleep,
                          const RetryNotice& notice) {
  for (int retry = 0;; ++retry) {
    AttemptResult result = attempt();
    if (result.status.ok() || !IsRetryable(policy, result) ||
        retry >= policy.max_retries) {
      return result.status;
    }
    if (!result.no_retry_reason.empty()) {
      return Reworded(result.status, result.status.code(),
                      absl::StrCat(result.status.message(),
                                   "; not tried again: ",
                                   result.no_retry_reason));
    }
    absl::Duration wait = WaitBeforeRetry(policy, retry, result.status);
    if (policy.jitter > 0) {
      thread_local absl::BitGen random;
      wait =
          absl::Floor(wait + wait * absl::Uniform(random, 0.0, policy.jitter),
                      absl::Milliseconds(1));  // as people read it
    }
    if (absl::Now() + wait >= policy.give_up_at) {
      return Reworded(result.status, result.status.code(),
                      absl::StrCat(result.status.message(),
                                   "; not tried again: the deadline "
                                   "(--timeout) comes before the retry"));
    }
    if (notice) notice(result.status, wait, retry + 1);
    if (sleep) {
      sleep(wait);
    } else {
      absl::SleepFor(wait);
    }
  }
}

}  // namespace stylizer::client
