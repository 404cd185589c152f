// Tests of the load generator with fake requests (no server; the few timings
// have wide margins).
#include "client/load_generator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <set>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/service/retry_info.h"

namespace stylizer::client {
namespace {

using ::testing::HasSubstr;

TEST(LoadGeneratorTest, Percentiles) {
  std::vector<double> v;
  EXPECT_EQ(Percentile(&v, 50), 0);
  for (int i = 100; i >= 1; --i) v.push_back(i);
  EXPECT_DOUBLE_EQ(Percentile(&v, 0), 1);
  EXPECT_DOUBLE_EQ(Percentile(&v, 50), 50.5);
  EXPECT_NEAR(Percentile(&v, 90), 90.1, 1e-9);
  EXPECT_NEAR(Percentile(&v, 99), 99.01, 1e-9);
  EXPECT_DOUBLE_EQ(Percentile(&v, 100), 100);
  std::vector<double> one = {7};
  EXPECT_DOUBLE_EQ(Percentile(&one, 99), 7);
}

TEST(LoadGeneratorTest, CountModeIssuesExactlyCount) {
  LoadOptions o;
  o.concurrency = 4;
  o.count = 37;
  std::atomic<int> calls{0};
  absl::Mutex mu;
  std::set<int> workers;
  LoadReport r = RunLoad(o, [&](int w) -> absl::StatusOr<int64_t> {
    ++calls;
    absl::MutexLock lock(&mu);
    workers.insert(w);
    return 3;
  });
  EXPECT_EQ(calls.load(), 37);
  EXPECT_EQ(r.requests, 37);
  EXPECT_EQ(r.frames, 111);
  EXPECT_EQ(r.errors, 0);
  EXPECT_GT(r.elapsed_seconds, 0);
  EXPECT_GT(r.requests_per_second, 0);
  EXPECT_LE(r.latency_p50_ms, r.latency_p90_ms);
  EXPECT_LE(r.latency_p90_ms, r.latency_p99_ms);
  EXPECT_LE(r.latency_p99_ms, r.latency_max_ms);
  for (int w : workers) EXPECT_LT(w, 4);
}

TEST(LoadGeneratorTest, DurationModeStops) {
  LoadOptions o;
  o.concurrency = 2;
  o.duration = absl::Milliseconds(50);
  LoadReport r = RunLoad(o, [](int) -> absl::StatusOr<int64_t> {
    absl::SleepFor(absl::Milliseconds(1));
    return 1;
  });
  EXPECT_GT(r.requests, 0);
  EXPECT_GE(r.latency_p50_ms, 1.0);
}

// Ctrl-C: the run ends with the report so far; requests that end after it
// (cut short, as the CLI cancels them) are not counted.
TEST(LoadGeneratorTest, StopEarlyEndsTheRunWithWhatItHas) {
  std::atomic<bool> stop{false};
  std::atomic<int> calls{0};
  LoadOptions o;
  o.concurrency = 2;
  o.duration = absl::Hours(1);
  o.stop_early = &stop;
  LoadReport r = RunLoad(o, [&](int) -> absl::StatusOr<int64_t> {
    if (++calls == 10) stop = true;
    if (stop) return absl::CancelledError("interrupted");
    return 1;
  });
  EXPECT_TRUE(r.stopped_early);
  EXPECT_GE(r.requests, 8);
  EXPECT_LT(r.requests, 10);
  EXPECT_EQ(r.errors, 0);
  EXPECT_THAT(ReportText(r, "t"), HasSubstr("interrupted"));
  EXPECT_THAT(ReportJson(r, {}), HasSubstr("\"interrupted\":true"));
  EXPECT_THAT(ReportJson(LoadReport{}, {}), HasSubstr("\"interrupted\":false"));
}

// Runs a count of ten requests on one worker, counting those made in `*n`:
// the second is refused as busy (RESOURCE_EXHAUSTED `busy`, with a retry
// hint of one second), the `failing`th fails with `error`, and the others
// return one frame.
LoadReport RunTenWithABusyRefusalAnd(const char* busy, int failing,
                                     const absl::Status& error, int* n) {
  LoadOptions o;
  o.concurrency = 1;
  o.count = 10;
  return RunLoad(o, [&](int) -> absl::StatusOr<int64_t> {
    ++*n;
    if (*n == 2) {
      return WithRetryDelay(absl::ResourceExhaustedError(busy),
                            absl::Seconds(1));
    }
    if (*n == failing) return error;
    return 1;
  });
}

TEST(LoadGeneratorTest, FatalErrorStopsOverloadDoesNot) {
  int n = 0;
  LoadReport r = RunTenWithABusyRefusalAnd(
      "queue full", 4, absl::UnavailableError("server went away"), &n);
  EXPECT_EQ(n, 4);
  EXPECT_EQ(r.requests, 2);
  EXPECT_EQ(r.errors, 2);
  EXPECT_EQ(r.errors_by_code["RESOURCE_EXHAUSTED"], 1);
  EXPECT_EQ(r.errors_by_code["UNAVAILABLE"], 1);
  EXPECT_EQ(r.first_error, "queue full");
}

// RESOURCE_EXHAUSTED without a retry hint means the input is too large for
// the server: final, so the run stops (it uploaded the same movie 5,197 times
// in 2 s). With the hint it is a busy server, which the run measures.
TEST(LoadGeneratorTest, TooLargeStopsBusyDoesNot) {
  int n = 0;
  LoadReport r = RunTenWithABusyRefusalAnd(
      "busy", 3, absl::ResourceExhaustedError("the movie is too large"), &n);
  EXPECT_EQ(n, 3);
  EXPECT_EQ(r.errors_by_code["RESOURCE_EXHAUSTED"], 2);
}

// A busy refusal's retry hint is waited for before the worker's next
// request; other failures are not waited on.
TEST(LoadGeneratorTest, BusyRefusalsWaitForTheRetryHint) {
  LoadOptions o;
  o.concurrency = 1;
  o.duration = absl::Seconds(1);
  std::atomic<int> n{0};
  const absl::Time start = absl::Now();
  LoadReport r = RunLoad(o, [&](int) -> absl::StatusOr<int64_t> {
    ++n;
    return WithRetryDelay(absl::ResourceExhaustedError("busy"),
                          absl::Milliseconds(300));
  });
  // 4 requests in a second, not thousands; the wide margin is for a loaded
  // machine.
  EXPECT_GE(n.load(), 2);
  EXPECT_LE(n.load(), 6);
  EXPECT_EQ(r.errors, n.load());
  // The pause ends with the run.
  EXPECT_LT(absl::Now() - start, absl::Seconds(20));
}

TEST(LoadGeneratorTest, APauseEndsWithTheRun) {
  LoadOptions o;
  o.concurrency = 2;
  o.duration = absl::Milliseconds(200);
  const absl::Time start = absl::Now();
  RunLoad(o, [&](int) -> absl::StatusOr<int64_t> {
    return WithRetryDelay(absl::ResourceExhaustedError("busy"),
                          absl::Seconds(30));
  });
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
}

TEST(LoadGeneratorTest, Reports) {
  LoadReport r;
  r.requests = 10;
  r.frames = 40;
  r.elapsed_seconds = 2;
  r.errors = 1;
  r.errors_by_code["UNAVAILABLE"] = 1;
  r.first_error = "a \"quoted\"\nline";
  Summarize({10, 20, 30}, &r);
  EXPECT_DOUBLE_EQ(r.requests_per_second, 5);
  EXPECT_DOUBLE_EQ(r.frames_per_second, 20);
  EXPECT_DOUBLE_EQ(r.latency_p50_ms, 20);
  const std::string json =
      ReportJson(r, {{"mode", "image"}}, {{"concurrency", 4}});
  EXPECT_THAT(json, HasSubstr("\"mode\":\"image\""));
  EXPECT_THAT(json, HasSubstr("\"concurrency\":4,"));  // a number
  EXPECT_THAT(json, HasSubstr("\"requests\":10"));
  EXPECT_THAT(json, HasSubstr("\"p50\":20.000"));
  EXPECT_THAT(json, HasSubstr("\"UNAVAILABLE\":1"));
  EXPECT_THAT(json, HasSubstr("a \\\"quoted\\\"\\nline"));
  EXPECT_THAT(ReportText(r, "bench"), HasSubstr("5.00 requests/s"));
  // The text report is for a terminal: the server's words are escaped.
  r.first_error = "busy \x1b[2K\rfine";
  EXPECT_THAT(ReportText(r, "bench"),
              HasSubstr("first error busy \\x1b[2K\\x0dfine\n"));
}

}  // namespace
}  // namespace stylizer::client
