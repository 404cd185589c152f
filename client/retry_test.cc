// Tests of the retry policy: UNAVAILABLE and busy refusals, before output.
#include "client/retry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/service/retry_info.h"

namespace stylizer::client {
namespace {

using ::testing::HasSubstr;

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
  p.jitter = 0;  // the waits exactly
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

TEST(RetryTest, AnInputThatCannotBeSentAgainEndsTheRetriesAndSaysWhy) {
  RetryPolicy p;
  int calls = 0;
  auto no_sleep = [](absl::Duration) {};
  AttemptResult spent{WithRetryDelay(
      absl::ResourceExhaustedError("busy"), absl::Seconds(1))};
  spent.no_retry_reason = "standard input cannot be read twice";
  absl::Status s = RunWithRetry(
      p, [&] { ++calls; return spent; }, no_sleep);
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(absl::IsResourceExhausted(s));
  EXPECT_EQ(s.message(),
            "busy; not tried again: standard input cannot be read twice");
  EXPECT_EQ(RetryDelay(s), absl::Seconds(1));  // still told apart from "too large"

  // A failure no retry could mend keeps its own message.
  calls = 0;
  AttemptResult bad{absl::InvalidArgumentError("not a movie")};
  bad.no_retry_reason = "standard input cannot be read twice";
  s = RunWithRetry(p, [&] { ++calls; return bad; }, no_sleep);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(s.message(), "not a movie");
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
  // RESOURCE_EXHAUSTED without a retry hint: the input is too large.
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

// A busy server (RESOURCE_EXHAUSTED with a retry hint) is asked again, no
// sooner than it says; before any output only.
TEST(RetryTest, RetriesABusyServerAfterItsHint) {
  RetryPolicy p;
  p.initial_backoff = absl::Milliseconds(250);
  p.jitter = 0;
  std::vector<absl::Duration> waits;
  int calls = 0;
  const absl::Status busy = WithRetryDelay(absl::ResourceExhaustedError("busy"),
                                           absl::Milliseconds(1500));
  absl::Status s = RunWithRetry(
      p,
      [&] {
        ++calls;
        return AttemptResult{calls < 3 ? busy : absl::OkStatus()};
      },
      [&](absl::Duration d) { waits.push_back(d); });
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(calls, 3);
  ASSERT_EQ(waits.size(), 2u);
  EXPECT_EQ(waits[0], absl::Milliseconds(1500));  // the hint, not 250 ms
  EXPECT_EQ(waits[1], absl::Milliseconds(1500));

  calls = 0;
  (void)RunWithRetry(
      p,
      [&] {
        ++calls;
        return AttemptResult{busy, true};
      },
      [](absl::Duration) {});
  EXPECT_EQ(calls, 1);  // output had started
}

// A retry whose wait would end after the deadline is not made: it could
// only fail. The waits ignored every deadline.
TEST(RetryTest, NoRetryWhoseWaitEndsAfterTheDeadline) {
  RetryPolicy p;
  p.give_up_at = absl::Now() + absl::Seconds(10);
  p.jitter = 0;
  int calls = 0;
  std::vector<absl::Duration> waits;
  const absl::Status s = RunWithRetry(
      p,
      [&] {
        ++calls;
        return AttemptResult{
            WithRetryDelay(absl::ResourceExhaustedError("busy"),
                           calls == 1 ? absl::Seconds(1) : absl::Hours(1))};
      },
      [&](absl::Duration d) { waits.push_back(d); });
  EXPECT_TRUE(absl::IsResourceExhausted(s));
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("not tried again: the deadline"));
  EXPECT_EQ(calls, 2);  // the first wait (1 s) fits, the second (30 s) not
  EXPECT_EQ(waits, std::vector<absl::Duration>{absl::Seconds(1)});
}

TEST(RetryTest, NoticeHearsEachRetryBeforeItsWait) {
  std::vector<std::string> heard;
  int calls = 0;
  RetryPolicy exact;
  exact.jitter = 0;
  (void)RunWithRetry(
      exact,
      [&] {
        ++calls;
        return AttemptResult{calls < 3 ? absl::UnavailableError("down")
                                       : absl::OkStatus()};
      },
      [](absl::Duration) {},
      [&](const absl::Status& why, absl::Duration wait, int retry) {
        heard.push_back(absl::StrCat(retry, " ", absl::FormatDuration(wait),
                                     " ", why.message()));
      });
  EXPECT_EQ(heard, (std::vector<std::string>{"1 250ms down", "2 500ms down"}));
}

TEST(RetryTest, ABusyServerIsNotRetriedWhenThePolicySaysSo) {
  RetryPolicy p;
  p.retry_busy = false;  // a load generator
  int calls = 0;
  const absl::Status s = RunWithRetry(
      p,
      [&] {
        ++calls;
        return AttemptResult{WithRetryDelay(
            absl::ResourceExhaustedError("busy"), absl::Seconds(1))};
      },
      [](absl::Duration) {});
  EXPECT_TRUE(absl::IsResourceExhausted(s));
  EXPECT_EQ(calls, 1);
}

TEST(RetryTest, WaitIsTheLongerOfBackoffAndHintWithinACap) {
  RetryPolicy p;
  p.initial_backoff = absl::Milliseconds(100);
  p.max_backoff = absl::Seconds(4);
  const absl::Status plain = absl::UnavailableError("down");
  EXPECT_EQ(WaitBeforeRetry(p, 2, plain), absl::Milliseconds(400));
  const absl::Status short_hint =
      WithRetryDelay(absl::UnavailableError("x"), absl::Milliseconds(10));
  EXPECT_EQ(WaitBeforeRetry(p, 2, short_hint), absl::Milliseconds(400));
  const absl::Status long_hint =
      WithRetryDelay(absl::ResourceExhaustedError("x"), absl::Seconds(2));
  EXPECT_EQ(WaitBeforeRetry(p, 0, long_hint), absl::Seconds(2));
  const absl::Status huge_hint =
      WithRetryDelay(absl::ResourceExhaustedError("x"), absl::Hours(1));
  EXPECT_EQ(WaitBeforeRetry(p, 0, huge_hint), kMaxServerRetryDelay);
}

// Clients refused together with one hint (two uploads that filled the
// server's disk: 5 s each) waited exactly alike, came back together and
// were refused together again, four times running. Each wait is now the
// hint or backoff lengthened by up to a quarter, at random.
TEST(RetryTest, WaitsAreSpreadAboveTheHint) {
  RetryPolicy p;
  p.max_retries = 1;
  const absl::Status busy =
      WithRetryDelay(absl::ResourceExhaustedError("busy"), absl::Seconds(5));
  std::vector<absl::Duration> waits;
  for (int run = 0; run < 20; ++run) {
    (void)RunWithRetry(
        p, [&] { return AttemptResult{busy}; },
        [&](absl::Duration d) { waits.push_back(d); });
  }
  ASSERT_EQ(waits.size(), 20u);
  for (absl::Duration d : waits) {
    EXPECT_GE(d, absl::Seconds(5));
    EXPECT_LE(d, absl::Seconds(5) * 1.25);
  }
  std::sort(waits.begin(), waits.end());
  EXPECT_GT(waits.back() - waits.front(), absl::Milliseconds(100));
}

}  // namespace
}  // namespace stylizer::client
