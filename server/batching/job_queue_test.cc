// Unit tests of batch formation, fairness, ordering and delivery, with a fake
// clock (exact timeouts) and a fake model. Admission, cancellation, deadlines
// and shutdown are in job_queue_admission_test.cc.
#include "server/batching/job_queue.h"

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <new>
#include <stdexcept>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/batching/job_queue_options.h"
#include "server/batching/testing/fake_clock.h"
#include "server/batching/testing/fake_model.h"
#include "server/batching/testing/test_util.h"

namespace stylizer {
namespace {

using ::stylizer::testing::FakeClock;
using ::stylizer::testing::FakeModel;
using ::stylizer::testing::MakeRequest;
using ::stylizer::testing::OutputsMatch;
using ::stylizer::testing::ResultLog;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int kStyles = 4;

class JobQueueTest : public ::testing::Test {
 protected:
  JobQueue::Options BaseOptions() {
    JobQueue::Options options;
    options.clock = &clock_;
    options.max_batch_size = 4;
    options.batch_timeout = absl::Hours(1);  // only size closes batches
    return options;
  }

  std::unique_ptr<JobQueue> MakeQueue(const JobQueue::Options& options,
                                      QueueObserver* observer = nullptr) {
    auto queue = JobQueue::Create(options, &model_, observer);
    EXPECT_TRUE(queue.ok()) << queue.status();
    return *std::move(queue);
  }

  // The batch size of each model call so far, in order.
  std::vector<int> CallSizes() const {
    std::vector<int> sizes;
    for (const auto& call : model_.calls()) sizes.push_back(call.batch_size);
    return sizes;
  }

  std::unique_ptr<Job> Open(JobQueue& queue, ResultLog* log) {
    JobOptions options;
    options.on_result = log->on_result();
    auto job = queue.OpenJob(std::move(options));
    EXPECT_TRUE(job.ok()) << job.status();
    return *std::move(job);
  }

  // Offers `movie` `frames` frames of `width` x `height` in all four styles,
  // tagged from 100, and waits for its first batch on the held device.
  void FillTheDeviceWithAMovie(Job& movie, int width, int height, int frames) {
    for (int i = 0; i < frames; ++i) {
      FrameRequest request =
          MakeRequest(width, height, 100 + i, {0, 1, 2, 3}, kStyles, i);
      ASSERT_TRUE(movie.TrySubmit(&request).ok());
    }
    model_.WaitForCalls(1);
  }

  // Offers `job` 2x2 frames 0 to 3, frame i in style i, and waits for their
  // four results.
  void SubmitFourFramesInTheirOwnStyles(Job& job, ResultLog& log) {
    for (int i = 0; i < 4; ++i) {
      FrameRequest request = MakeRequest(2, 2, i, {i}, kStyles, i);
      ASSERT_TRUE(job.TrySubmit(&request).ok());
    }
    log.WaitFor(4);
  }

  FakeClock clock_;
  FakeModel model_{kStyles};
};

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

TEST_F(JobQueueTest, ItemsAreTakenRoundRobinAcrossJobs) {
  auto queue = MakeQueue(BaseOptions());
  model_.Hold();
  // A long movie job with 4 styles per frame fills the device...
  ResultLog movie_log;
  auto movie = Open(*queue, &movie_log);
  ASSERT_NO_FATAL_FAILURE(FillTheDeviceWithAMovie(*movie, 2, 2, 6));
  // ...then a single image arrives.
  ResultLog image_log;
  auto image = Open(*queue, &image_log);
  FrameRequest request = MakeRequest(2, 2, 7, {0, 1}, kStyles, 0);
  ASSERT_TRUE(image->TrySubmit(&request).ok());
  model_.ReleaseAll();
  image_log.WaitFor(1);
  queue->Drain();  // 26 items: the last batch is not full
  ASSERT_EQ(movie_log.size(), 6u);
  auto calls = model_.calls();
  // The image's two items ran within the first three batches (the one on
  // the device, at most one already prepared, then its own), interleaved
  // with the movie's rather than after all of them.
  int image_batch = -1;
  for (size_t b = 0; b < calls.size(); ++b) {
    int image_items = 0;
    for (uint8_t tag : calls[b].first_bytes) image_items += tag == 7;
    if (image_items > 0) {
      EXPECT_EQ(image_items, 2);
      EXPECT_EQ(image_batch, -1);
      image_batch = static_cast<int>(b);
      EXPECT_THAT(calls[b].first_bytes,
                  ::testing::Contains(::testing::Ge(100)));
      // Alternating: an image item never follows another image item.
      for (size_t i = 1; i < calls[b].first_bytes.size(); ++i) {
        EXPECT_FALSE(calls[b].first_bytes[i] == 7 &&
                     calls[b].first_bytes[i - 1] == 7);
      }
    }
  }
  EXPECT_GE(image_batch, 1);
  EXPECT_LE(image_batch, 2);
  EXPECT_TRUE(OutputsMatch(image_log.results()[0], 2, 2, 7, {0, 1}, kStyles));
}

TEST_F(JobQueueTest, AnImageOfAnotherSizeIsNotStuckBehindAMovieBacklog) {
  JobQueue::Options options = BaseOptions();
  options.batch_timeout = absl::Milliseconds(5);
  auto queue = MakeQueue(options);
  model_.Hold();
  ResultLog movie_log;
  auto movie = Open(*queue, &movie_log);
  ASSERT_NO_FATAL_FAILURE(FillTheDeviceWithAMovie(*movie, 4, 2, 10));
  clock_.Advance(absl::Milliseconds(1));  // the movie's backlog is older
  ResultLog image_log;
  auto image = Open(*queue, &image_log);
  FrameRequest request = MakeRequest(2, 4, 7, {1}, kStyles, 0);
  ASSERT_TRUE(image->TrySubmit(&request).ok());
  clock_.Advance(options.batch_timeout);  // the image's batch may close
  model_.ReleaseAll();
  image_log.WaitFor(1);
  movie_log.WaitFor(10);
  auto calls = model_.calls();
  ASSERT_EQ(calls.size(), 11u);
  int image_batch = -1;
  for (size_t b = 0; b < calls.size(); ++b) {
    if (calls[b].width == 2) image_batch = static_cast<int>(b);
  }
  // Batch 0 was on the device, batch 1 possibly prepared; then, within one
  // turn of the ring (the movie, which was ahead of it, then the image).
  EXPECT_GE(image_batch, 1);
  EXPECT_LE(image_batch, 3);

  EXPECT_TRUE(OutputsMatch(image_log.results()[0], 2, 4, 7, {1}, kStyles));
}

// The starvation of a long job by a stream of short ones (a movie beside many
// still-image callers): every batch must come from the round-robin ring over
// the active jobs, so the movie, of another frame size, gets a batch at least
// once per turn however many image jobs come and go. Driven step by step:
// the device is held, one batch at a time is let through, and after each the
// test waits until the batcher has formed the next batch and gone idle, so
// the order of batches does not depend on thread timing.
TEST_F(JobQueueTest, ALongJobIsServedOnceEveryTurnAmongShortLivedJobs) {
  JobQueue::Options options = BaseOptions();
  options.batch_timeout = absl::Hours(100000);  // only full batches close
  auto queue = MakeQueue(options);
  const absl::Time start = clock_.Now();
  // Waits until the batcher is idle: it waits with the deadline of a fresh
  // marker job, which only a wait begun after the marker appeared can have.
  // Deadlines decrease, so the newest marker's is the batcher's next wake-up.
  int markers = 0;
  auto wait_until_batcher_idle = [&]() {
    JobOptions marker_options;
    marker_options.deadline =
        start + absl::Hours(1000) - absl::Seconds(++markers);
    auto marker = queue->OpenJob(std::move(marker_options));
    ASSERT_TRUE(marker.ok());
    clock_.BlockUntilWaiterWithDeadline(start + absl::Hours(1000) -
                                        absl::Seconds(markers));
  };

  model_.Hold();
  ResultLog movie_log;
  auto movie = Open(*queue, &movie_log);
  // 4x2 frames in 4 styles: more batches than the test lets through.
  constexpr int kMovieFrames = 60;
  for (int i = 0; i < kMovieFrames; ++i) {
    FrameRequest request = MakeRequest(4, 2, 100, {0, 1, 2, 3}, kStyles, i);
    ASSERT_TRUE(movie->TrySubmit(&request).ok());
  }
  model_.WaitForCalls(1);
  wait_until_batcher_idle();  // the movie's second batch is prepared

  // Image callers of another size (2x2), each a single item, so that every
  // image batch serves 4 whole jobs; kImages of them not yet answered at any
  // time (on the device, prepared, or queued), each replaced by a new job as
  // soon as its result arrives.
  constexpr int kImages = 12;
  constexpr int kSteps = 40;
  struct Image {
    std::unique_ptr<ResultLog> log;
    std::unique_ptr<Job> job;
  };
  std::vector<Image> images;
  for (int step = 0; step < kSteps; ++step) {
    images.erase(std::remove_if(
                     images.begin(), images.end(),
                     [](const Image& image) { return image.log->size() == 1; }),
                 images.end());
    while (images.size() < kImages) {
      Image image;
      image.log = std::make_unique<ResultLog>();
      image.job = Open(*queue, image.log.get());
      FrameRequest request = MakeRequest(2, 2, 7, {1}, kStyles, 0);
      ASSERT_TRUE(image.job->TrySubmit(&request).ok());
      images.push_back(std::move(image));
    }
    model_.Release(1);
    model_.WaitForCalls(step + 2);
    wait_until_batcher_idle();
  }
  auto calls = model_.calls();
  ASSERT_EQ(calls.size(), static_cast<size_t>(kSteps + 1));
  // At most kImages jobs are ahead of the movie in the ring, and each image
  // batch serves 4 of them: between two of the movie's batches (and after its
  // last one) come at most kImages / 4 other batches.
  constexpr int kTurn = kImages / 4;
  int others = 0;
  int movie_batches = 0;
  for (size_t b = 0; b < calls.size(); ++b) {
    if (calls[b].width == 4) {
      ++movie_batches;
      others = 0;
    } else {
      ++others;
      EXPECT_LE(others, kTurn)
          << "the movie waited more than one turn at batch " << b;
    }
  }
  EXPECT_GE(movie_batches, kSteps / (kTurn + 1));
  model_.ReleaseAll();
  movie.reset();
  images.clear();
}

TEST_F(JobQueueTest, ResultsArriveInSubmissionOrderWhateverBatchFinishesFirst) {
  FakeModel first(kStyles);
  FakeModel second(kStyles);
  JobQueue::Options options = BaseOptions();
  options.max_batch_size = 2;
  auto created = JobQueue::Create(options, {&first, &second}, nullptr);
  ASSERT_TRUE(created.ok());
  std::unique_ptr<JobQueue> queue = *std::move(created);
  first.Hold();
  second.Hold();
  ResultLog log;
  auto job = Open(*queue, &log);
  for (int i = 0; i < 6; ++i) {
    FrameRequest request = MakeRequest(2, 2, i, {i % kStyles}, kStyles, i);
    ASSERT_TRUE(job->TrySubmit(&request).ok());
  }
  first.WaitForCalls(1);
  second.WaitForCalls(1);
  // Frames 0 and 1 are in the first batch formed, on one of the devices;
  // finish the other device's batch first.
  const bool zero_on_first = first.calls()[0].first_bytes[0] == 0;
  FakeModel& early = zero_on_first ? second : first;
  FakeModel& late = zero_on_first ? first : second;
  early.Release(1);
  // Its two items leave the queue's accounting once copied out...
  while (queue->queued_items() > 4) absl::SleepFor(absl::Milliseconds(1));
  // ...but their frames wait for frames 0 and 1.
  EXPECT_EQ(log.size(), 0u);
  late.ReleaseAll();
  early.ReleaseAll();
  log.WaitFor(6);
  auto results = log.results();
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(results[i].sequence, static_cast<uint64_t>(i));
    EXPECT_TRUE(OutputsMatch(results[i], 2, 2, i, {i % kStyles}, kStyles));
  }
  EXPECT_EQ(first.max_concurrent_calls(), 1);
  EXPECT_EQ(second.max_concurrent_calls(), 1);
}

// A two-frame job on two held devices, one frame each (batches of one):
// `late` computes frame 0 and `early` frame 1, which a test releases first
// so that its result waits in the reorder buffer behind frame 0.
class JobQueueTwoFramesTest : public JobQueueTest {
 protected:
  void SetUp() override {
    JobQueue::Options options = BaseOptions();
    options.max_batch_size = 1;
    options.batch_timeout = absl::ZeroDuration();
    auto created = JobQueue::Create(options, {&first_, &second_}, nullptr);
    ASSERT_TRUE(created.ok()) << created.status();
    queue_ = *std::move(created);
    first_.Hold();
    second_.Hold();
    job_ = Open(*queue_, &log_);
    for (int i = 0; i < 2; ++i) {
      FrameRequest request = MakeRequest(2, 2, i, {0}, kStyles, i);
      ASSERT_TRUE(job_->TrySubmit(&request).ok());
    }
    first_.WaitForCalls(1);
    second_.WaitForCalls(1);
    const bool zero_on_first = first_.calls()[0].first_bytes[0] == 0;
    early_ = zero_on_first ? &second_ : &first_;
    late_ = zero_on_first ? &first_ : &second_;
  }

  void TearDown() override {
    if (queue_ == nullptr) return;
    first_.ReleaseAll();
    second_.ReleaseAll();
    queue_->Drain();
  }

  // Releases frame 1's device and waits until only frame 0 is left.
  void FinishFrameOne() {
    early_->ReleaseAll();
    while (queue_->queued_items() > 1) absl::SleepFor(absl::Milliseconds(1));
    EXPECT_EQ(log_.size(), 0u);
  }

  FakeModel first_{kStyles};
  FakeModel second_{kStyles};
  std::unique_ptr<JobQueue> queue_;
  ResultLog log_;
  std::unique_ptr<Job> job_;
  FakeModel* early_ = nullptr;
  FakeModel* late_ = nullptr;
};

TEST_F(JobQueueTwoFramesTest,
       CancelFailsAFrameComputedButWaitingForAnEarlierOne) {
  FinishFrameOne();
  job_->Cancel();
  log_.WaitFor(2);
  for (const FrameResult& result : log_.results()) {
    EXPECT_EQ(result.status.code(), absl::StatusCode::kCancelled);
    EXPECT_TRUE(result.outputs.empty());
  }
}

// A frame that failed on the device and waits behind an earlier frame keeps
// its own reason when the job is then cancelled: its caller learns that the
// device failed, not that it gave up.
TEST_F(JobQueueTwoFramesTest,
       CancelKeepsTheReasonOfAFrameThatFailedWaitingForAnEarlierOne) {
  early_->FailNext(absl::InternalError("device lost"));
  FinishFrameOne();
  job_->Cancel();
  log_.WaitFor(2);
  const std::vector<FrameResult> results = log_.results();
  EXPECT_EQ(results[0].status.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(results[1].status.code(), absl::StatusCode::kInternal)
      << results[1].status;
  EXPECT_THAT(results[1].status.message(), HasSubstr("device lost"));
}

TEST_F(JobQueueTest, WorkersOnOneModelNeverCallItConcurrently) {
  JobQueue::Options options = BaseOptions();
  options.workers = 3;
  options.max_batch_size = 1;
  model_.SetCost(absl::Microseconds(200), absl::ZeroDuration());
  auto queue = MakeQueue(options);
  ResultLog log;
  auto job = Open(*queue, &log);
  for (int i = 0; i < 12; ++i) {
    FrameRequest request = MakeRequest(2, 2, i, {0}, kStyles, i);
    ASSERT_TRUE(job->Submit(&request).ok());
  }
  log.WaitFor(12);
  EXPECT_EQ(model_.max_concurrent_calls(), 1);
  auto results = log.results();
  for (int i = 0; i < 12; ++i) {
    EXPECT_EQ(results[i].sequence, static_cast<uint64_t>(i));
  }
}

TEST_F(JobQueueTest, MultiStyleFrameDeliveredOnceWithEveryOutput) {
  auto queue = MakeQueue(BaseOptions());
  ResultLog log;
  auto job = Open(*queue, &log);
  // 6 rows with max_batch_size 4: the frame spans two batches.
  FrameRequest request = MakeRequest(3, 3, 9, {3, 2, 1, 0, 1, 2}, kStyles, 42);
  ASSERT_TRUE(job->TrySubmit(&request).ok());
  FrameRequest filler = MakeRequest(3, 3, 10, {0, 0}, kStyles, 43);
  ASSERT_TRUE(job->TrySubmit(&filler).ok());
  log.WaitFor(2);
  EXPECT_EQ(model_.calls().size(), 2u);
  auto results = log.results();
  EXPECT_EQ(results[0].sequence, 42u);
  EXPECT_TRUE(OutputsMatch(results[0], 3, 3, 9, {3, 2, 1, 0, 1, 2}, kStyles));
  EXPECT_TRUE(OutputsMatch(results[1], 3, 3, 10, {0, 0}, kStyles));
}

TEST_F(JobQueueTest, ComputeTimeIsSummedOverTheFramesBatches) {
  // A model that advances the fake clock by 3 ms per call.
  class SlowModel final : public StyleModel {
   public:
    SlowModel(FakeClock* clock, FakeModel* inner)
        : clock_(clock), inner_(inner) {}
    const ModelDescription& description() const override {
      return inner_->description();
    }
    absl::Status Stylize(const FrameBatch& batch) override {
      clock_->Advance(absl::Milliseconds(3));
      return inner_->Stylize(batch);
    }

   private:
    FakeClock* clock_;
    FakeModel* inner_;
  } slow(&clock_, &model_);
  auto created = JobQueue::Create(BaseOptions(), &slow, nullptr);
  ASSERT_TRUE(created.ok());
  std::unique_ptr<JobQueue> queue = *std::move(created);
  ResultLog log;
  auto job = Open(*queue, &log);
  FrameRequest request = MakeRequest(2, 2, 1, {0, 1, 2, 3, 0, 1}, kStyles, 1);
  ASSERT_TRUE(job->TrySubmit(&request).ok());
  FrameRequest filler = MakeRequest(2, 2, 2, {0, 1}, kStyles, 2);
  ASSERT_TRUE(job->TrySubmit(&filler).ok());
  log.WaitFor(2);
  auto results = log.results();
  EXPECT_EQ(results[0].compute, absl::Milliseconds(6));
  EXPECT_EQ(results[1].compute, absl::Milliseconds(3));
}

TEST_F(JobQueueTest, ModelErrorFailsOnlyItsBatch) {
  auto queue = MakeQueue(BaseOptions());
  model_.FailNext(absl::InternalError("device lost"));
  ResultLog log;
  auto job = Open(*queue, &log);
  for (int i = 0; i < 8; ++i) {
    FrameRequest request = MakeRequest(2, 2, i, {0}, kStyles, i);
    ASSERT_TRUE(job->TrySubmit(&request).ok());
  }
  log.WaitFor(8);
  auto results = log.results();
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(results[i].status.code(), absl::StatusCode::kInternal);
    EXPECT_TRUE(results[i].outputs.empty());
  }
  for (int i = 4; i < 8; ++i) {
    EXPECT_TRUE(OutputsMatch(results[i], 2, 2, i, {0}, kStyles));
  }
}

TEST_F(JobQueueTest, ABatchTheDeviceHasNoMemoryForRunsInHalves) {
  auto queue = MakeQueue(BaseOptions());
  // The batch of 4 fails, then its first half (2) fails, then 1 + 1 + 2 fit.
  model_.FailNext(absl::ResourceExhaustedError("out of memory"));
  model_.FailNext(absl::ResourceExhaustedError("out of memory"));
  ResultLog log;
  auto job = Open(*queue, &log);
  ASSERT_NO_FATAL_FAILURE(SubmitFourFramesInTheirOwnStyles(*job, log));
  EXPECT_THAT(CallSizes(), ElementsAre(4, 2, 1, 1, 2));
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(OutputsMatch(log.results()[i], 2, 2, i, {i}, kStyles));
  }
}

TEST_F(JobQueueTest, AFrameTheDeviceHasNoMemoryForFails) {
  JobQueue::Options options = BaseOptions();
  options.max_batch_size = 1;
  auto queue = MakeQueue(options);
  model_.FailNext(absl::ResourceExhaustedError("out of memory"));
  ResultLog log;
  auto job = Open(*queue, &log);
  FrameRequest request = MakeRequest(2, 2, 1, {0}, kStyles, 1);
  ASSERT_TRUE(job->TrySubmit(&request).ok());
  log.WaitFor(1);
  EXPECT_EQ(log.results()[0].status.code(),
            absl::StatusCode::kResourceExhausted);
}

TEST_F(JobQueueTest, FramesThatFitKeepTheirResultsWhenOthersOfTheBatchDoNot) {
  auto queue = MakeQueue(BaseOptions());
  // 4 fails; its first half (frames 0 and 1, maybe other callers') fits;
  // the second half fails, and frame 2 alone too: then frame 3, of the same
  // size, fails without a call. Frames 0 and 1 keep their results.
  model_.FailNext(absl::ResourceExhaustedError("out of memory"));
  model_.FailNext(absl::OkStatus());
  model_.FailNext(absl::ResourceExhaustedError("out of memory"));
  model_.FailNext(absl::ResourceExhaustedError("out of memory"));
  ResultLog log;
  auto job = Open(*queue, &log);
  ASSERT_NO_FATAL_FAILURE(SubmitFourFramesInTheirOwnStyles(*job, log));
  EXPECT_THAT(CallSizes(), ElementsAre(4, 2, 2, 1));
  auto results = log.results();
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(OutputsMatch(results[i], 2, 2, i, {i}, kStyles));
  }
  for (int i = 2; i < 4; ++i) {
    EXPECT_EQ(results[i].status.code(), absl::StatusCode::kResourceExhausted);
    EXPECT_TRUE(results[i].outputs.empty());
  }
}

// A batch the device has no memory for even one frame of: halving stops at
// the first single frame, 16 -> 8 -> 4 -> 2 -> 1, not one call per frame.
TEST_F(JobQueueTest, ABatchOfFramesThatNeverFitCostsLogarithmicallyManyCalls) {
  JobQueue::Options options = BaseOptions();
  options.max_batch_size = 16;
  auto queue = MakeQueue(options);
  for (int i = 0; i < 40; ++i) {
    model_.FailNext(absl::ResourceExhaustedError("out of memory"));
  }
  ResultLog log;
  auto job = Open(*queue, &log);
  for (int i = 0; i < 16; ++i) {
    FrameRequest request = MakeRequest(2, 2, i, {0}, kStyles, i);
    ASSERT_TRUE(job->TrySubmit(&request).ok());
  }
  log.WaitFor(16);
  EXPECT_THAT(CallSizes(), ElementsAre(16, 8, 4, 2, 1));
  for (const FrameResult& result : log.results()) {
    EXPECT_EQ(result.status.code(), absl::StatusCode::kResourceExhausted);
  }
}

// The fake's description, with `stylize` for its Stylize (which may call
// the fake's).
class ModelWith final : public StyleModel {
 public:
  ModelWith(FakeModel* inner,
            std::function<absl::Status(const FrameBatch&)> stylize)
      : inner_(inner), stylize_(std::move(stylize)) {}
  const ModelDescription& description() const override {
    return inner_->description();
  }
  absl::Status Stylize(const FrameBatch& batch) override {
    return stylize_(batch);
  }

 private:
  FakeModel* inner_;
  std::function<absl::Status(const FrameBatch&)> stylize_;
};

// Four 2x2 frames in one style through a queue on `model`, one job; their
// results in order (none if the queue cannot be made or a frame is refused).
std::vector<FrameResult> FourFramesThrough(StyleModel* model,
                                           JobQueue::Options options) {
  auto queue = JobQueue::Create(options, model, nullptr);
  if (!queue.ok()) return {};
  ResultLog log;
  JobOptions job_options;
  job_options.on_result = log.on_result();
  auto job = (*queue)->OpenJob(std::move(job_options));
  if (!job.ok()) return {};
  for (int i = 0; i < 4; ++i) {
    FrameRequest request = MakeRequest(2, 2, i, {0}, kStyles, i);
    if (!(*job)->TrySubmit(&request).ok()) return {};
  }
  log.WaitFor(4);
  return log.results();
}

TEST_F(JobQueueTest, AModelThatThrowsFailsItsBatchWithInternal) {
  ModelWith throwing(&model_, [](const FrameBatch&) -> absl::Status {
    throw std::runtime_error("boom");
  });
  const std::vector<FrameResult> results =
      FourFramesThrough(&throwing, BaseOptions());
  ASSERT_EQ(results.size(), 4u);
  EXPECT_EQ(results[0].status.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(results[0].status.message(), HasSubstr("boom"));
}

// std::bad_alloc is running out of memory, as RESOURCE_EXHAUSTED is: the
// batch is halved until it fits (it failed whole, as INTERNAL).
TEST_F(JobQueueTest, AModelThatThrowsBadAllocHasItsBatchHalved) {
  ModelWith failing(&model_, [this](const FrameBatch& batch) {
    if (batch.batch_size > 1) throw std::bad_alloc();
    return model_.Stylize(batch);
  });
  const std::vector<FrameResult> results =
      FourFramesThrough(&failing, BaseOptions());
  ASSERT_EQ(results.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(OutputsMatch(results[i], 2, 2, i, {0}, kStyles))
        << results[i].status;
  }
  EXPECT_EQ(CallSizes(), std::vector<int>(4, 1));  // what reached the fake
}

TEST_F(JobQueueTest, ResultsArriveOnAQueueThread) {
  auto queue = MakeQueue(BaseOptions());
  ResultLog log;
  auto job = Open(*queue, &log);
  for (int i = 0; i < 4; ++i) {
    FrameRequest request = MakeRequest(2, 2, i, {0}, kStyles, i);
    ASSERT_TRUE(job->TrySubmit(&request).ok());
  }
  job->Cancel();  // whatever is left is delivered as CANCELLED, elsewhere
  log.WaitFor(4);
  for (std::thread::id id : log.threads()) {
    EXPECT_NE(id, std::this_thread::get_id());
  }
}

class CountingObserver final : public QueueObserver {
 public:
  void OnQueueDepth(int64_t items, int64_t bytes) override {
    absl::MutexLock lock(&mu_);
    last_items_ = items;
    last_bytes_ = bytes;
    max_items_ = std::max(max_items_, items);
  }
  void OnBatch(int batch_size, absl::Duration compute) override {
    absl::MutexLock lock(&mu_);
    batch_sizes_.push_back(batch_size);
  }
  void OnItemDone(const std::vector<float>& style_weights,
                  absl::Duration queue_wait) override {
    absl::MutexLock lock(&mu_);
    ++per_style_[FakeModel::StyleOf(style_weights)];
  }
  void OnItemDropped(const absl::Status& reason) override {
    absl::MutexLock lock(&mu_);
    ++dropped_[reason.code()];
  }

  mutable absl::Mutex mu_;
  int64_t last_items_ ABSL_GUARDED_BY(mu_) = -1;
  int64_t last_bytes_ ABSL_GUARDED_BY(mu_) = -1;
  int64_t max_items_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<int> batch_sizes_ ABSL_GUARDED_BY(mu_);
  std::map<int, int> per_style_ ABSL_GUARDED_BY(mu_);
  std::map<absl::StatusCode, int> dropped_ ABSL_GUARDED_BY(mu_);
};

TEST_F(JobQueueTest, ObserverSeesDepthBatchesItemsAndDrops) {
  CountingObserver observer;
  auto queue = MakeQueue(BaseOptions(), &observer);
  ResultLog log;
  auto job = Open(*queue, &log);
  FrameRequest a = MakeRequest(2, 2, 1, {0, 1, 1}, kStyles, 1);
  FrameRequest b = MakeRequest(2, 2, 2, {3}, kStyles, 2);
  ASSERT_TRUE(job->TrySubmit(&a).ok());
  ASSERT_TRUE(job->TrySubmit(&b).ok());
  log.WaitFor(2);
  // An item that is cancelled while queued counts as dropped.
  ResultLog other_log;
  auto other = Open(*queue, &other_log);
  FrameRequest c = MakeRequest(2, 2, 3, {0, 2}, kStyles, 3);
  ASSERT_TRUE(other->TrySubmit(&c).ok());
  other->Cancel();
  other_log.WaitFor(1);
  absl::MutexLock lock(&observer.mu_);
  EXPECT_THAT(observer.batch_sizes_, ElementsAre(4));
  EXPECT_EQ(observer.per_style_[0], 1);
  EXPECT_EQ(observer.per_style_[1], 2);
  EXPECT_EQ(observer.per_style_[3], 1);
  EXPECT_EQ(observer.dropped_[absl::StatusCode::kCancelled], 2);
  EXPECT_EQ(observer.max_items_, 4);
  EXPECT_EQ(observer.last_items_, 0);
  EXPECT_EQ(observer.last_bytes_, 0);
}

// A caller's deadline reaches its job as a cancel a moment before the
// queue's own copy of it passes: what that drops is counted as the deadline,
// not as the caller cancelling.
TEST_F(JobQueueTest, ACancelAtTheDeadlineDropsAsTheDeadline) {
  CountingObserver observer;
  auto queue = MakeQueue(BaseOptions(), &observer);
  for (const auto& [until_deadline, code] :
       {std::pair{absl::Milliseconds(50), absl::StatusCode::kDeadlineExceeded},
        std::pair{absl::Seconds(10), absl::StatusCode::kCancelled}}) {
    ResultLog log;
    JobOptions options;
    options.on_result = log.on_result();
    options.deadline = clock_.Now() + until_deadline;
    auto job = queue->OpenJob(std::move(options));
    ASSERT_TRUE(job.ok()) << job.status();
    FrameRequest request = MakeRequest(2, 2, 1, {0, 2}, kStyles, 1);
    ASSERT_TRUE((*job)->TrySubmit(&request).ok());
    (*job)->Cancel();  // still queued: the fake clock holds the batch open
    log.WaitFor(1);
    EXPECT_EQ(log.results()[0].status.code(), code);
    absl::MutexLock lock(&observer.mu_);
    EXPECT_EQ(observer.dropped_[code], 2);
  }
}

}  // namespace
}  // namespace stylizer
