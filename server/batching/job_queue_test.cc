// Unit tests of batch formation: options, when a batch closes (size, timeout,
// pixel cap), and which items may share one. Fairness and ordering are in
// job_queue_order_test.cc, device failures in job_queue_failure_test.cc,
// admission, cancellation, deadlines and shutdown in
// job_queue_admission_test.cc. Fake clock (exact timeouts), fake model.
#include "server/batching/job_queue.h"

#include <map>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/batching/job_queue_options.h"
#include "server/batching/testing/job_queue_fixture.h"
#include "server/batching/testing/test_util.h"

namespace stylizer {
namespace {

using ::stylizer::testing::FakeModel;
using ::stylizer::testing::JobQueueTest;
using ::stylizer::testing::kStyles;
using ::stylizer::testing::MakeRequest;
using ::stylizer::testing::OutputsMatch;
using ::stylizer::testing::ResultLog;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST_F(JobQueueTest, CreateRejectsBadOptions) {
  auto expect_invalid = [&](JobQueue::Options options, const char* what) {
    auto queue = JobQueue::Create(options, &model_, nullptr);
    EXPECT_EQ(queue.status().code(), absl::StatusCode::kInvalidArgument)
        << what;
    EXPECT_THAT(queue.status().message(), HasSubstr(what));
  };
  JobQueue::Options o = BaseOptions();
  o.max_batch_size = 0;
  expect_invalid(o, "max_batch_size");
  o = BaseOptions();
  o.batch_timeout = absl::Milliseconds(-1);
  expect_invalid(o, "batch_timeout");
  o = BaseOptions();
  o.max_batch_pixels = -1;
  expect_invalid(o, "max_batch_pixels");
  o = BaseOptions();
  o.max_queued_items = 2;
  expect_invalid(o, "max_queued_items");
  o = BaseOptions();
  o.max_queued_bytes = 0;
  expect_invalid(o, "max_queued_bytes");
  o = BaseOptions();
  o.max_frames_in_flight_per_job = 0;
  expect_invalid(o, "max_frames_in_flight_per_job");
  o = BaseOptions();
  o.workers = 0;
  expect_invalid(o, "workers");
  o.workers = 17;
  expect_invalid(o, "workers");
  EXPECT_EQ(JobQueue::Create(BaseOptions(), nullptr, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  FakeModel no_styles(0);
  EXPECT_EQ(
      JobQueue::Create(BaseOptions(), &no_styles, nullptr).status().code(),
      absl::StatusCode::kInvalidArgument);
  FakeModel other(kStyles + 1);
  EXPECT_EQ(JobQueue::Create(BaseOptions(), {&model_, &other}, nullptr)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(JobQueueTest, DefaultOptionsAreValid) {
  JobQueue::Options defaults;
  EXPECT_EQ(defaults.max_batch_size, 8);
  EXPECT_EQ(defaults.batch_timeout, absl::Milliseconds(5));
  EXPECT_TRUE(JobQueue::Create(defaults, &model_, nullptr).ok());
}

TEST_F(JobQueueTest, BatchClosesWhenFull) {
  auto queue = MakeQueue(BaseOptions());
  ResultLog log;
  auto job = Open(*queue, &log);
  for (int i = 0; i < 4; ++i) {
    FrameRequest request = MakeRequest(4, 2, i, {i % kStyles}, kStyles, i);
    ASSERT_TRUE(job->TrySubmit(&request).ok());
  }
  log.WaitFor(4);
  auto calls = model_.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].batch_size, 4);
  EXPECT_EQ(calls[0].width, 4);
  EXPECT_EQ(calls[0].height, 2);
  auto results = log.results();
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(results[i].sequence, static_cast<uint64_t>(i));
    EXPECT_TRUE(OutputsMatch(results[i], 4, 2, i, {i % kStyles}, kStyles));
    // The fake clock never moved: no wait, no compute time.
    EXPECT_EQ(results[i].queue_wait, absl::ZeroDuration());
  }
}

// With one model instance per device, the next batch goes to an idle
// device. It used to wait in the ready slot of a busy one: each worker's host
// assembles its device's next batch while that device runs, so two batches
// ran one after the other on one GPU while the other GPU had nothing to do.
// A batch formed while the device runs the one before waits for it: that is
// queue wait too (stylizer_queue_wait_seconds ended when the batch was
// formed, and missed up to a whole batch's device time).
TEST_F(JobQueueTest, QueueWaitLastsUntilTheDeviceStartsTheBatch) {
  JobQueue::Options options = BaseOptions();
  options.max_batch_size = 1;
  options.batch_timeout = absl::ZeroDuration();
  auto queue = MakeQueue(options);
  model_.Hold();
  ResultLog log;
  auto job = Open(*queue, &log);
  FrameRequest first = MakeRequest(2, 2, 0, {0}, kStyles, 0);
  ASSERT_TRUE(job->TrySubmit(&first).ok());
  while (model_.calls_started() < 1) absl::SleepFor(absl::Milliseconds(1));
  FrameRequest second = MakeRequest(2, 2, 1, {0}, kStyles, 1);
  ASSERT_TRUE(job->TrySubmit(&second).ok());
  // Let the host form the second batch (it waits for the busy device).
  absl::SleepFor(absl::Milliseconds(200));
  clock_.Advance(absl::Seconds(1));
  model_.ReleaseAll();
  log.WaitFor(2);
  EXPECT_GE(log.results()[1].queue_wait, absl::Seconds(1));
  queue->Drain();
}

TEST_F(JobQueueTest, NextBatchGoesToAnIdleDeviceNotBehindABusyOne) {
  FakeModel second{kStyles};
  JobQueue::Options options = BaseOptions();
  options.max_batch_size = 1;
  auto created = JobQueue::Create(options, {&model_, &second}, nullptr);
  ASSERT_TRUE(created.ok()) << created.status();
  std::unique_ptr<JobQueue> queue = *std::move(created);
  model_.Hold();
  second.Hold();
  ResultLog log;
  auto job = Open(*queue, &log);
  FrameRequest first = MakeRequest(4, 2, 0, {0}, kStyles, 0);
  ASSERT_TRUE(job->TrySubmit(&first).ok());
  // Whichever device took the first batch is now busy (held).
  while (model_.calls_started() + second.calls_started() < 1) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  FrameRequest next = MakeRequest(4, 2, 1, {1}, kStyles, 1);
  ASSERT_TRUE(job->TrySubmit(&next).ok());
  // Both devices run at once (a wide margin; no timing is asserted).
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (!(model_.calls_started() == 1 && second.calls_started() == 1) &&
         absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_EQ(model_.calls_started(), 1);
  EXPECT_EQ(second.calls_started(), 1);
  model_.ReleaseAll();
  second.ReleaseAll();
  log.WaitFor(2);
  queue->Drain();
}

TEST_F(JobQueueTest, BatchClosesWhenOldestItemTimesOut) {
  JobQueue::Options options = BaseOptions();
  options.max_batch_size = 8;
  options.batch_timeout = absl::Milliseconds(5);
  auto queue = MakeQueue(options);
  ResultLog log;
  auto job = Open(*queue, &log);
  const absl::Time start = clock_.Now();
  FrameRequest first = MakeRequest(2, 2, 1, {0}, kStyles, 1);
  ASSERT_TRUE(job->TrySubmit(&first).ok());
  clock_.BlockUntilWaiterWithDeadline(start + absl::Milliseconds(5));
  clock_.Advance(absl::Milliseconds(2));
  FrameRequest second = MakeRequest(2, 2, 2, {1, 2}, kStyles, 2);
  ASSERT_TRUE(job->TrySubmit(&second).ok());
  // The deadline is the oldest item's: still start + 5 ms.
  clock_.BlockUntilWaiterWithDeadline(start + absl::Milliseconds(5));
  clock_.Advance(absl::Milliseconds(2));
  EXPECT_EQ(model_.calls_started(), 0);
  clock_.Advance(absl::Milliseconds(1));
  log.WaitFor(2);
  auto calls = model_.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].batch_size, 3);
  auto results = log.results();
  EXPECT_EQ(results[0].queue_wait, absl::Milliseconds(5));
  EXPECT_EQ(results[1].queue_wait, absl::Milliseconds(3));
  EXPECT_TRUE(OutputsMatch(results[0], 2, 2, 1, {0}, kStyles));
  EXPECT_TRUE(OutputsMatch(results[1], 2, 2, 2, {1, 2}, kStyles));
}

TEST_F(JobQueueTest, ZeroTimeoutSendsAtOnce) {
  JobQueue::Options options = BaseOptions();
  options.batch_timeout = absl::ZeroDuration();
  auto queue = MakeQueue(options);
  ResultLog log;
  auto job = Open(*queue, &log);
  FrameRequest request = MakeRequest(2, 2, 1, {0}, kStyles, 1);
  ASSERT_TRUE(job->TrySubmit(&request).ok());
  log.WaitFor(1);
  EXPECT_TRUE(log.results()[0].status.ok());
}

// max_batch_pixels caps a batch by its pixels: a batch of 4x2 frames (8
// pixels) under a cap of 16 is full at two, one of 8x4 (32 pixels, over the
// cap alone) still takes one, one of 2x2 frames takes max_batch_size.
TEST_F(JobQueueTest, ABatchHoldsNoMoreThanMaxBatchPixels) {
  JobQueue::Options options = BaseOptions();
  options.max_batch_pixels = 16;
  auto queue = MakeQueue(options);
  ResultLog log;
  auto job = Open(*queue, &log);
  int sequence = 0;
  for (auto [w, h] : std::vector<std::pair<int, int>>{{4, 2}, {8, 4}, {2, 2}}) {
    for (int i = 0; i < 4; ++i, ++sequence) {
      FrameRequest request =
          MakeRequest(w, h, sequence, {0}, kStyles, sequence);
      ASSERT_TRUE(job->TrySubmit(&request).ok());
    }
  }
  // Only full batches close (the timeout is an hour): 2 + 2, 1 x 4, 4.
  log.WaitFor(12);
  std::map<std::pair<int, int>, std::vector<int>> sizes;
  for (const auto& call : model_.calls()) {
    sizes[{call.width, call.height}].push_back(call.batch_size);
  }
  EXPECT_THAT(sizes[std::make_pair(4, 2)], ElementsAre(2, 2));
  EXPECT_THAT(sizes[std::make_pair(8, 4)], ElementsAre(1, 1, 1, 1));
  EXPECT_THAT(sizes[std::make_pair(2, 2)], ElementsAre(4));
}

// A batch that the cap fills before max_batch_size goes at once: the host
// thread is woken when the cap's count arrives, not only at max_batch_size
// (it would have waited for the hour-long timeout).
TEST_F(JobQueueTest, ABatchFullUnderTheCapGoesAtOnce) {
  JobQueue::Options options = BaseOptions();
  options.max_batch_pixels = 16;  // two 4x2 items
  auto queue = MakeQueue(options);
  ResultLog log;
  auto job = Open(*queue, &log);
  FrameRequest first = MakeRequest(4, 2, 0, {0}, kStyles, 0);
  ASSERT_TRUE(job->TrySubmit(&first).ok());
  // The host thread waits for the lone item's timeout, then the second
  // comes.
  clock_.BlockUntilWaiterWithDeadline(clock_.Now() + absl::Hours(1));
  FrameRequest second = MakeRequest(4, 2, 1, {0}, kStyles, 1);
  ASSERT_TRUE(job->TrySubmit(&second).ok());
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (model_.calls_started() == 0 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(2));
  }
  ASSERT_EQ(model_.calls_started(), 1) << "the full batch did not go";
  log.WaitFor(2);
  EXPECT_EQ(model_.calls()[0].batch_size, 2);
}

// What the cap is for: a forward pass cannot be stopped, so a large frame's
// styles, each batch of them capped, leave the device between batches. A
// job cancelled after its first batch has the rest dropped (they ran on,
// all in one batch); another job's frame goes next, not after them.
TEST_F(JobQueueTest, ACappedBatchLetsOtherJobsInAndACancelStopTheRest) {
  JobQueue::Options options = BaseOptions();
  options.max_batch_pixels = 8;  // one 4x2 item per batch
  options.batch_timeout = absl::ZeroDuration();
  auto queue = MakeQueue(options);
  model_.Hold();
  ResultLog big_log, small_log;
  auto big = Open(*queue, &big_log);
  FrameRequest request = MakeRequest(4, 2, 0, {0, 1, 2, 3}, kStyles, 0);
  ASSERT_TRUE(big->TrySubmit(&request).ok());
  model_.WaitForCalls(1);  // the first style runs
  auto small = Open(*queue, &small_log);
  FrameRequest other = MakeRequest(2, 2, 7, {0}, kStyles, 0);
  ASSERT_TRUE(small->TrySubmit(&other).ok());
  big->Cancel();
  model_.ReleaseAll();
  small_log.WaitFor(1);
  big_log.WaitFor(1);
  EXPECT_TRUE(small_log.results()[0].status.ok());
  EXPECT_EQ(big_log.results()[0].status.code(), absl::StatusCode::kCancelled);
  queue->Drain();
  // The big frame's first style, perhaps the one assembled while it ran:
  // the other styles never reached the device (uncapped, all four ran in
  // its one batch). Then the small frame.
  int big_items = 0;
  for (const auto& call : model_.calls()) {
    if (call.width == 4) big_items += call.batch_size;
  }
  EXPECT_LE(big_items, 2);
  EXPECT_EQ(model_.calls().back().width, 2);
}

TEST_F(JobQueueTest, OnlySameSizeItemsShareABatch) {
  JobQueue::Options options = BaseOptions();
  options.batch_timeout = absl::Milliseconds(5);
  auto queue = MakeQueue(options);
  ResultLog log;
  auto job = Open(*queue, &log);
  // Three 4x2 and three 2x4 frames, interleaved: 6 items but no size has 4.
  for (int i = 0; i < 6; ++i) {
    FrameRequest request = i % 2 == 0 ? MakeRequest(4, 2, i, {0}, kStyles, i)
                                      : MakeRequest(2, 4, i, {0}, kStyles, i);
    ASSERT_TRUE(job->TrySubmit(&request).ok());
  }
  clock_.BlockUntilWaiterWithDeadline(clock_.Now() + absl::Milliseconds(5));
  EXPECT_EQ(model_.calls_started(), 0);
  clock_.Advance(absl::Milliseconds(5));
  log.WaitFor(6);
  auto calls = model_.calls();
  ASSERT_EQ(calls.size(), 2u);
  for (const auto& call : calls) {
    EXPECT_EQ(call.batch_size, 3);
    for (uint8_t tag : call.first_bytes) {
      EXPECT_EQ(tag % 2 == 0, call.width == 4) << int{tag};
    }
  }
  auto results = log.results();
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(results[i].sequence, static_cast<uint64_t>(i));
    EXPECT_TRUE(i % 2 == 0 ? OutputsMatch(results[i], 4, 2, i, {0}, kStyles)
                           : OutputsMatch(results[i], 2, 4, i, {0}, kStyles));
  }
}

// The first job in the ring is passed over while none of its sizes may close
// a batch: a job behind it with a full batch goes first, and the lone frame
// waits for company or its timeout. (Sent early, it was a batch of one; no
// test had a job ahead whose size could not close.)
TEST_F(JobQueueTest, AJobWhoseSizeCannotCloseIsPassedOver) {
  auto queue = MakeQueue(BaseOptions());  // batches of 4, no timeout
  ResultLog log_a, log_b;
  auto a = Open(*queue, &log_a);
  auto b = Open(*queue, &log_b);
  FrameRequest lone = MakeRequest(2, 2, 1, {0}, kStyles, 0);
  ASSERT_TRUE(a->TrySubmit(&lone).ok());  // a is first in the ring
  FrameRequest full = MakeRequest(4, 4, 2, {0, 1, 2, 3}, kStyles, 0);
  ASSERT_TRUE(b->TrySubmit(&full).ok());
  log_b.WaitFor(1);
  auto calls = model_.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].width, 4);
  EXPECT_EQ(calls[0].batch_size, 4);
  EXPECT_EQ(queue->queued_items(), 1);  // the lone frame waits
  EXPECT_EQ(log_a.size(), 0u);
  queue->Drain();  // which closes every batch
  EXPECT_EQ(log_a.size(), 1u);
}

// A stream whose frames change size keeps no lane per size it ever sent:
// an emptied lane is freed. They stayed for the job's life (a few hundred
// bytes each, uncounted, all scanned under the queue's lock at every batch).
TEST_F(JobQueueTest, EmptiedLanesAreFreed) {
  JobQueue::Options options = BaseOptions();
  options.batch_timeout = absl::ZeroDuration();
  auto queue = MakeQueue(options);
  ResultLog log;
  auto job = Open(*queue, &log);
  for (int i = 0; i < 40; ++i) {
    FrameRequest request = MakeRequest(2 + i, 2, i, {0}, kStyles, i);
    ASSERT_TRUE(job->Submit(&request).ok());
    log.WaitFor(i + 1);
  }
  EXPECT_EQ(queue->queued_lanes(), 0);
  // Cancelling drops the lanes with their items.
  model_.Hold();
  for (int i = 0; i < 3; ++i) {
    FrameRequest request = MakeRequest(2 + i, 4, 50 + i, {0}, kStyles, i);
    ASSERT_TRUE(job->TrySubmit(&request).ok());
  }
  job->Cancel();
  EXPECT_EQ(queue->queued_lanes(), 0);
  model_.ReleaseAll();
}

}  // namespace
}  // namespace stylizer
