// Tests of the UNAVAILABLE-before-output retry policy.
#include "client/retry.h"

#include <vector>

#include <gtest/gtest.h>

namespace stylizer::client {
namespace {

TEST(RetryTest, BackoffGrowsAndCaps) {
  RetryPolicy p;
  p.initial_backoff = absl::Milliseconds(100);
  p.multiplier = 2;
  p.max_backoff = absl::Milliseconds(500);
  EXPECT_EQ(BackoffFor(p, 0), absl::Milliseconds(100));
  EXPECT_EQ(BackoffFor(p, 1), absl::Milliseconds(200));
  EXPECT_EQ(BackoffFor(p, 2), absl::Milliseconds(400));
  EXPECT_EQ(BackoffFor(p, 3), absl::Milliseconds(500));
  EXPECT_EQ(BackoffFor(p, 30), absl::Milliseconds(500));
}

TEST(RetryTest, RetriesUnavailableThenSucceeds) {
  RetryPolicy p;
  std::vector<absl::Duration> waits;
  int calls = 0;
  absl::Status s = RunWithRetry(
      p,
      [&] {
        ++calls;
        return AttemptResult{calls < 3 ? absl::UnavailableError("down")
                                       : absl::OkStatus()};
      },
      [&](absl::Duration d) { waits.push_back(d); });
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(calls, 3);
  ASSERT_EQ(waits.size(), 2u);
  EXPECT_EQ(waits[0], p.initial_backoff);
  EXPECT_EQ(waits[1], p.initial_backoff * 2);
}

TEST(RetryTest, GivesUpAfterMaxRetries) {
  RetryPolicy p;
  p.max_retries = 2;
  int calls = 0;
  absl::Status s = RunWithRetry(
      p, [&] { ++calls; return AttemptResult{absl::UnavailableError("down")}; },
      [](absl::Duration) {});
  EXPECT_TRUE(absl::IsUnavailable(s));
  EXPECT_EQ(calls, 3);
}

TEST(RetryTest, NeverRetriesAfterOutputOrOtherCodes) {
  int calls = 0;
  auto no_sleep = [](absl::Duration) {};
  (void)RunWithRetry(
      RetryPolicy(),
      [&] { ++calls; return AttemptResult{absl::UnavailableError("x"), true}; },
      no_sleep);
  EXPECT_EQ(calls, 1);
  calls = 0;
  for (auto code : {absl::StatusCode::kInvalidArgument,
                    absl::StatusCode::kDeadlineExceeded,
                    absl::StatusCode::kResourceExhausted,
                    absl::StatusCode::kInternal}) {
    (void)RunWithRetry(
        RetryPolicy(),
        [&] { ++calls; return AttemptResult{absl::Status(code, "x")}; },
        no_sleep);
  }
  EXPECT_EQ(calls, 4);
}

}  // namespace
}  // namespace stylizer::client
