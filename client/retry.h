// Retry with exponential backoff, only where it is safe: an attempt that
// failed before any output arrived (nothing was written, the server did no
// visible work) with UNAVAILABLE, or with RESOURCE_EXHAUSTED that the server
// marked as busy with a retry hint (server/service/retry_info.h), is tried
// again, no sooner than the hint says; everything else is final (an input
// too large for the server is refused without a hint).
#ifndef STYLIZER_CLIENT_RETRY_H_
#define STYLIZER_CLIENT_RETRY_H_

#include <functional>
#include <string>

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
  // Whether a busy server's refusal (RESOURCE_EXHAUSTED with a retry hint)
  // is retried. Default true; a load generator reports it instead.
  bool retry_busy = true;
  // No retry whose wait would end at or after this (a job's deadline): the
  // last attempt's failure is returned, saying so. Default: none.
  absl::Time give_up_at = absl::InfiniteFuture();
  // Each wait is made longer by up to this share of it, at random: clients
  // the server refused together (two uploads that filled its disk, a burst
  // over its stream slots) came back together, and were refused together
  // again, as long as the same hint made them wait alike. Default 0.25.
  double jitter = 0.25;
};

// The outcome of one attempt.
struct AttemptResult {
  absl::Status status;
  // True once any response (or output byte) arrived: never retried then.
  bool output_started = false;
  // Why this attempt cannot be made again (its input came from a pipe and
  // was partly read), or empty. A failure that would otherwise be retried
  // is returned with this reason appended.
  std::string no_retry_reason = std::string();
};

// Whether `status` is a busy server's refusal: RESOURCE_EXHAUSTED with a
// retry hint (its stream slots or its spool were full).
bool IsBusyRefusal(const absl::Status& status);

// Whether an attempt with this outcome may be tried again under `policy`.
bool IsRetryable(const RetryPolicy& policy, const AttemptResult& result);

// The wait before retry number `retry` (0-based), without jitter.
absl::Duration BackoffFor(const RetryPolicy& policy, int retry);

// The wait before retry number `retry` after a failure with `status`: the
// backoff, or the server's retry hint if that is longer (at most
// kMaxServerRetryDelay).
absl::Duration WaitBeforeRetry(const RetryPolicy& policy, int retry,
                               const absl::Status& status);

// The longest retry hint obeyed: a server asking for more is waited for this
// long.
inline constexpr absl::Duration kMaxServerRetryDelay = absl::Seconds(30);

// Told, before each wait, why the last attempt failed, how long the wait is,
// and the retry's number (1-based).
using RetryNotice = std::function<void(const absl::Status& why,
                                       absl::Duration wait, int retry)>;

// Runs `attempt` until it succeeds, fails in a non-retryable way, or the
// retries (or the time to policy.give_up_at) are spent; tells `notice` (if
// any), then waits with `sleep` (default absl::SleepFor) between attempts:
// WaitBeforeRetry, lengthened by up to policy.jitter of it.
// Returns the last attempt's status.
absl::Status RunWithRetry(
    const RetryPolicy& policy, absl::FunctionRef<AttemptResult()> attempt,
    const std::function<void(absl::Duration)>& sleep = nullptr,
    const RetryNotice& notice = nullptr);

}  // namespace stylizer::client

#endif  // STYLIZER_CLIENT_RETRY_H_
