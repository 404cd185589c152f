// Unit tests of the job queue's admission (bad input, capacity, flow
// control), cancellation, deadlines, Drain and the aborting destructor, with
// a fake clock and a fake model.
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/batching/job_queue.h"
#include "server/batching/job_queue_options.h"
#include "server/batching/testing/fake_clock.h"
#include "server/batching/testing/fake_model.h"
#include "server/batching/testing/test_util.h"
#include "server/service/retry_info.h"

namespace stylizer {
namespace {

// The options of a still image's job: one frame, refused when full.
JobOptions StillImage() {
  JobOptions options;
  options.max_frames_in_flight = 1;
  options.single_frame = true;
  return options;
}

// The options of a stream's job with `frames` frames in flight.
JobOptions Stream(int frames) {
  JobOptions options;
  options.max_frames_in_flight = frames;
  return options;
}

using ::stylizer::testing::FakeClock;
using ::stylizer::testing::FakeModel;
using ::stylizer::testing::MakeRequest;
using ::stylizer::testing::OneHot;
using ::stylizer::testing::OutputsMatch;
using ::stylizer::testing::ResultLog;
using ::stylizer::testing::TaggedFrame;
using ::testing::HasSubstr;

constexpr int kStyles = 4;

class AdmissionTest : public ::testing::Test {
 protected:
  AdmissionTest() {
    options_.clock = &clock_;
    options_.max_batch_size = 4;
    options_.batch_timeout = absl::Hours(1);
  }

  std::unique_ptr<JobQueue> MakeQueue() {
    auto queue = JobQueue::Create(options_, &model_, nullptr);
    EXPECT_TRUE(queue.ok()) << queue.status();
    return *std::move(queue);
  }

  std::unique_ptr<Job> Open(JobQueue& queue, ResultLog* log,
                            JobOptions options = {}) {
    options.on_result = log->on_result();
    auto job = queue.OpenJob(std::move(options));
    EXPECT_TRUE(job.ok()) << job.status();
    return *std::move(job);
  }

  // Offers `job` `count` frames of two 2x2 items (12 bytes) each, tagged
  // from `first_tag`; each must be taken.
  void TrySubmitTwoItemFrames(Job& job, int first_tag, int count) {
    for (int i = 0; i < count; ++i) {
      FrameRequest r = MakeRequest(2, 2, first_tag + i, {0, 1}, kStyles, i);
      ASSERT_TRUE(job.TrySubmit(&r).ok()) << i;
    }
  }

  // Lets the held device go, drains, and expects the still image's one frame
  // computed.
  void ExpectStillImageComputed(JobQueue& queue, ResultLog& log_image) {
    model_.ReleaseAll();
    queue.Drain();
    ASSERT_EQ(log_image.size(), 1u);
    EXPECT_TRUE(log_image.results()[0].status.ok());
  }

  JobQueue::Options options_;
  FakeClock clock_;
  FakeModel model_{kStyles};
};

// The retry hint is the items ahead at the recent device time per item. It
// counted batches of max_batch_size: where max_batch_pixels makes each
// batch one item, a hint up to max_batch_size times too short, and clients
// came back to a queue as full as before.
TEST_F(AdmissionTest, TheRetryHintCountsItemsNotFullBatches) {
  options_.clock = nullptr;  // the model's cost is real time
  options_.max_batch_size = 8;
  options_.max_batch_pixels = 8;  // one 4x2 item per batch
  options_.max_queued_items = 8;
  options_.batch_timeout = absl::ZeroDuration();
  auto queue = MakeQueue();
  model_.SetCost(absl::Milliseconds(40), absl::ZeroDuration());
  ResultLog warm_log;
  auto warm = Open(*queue, &warm_log);
  for (int i = 0; i < 2; ++i) {  // eight one-item batches of 40 ms
    FrameRequest request = MakeRequest(4, 2, i, {0, 1, 2, 3}, kStyles, i);
    ASSERT_TRUE(warm->Submit(&request).ok());
  }
  warm_log.WaitFor(2);
  // Four items ahead, the device held; the next frame of a stream finds
  // no room (the rest is kept for still images).
  model_.Hold();
  ResultLog log;
  auto a = Open(*queue, &log);
  auto b = Open(*queue, &log);
  FrameRequest a1 = MakeRequest(4, 2, 10, {0, 1, 2, 3}, kStyles, 0);
  ASSERT_TRUE(a->TrySubmit(&a1).ok());
  FrameRequest b1 = MakeRequest(4, 2, 11, {0, 1, 2, 3}, kStyles, 0);
  const absl::Status status = b->TrySubmit(&b1);
  ASSERT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
  ASSERT_TRUE(RetryDelay(status).has_value());
  // The smoothed time per item is over 25 ms after eight 40 ms batches:
  // four items ahead, 100 ms or more (it said about 30: one batch).
  EXPECT_GE(*RetryDelay(status), absl::Milliseconds(75)) << status;
  model_.ReleaseAll();
  log.WaitFor(1);
}

TEST_F(AdmissionTest, BadRequestsAreInvalidArgumentAndUntouched) {
  auto queue = MakeQueue();
  ResultLog log;
  auto job = Open(*queue, &log);
  auto expect_invalid = [&](FrameRequest request, const char* what) {
    const FrameRequest before = request;
    absl::Status status = job->TrySubmit(&request);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << what;
    EXPECT_THAT(status.message(), HasSubstr(what));
    EXPECT_EQ(request.frame, before.frame);
    EXPECT_EQ(request.style_weights, before.style_weights);
  };
  FrameRequest no_frame;
  no_frame.style_weights = {OneHot(kStyles, 0)};
  expect_invalid(no_frame, "no frame");
  FrameRequest empty = MakeRequest(2, 2, 0, {0}, kStyles, 0);
  empty.frame = std::make_shared<RgbFrame>();
  expect_invalid(empty, "not positive");
  FrameRequest short_pixels = MakeRequest(2, 2, 0, {0}, kStyles, 0);
  auto frame = std::make_shared<RgbFrame>(*short_pixels.frame);
  frame->pixels.pop_back();
  short_pixels.frame = frame;
  expect_invalid(short_pixels, "expected 12");
  expect_invalid(MakeRequest(2, 2, 0, {}, kStyles, 0), "no style rows");
  FrameRequest short_row = MakeRequest(2, 2, 0, {0}, kStyles, 0);
  short_row.style_weights[0].pop_back();
  expect_invalid(short_row, "entries");
  FrameRequest negative = MakeRequest(2, 2, 0, {0}, kStyles, 0);
  negative.style_weights[0][1] = -1;
  expect_invalid(negative, "non-negative");
  FrameRequest zero = MakeRequest(2, 2, 0, {0}, kStyles, 0);
  zero.style_weights[0][0] = 0;
  expect_invalid(zero, "all zero");
  // Too big for one job's share of the queue (half of max_queued_bytes).
  options_.max_queued_bytes = 1000;
  auto small_queue = MakeQueue();
  auto small_job = Open(*small_queue, &log);
  FrameRequest huge = MakeRequest(20, 20, 0, {0}, kStyles, 0);
  absl::Status status = small_job->Submit(&huge);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("at most"));
  EXPECT_EQ(log.size(), 0u);
}

TEST_F(AdmissionTest, JobLimitRefusesWithRetryHintThenNotifiesWhenRoom) {
  auto queue = MakeQueue();
  model_.Hold();
  ResultLog log;
  JobOptions job_options;
  job_options.max_frames_in_flight = 2;
  auto job = Open(*queue, &log, job_options);
  for (int i = 0; i < 2; ++i) {
    FrameRequest request = MakeRequest(2, 2, i, {0, 1}, kStyles, i);
    ASSERT_TRUE(job->TrySubmit(&request).ok());
  }
  FrameRequest third = MakeRequest(2, 2, 2, {0}, kStyles, 2);
  absl::Status status = job->TrySubmit(&third);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(status.message(), HasSubstr("frames in flight"));
  EXPECT_THAT(status.message(), HasSubstr("retry in about"));
  // The hint a client acts on is the status's RetryInfo, not the text.
  ASSERT_TRUE(RetryDelay(status).has_value());
  EXPECT_GT(*RetryDelay(status), absl::ZeroDuration());
  ASSERT_NE(third.frame, nullptr);  // ownership stays with the caller
  EXPECT_EQ(third.style_weights.size(), 1u);

  absl::Notification room;
  std::atomic<bool> on_caller_thread{false};
  const std::thread::id self = std::this_thread::get_id();
  job->NotifyWhenRoom([&] {
    on_caller_thread = std::this_thread::get_id() == self;
    room.Notify();
  });
  EXPECT_FALSE(room.HasBeenNotified());
  model_.ReleaseAll();
  room.WaitForNotification();
  EXPECT_FALSE(on_caller_thread);
  EXPECT_TRUE(job->TrySubmit(&third).ok());
  EXPECT_EQ(third.frame, nullptr);  // moved into the queue
  queue->Drain();
  ASSERT_EQ(log.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(log.results()[i].sequence, static_cast<uint64_t>(i));
  }
}

// A job blocked at its frame limit is woken once a quarter of the limit is
// free, not at every delivered frame, so that it refills in bursts.
TEST_F(AdmissionTest, ABlockedJobIsWokenOnceAQuarterOfItsLimitIsFree) {
  options_.max_batch_size = 1;
  options_.batch_timeout = absl::ZeroDuration();
  auto queue = MakeQueue();
  model_.Hold();
  ResultLog log;
  JobOptions job_options;
  job_options.max_frames_in_flight = 8;  // woken with 2 free
  auto job = Open(*queue, &log, job_options);
  for (int i = 0; i < 8; ++i) {
    FrameRequest request = MakeRequest(2, 2, i, {0}, kStyles, i);
    ASSERT_TRUE(job->TrySubmit(&request).ok());
  }
  absl::Notification room;
  job->NotifyWhenRoom([&] { room.Notify(); });
  model_.Release(1);
  log.WaitFor(1);
  // One frame is free: TrySubmit would take one, but the waiter sleeps on.
  EXPECT_FALSE(room.WaitForNotificationWithTimeout(absl::Milliseconds(200)));
  model_.Release(1);
  log.WaitFor(2);
  EXPECT_TRUE(room.WaitForNotificationWithTimeout(absl::Seconds(30)));
  model_.ReleaseAll();
  queue->Drain();
}

TEST_F(AdmissionTest, NotifyWhenRoomRunsAtOnceWhenThereIsRoom) {
  auto queue = MakeQueue();
  ResultLog log;
  auto job = Open(*queue, &log);
  absl::Notification room;
  job->NotifyWhenRoom([&] { room.Notify(); });
  room.WaitForNotification();
}

// Destroying a Job drops its NotifyWhenRoom callbacks: a pending one (which
// the job's cancellation would otherwise wake) and one already handed to the
// notifier thread but not yet run.
TEST_F(AdmissionTest, NotifyWhenRoomCallbacksNeverRunAfterTheJobIsDestroyed) {
  auto queue = MakeQueue();
  model_.Hold();
  ResultLog log_a, log_b, log_c;
  auto a = Open(*queue, &log_a);
  JobOptions one_frame;
  one_frame.max_frames_in_flight = 1;
  auto b = Open(*queue, &log_b, one_frame);
  auto c = Open(*queue, &log_c);

  // b: full, so its callback waits for room.
  FrameRequest b1 = MakeRequest(2, 2, 1, {0}, kStyles, 1);
  ASSERT_TRUE(b->TrySubmit(&b1).ok());
  FrameRequest b2 = MakeRequest(2, 2, 2, {0}, kStyles, 2);
  ASSERT_EQ(b->TrySubmit(&b2).code(), absl::StatusCode::kResourceExhausted);
  std::atomic<bool> b_ran{false};
  b->NotifyWhenRoom([&] { b_ran = true; });

  // a's callback holds the notifier thread, so that c's callback (room now)
  // is posted behind it.
  absl::Notification a_running, a_release;
  a->NotifyWhenRoom([&] {
    a_running.Notify();
    a_release.WaitForNotification();
  });
  a_running.WaitForNotification();
  std::atomic<bool> c_ran{false};
  c->NotifyWhenRoom([&] { c_ran = true; });

  b.reset();
  c.reset();
  a_release.Notify();
  // The notifier runs its tasks in order: once this ran, so did (or would
  // have) b's and c's.
  absl::Notification a_again;
  a->NotifyWhenRoom([&] { a_again.Notify(); });
  a_again.WaitForNotification();
  EXPECT_FALSE(b_ran);
  EXPECT_FALSE(c_ran);
  model_.ReleaseAll();
}

// ~Job waits for a NotifyWhenRoom callback of the job that is running, so its
// captures may be freed right after; the callback may itself destroy the Job.
TEST_F(AdmissionTest, DestroyingAJobWaitsForItsRunningRoomCallback) {
  auto queue = MakeQueue();
  ResultLog log;
  auto job = Open(*queue, &log);
  absl::Notification running, release, destroyed;
  std::atomic<bool> destroyed_while_running{false};
  job->NotifyWhenRoom([&] {
    running.Notify();
    release.WaitForNotification();
    // A generous pause: were ~Job not waiting for us, it would be done.
    destroyed.WaitForNotificationWithTimeout(absl::Milliseconds(200));
    destroyed_while_running = destroyed.HasBeenNotified();
  });
  running.WaitForNotification();
  std::thread destroyer([&] {
    job.reset();
    destroyed.Notify();
  });
  release.Notify();
  destroyer.join();
  EXPECT_FALSE(destroyed_while_running);

  auto self_destroying = Open(*queue, &log);
  absl::Notification done;
  self_destroying->NotifyWhenRoom([&] {
    self_destroying.reset();
    done.Notify();
  });
  done.WaitForNotification();
}

TEST_F(AdmissionTest, QueueCapacityInItemsIsSharedAndFlowControlled) {
  options_.max_queued_items = 8;
  auto queue = MakeQueue();
  model_.Hold();
  ResultLog log_a, log_b, log_c;
  auto a = Open(*queue, &log_a);
  auto b = Open(*queue, &log_b);
  auto c = Open(*queue, &log_c);
  // One job may hold half of the queue.
  FrameRequest a1 = MakeRequest(2, 2, 1, {0, 1, 2, 3}, kStyles, 1);
  ASSERT_TRUE(a->TrySubmit(&a1).ok());  // a full batch: on the device
  model_.WaitForCalls(1);
  FrameRequest a2 = MakeRequest(2, 2, 2, {0}, kStyles, 2);
  absl::Status status = a->TrySubmit(&a2);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  FrameRequest b1 = MakeRequest(2, 2, 3, {0, 1, 2}, kStyles, 1);
  ASSERT_TRUE(b->TrySubmit(&b1).ok());
  EXPECT_EQ(queue->queued_items(), 7);
  EXPECT_EQ(queue->queued_bytes(), 7 * 12);
  FrameRequest c1 = MakeRequest(2, 2, 4, {0, 1}, kStyles, 1);
  status = c->TrySubmit(&c1);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(status.message(), HasSubstr("job queue is full"));
  EXPECT_THAT(status.message(), HasSubstr("retry in about"));
  ASSERT_TRUE(RetryDelay(status).has_value());
  EXPECT_GT(*RetryDelay(status), absl::ZeroDuration());

  // A blocking Submit waits for the room instead.
  std::atomic<bool> returned{false};
  absl::Status blocked_status;
  std::thread submitter([&] {
    blocked_status = c->Submit(&c1);
    returned = true;
  });
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_FALSE(returned);
  model_.ReleaseAll();
  submitter.join();
  EXPECT_TRUE(blocked_status.ok()) << blocked_status;
  queue->Drain();
  EXPECT_EQ(log_a.size(), 1u);
  EXPECT_EQ(log_b.size(), 1u);
  EXPECT_EQ(log_c.size(), 1u);
  EXPECT_TRUE(OutputsMatch(log_c.results()[0], 2, 2, 4, {0, 1}, kStyles));
  EXPECT_EQ(queue->queued_items(), 0);
}

// Issue 13's soak: 2 of 4061 still images were refused "job queue is full"
// while movies and frame streams, which wait for room rather than fail,
// held all 512 items. Streaming jobs now stop at seven eighths of the
// capacity; a single-frame job still gets the rest.
TEST_F(AdmissionTest, StreamingJobsLeaveRoomForSingleFrameJobs) {
  options_.max_queued_items = 16;
  options_.max_batch_size = 16;  // all stay queued
  auto queue = MakeQueue();
  model_.Hold();
  ResultLog log_a, log_b, log_image;
  auto a = Open(*queue, &log_a, Stream(8));
  auto b = Open(*queue, &log_b, Stream(8));
  // 8 items: a's half
  ASSERT_NO_FATAL_FAILURE(TrySubmitTwoItemFrames(*a, 0, 4));
  ASSERT_NO_FATAL_FAILURE(TrySubmitTwoItemFrames(*b, 10, 3));  // 14 of 16
  EXPECT_EQ(queue->queued_items(), 14);
  FrameRequest more = MakeRequest(2, 2, 20, {0}, kStyles, 3);
  absl::Status status = b->TrySubmit(&more);  // 15 > 16 - 16 / 8
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);

  auto image = Open(*queue, &log_image, StillImage());
  FrameRequest still = MakeRequest(2, 2, 30, {0, 1}, kStyles, 0);
  ASSERT_TRUE(image->TrySubmit(&still).ok());  // 16 of 16
  EXPECT_EQ(queue->queued_items(), 16);
  ExpectStillImageComputed(*queue, log_image);
}

// A movie of big frames in many styles may be allowed one frame in flight;
// it is still a stream and leaves the reserve to still images (such movies
// took for single-frame jobs filled it).
TEST_F(AdmissionTest, OneFrameStreamsLeaveRoomForSingleFrameJobs) {
  options_.max_queued_items = 16;
  options_.max_batch_size = 16;  // all stay queued
  auto queue = MakeQueue();
  model_.Hold();
  std::vector<ResultLog> logs(8);
  std::vector<std::unique_ptr<Job>> movies;
  for (int i = 0; i < 8; ++i) {
    movies.push_back(Open(*queue, &logs[i], Stream(1)));
  }
  for (int i = 0; i < 7; ++i) {
    FrameRequest r = MakeRequest(2, 2, i, {0, 1}, kStyles, 0);
    ASSERT_TRUE(movies[i]->TrySubmit(&r).ok()) << i;  // 14 of 16
  }
  FrameRequest eighth = MakeRequest(2, 2, 7, {0, 1}, kStyles, 0);
  EXPECT_EQ(movies[7]->TrySubmit(&eighth).code(),
            absl::StatusCode::kResourceExhausted);
  ResultLog log_image;
  auto image = Open(*queue, &log_image, StillImage());
  FrameRequest still = MakeRequest(2, 2, 30, {0, 1}, kStyles, 0);
  ASSERT_TRUE(image->TrySubmit(&still).ok());  // 16 of 16
  ExpectStillImageComputed(*queue, log_image);
}

// The same two rules in bytes, with items to spare: a job holds at most half
// of the queue's bytes, and streaming jobs stop at seven eighths of them. (Only
// the item rules were tested: with either byte rule gone every test passed.)
TEST_F(AdmissionTest, JobSharesAndTheReserveCountBytesToo) {
  options_.max_queued_items = 1000;
  options_.max_queued_bytes = 16 * 2 * 2 * 3;  // sixteen 2x2 items: 192
  options_.max_batch_size = 16;                // all stay queued
  auto queue = MakeQueue();
  model_.Hold();
  ResultLog log_a, log_b, log_image;
  auto a = Open(*queue, &log_a, Stream(8));
  auto b = Open(*queue, &log_b, Stream(8));
  // 96 bytes: a's half
  ASSERT_NO_FATAL_FAILURE(TrySubmitTwoItemFrames(*a, 0, 4));
  FrameRequest over_share = MakeRequest(2, 2, 4, {0, 1}, kStyles, 4);
  absl::Status status = a->TrySubmit(&over_share);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  ASSERT_NO_FATAL_FAILURE(TrySubmitTwoItemFrames(*b, 10, 3));  // 168 of 192
  EXPECT_EQ(queue->queued_bytes(), 168);
  FrameRequest over_reserve = MakeRequest(2, 2, 20, {0, 1}, kStyles, 3);
  status = b->TrySubmit(&over_reserve);  // 192 > 192 - 192 / 8
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(status.message(), HasSubstr("bytes"));

  auto image = Open(*queue, &log_image, StillImage());
  FrameRequest still = MakeRequest(2, 2, 30, {0, 1}, kStyles, 0);
  EXPECT_TRUE(image->TrySubmit(&still).ok());  // 192 of 192
  EXPECT_EQ(queue->queued_bytes(), 192);
  ExpectStillImageComputed(*queue, log_image);
}

TEST_F(AdmissionTest, QueueCapacityInBytes) {
  options_.max_queued_bytes = 4 * 4 * 3 * 4;  // four 4x4 items
  options_.max_batch_size = 8;                // all stay queued
  auto queue = MakeQueue();
  model_.Hold();
  ResultLog log_a, log_b, log_c;
  // Single-frame jobs (still images) may fill the whole queue; streaming
  // jobs leave an eighth of it (StreamingJobsLeaveRoomForSingleFrameJobs).
  const JobOptions single = StillImage();
  auto a = Open(*queue, &log_a, single);
  auto b = Open(*queue, &log_b, single);
  auto c = Open(*queue, &log_c, single);
  FrameRequest a1 = MakeRequest(4, 4, 1, {0, 1}, kStyles, 1);
  FrameRequest b1 = MakeRequest(4, 4, 2, {0, 1}, kStyles, 1);
  ASSERT_TRUE(a->TrySubmit(&a1).ok());
  ASSERT_TRUE(b->TrySubmit(&b1).ok());
  FrameRequest c1 = MakeRequest(4, 4, 3, {0}, kStyles, 1);
  absl::Status status = c->TrySubmit(&c1);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(status.message(), HasSubstr("bytes"));
  // Smaller frames still fit nowhere: the bytes are all taken.
  FrameRequest c2 = MakeRequest(1, 1, 3, {0}, kStyles, 1);
  EXPECT_EQ(c->TrySubmit(&c2).code(), absl::StatusCode::kResourceExhausted);
  b->Cancel();
  ASSERT_TRUE(c->TrySubmit(&c1).ok());
  model_.ReleaseAll();
  queue->Drain();
  ASSERT_EQ(log_c.size(), 1u);
  EXPECT_TRUE(OutputsMatch(log_c.results()[0], 4, 4, 3, {0}, kStyles));
}

TEST_F(AdmissionTest, CancelDropsQueuedItemsAndFreesCapacity) {
  auto queue = MakeQueue();
  model_.Hold();
  ResultLog log;
  auto job = Open(*queue, &log);
  for (int i = 0; i < 6; ++i) {
    FrameRequest request = MakeRequest(2, 2, i, {0, 1}, kStyles, i);
    ASSERT_TRUE(job->TrySubmit(&request).ok());
  }
  model_.WaitForCalls(1);  // frames 0 and 1 on the device
  EXPECT_EQ(queue->queued_items(), 12);
  job->Cancel();
  job->Cancel();  // idempotent
  log.WaitFor(6);
  // Queued items are gone at once; the running batch's stay counted until
  // it finishes.
  EXPECT_LE(queue->queued_items(), 8);
  const std::vector<FrameResult> results = log.results();
  for (int i = 0; i < 6; ++i) {
    const FrameResult& result = results[i];
    EXPECT_EQ(result.sequence, static_cast<uint64_t>(i));
    EXPECT_EQ(result.status.code(), absl::StatusCode::kCancelled);
    EXPECT_TRUE(result.outputs.empty());
  }
  FrameRequest late = MakeRequest(2, 2, 9, {0}, kStyles, 9);
  EXPECT_EQ(job->TrySubmit(&late).code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(job->Submit(&late).code(), absl::StatusCode::kCancelled);
  absl::Notification notified;
  job->NotifyWhenRoom([&] { notified.Notify(); });
  notified.WaitForNotification();
  model_.ReleaseAll();
  queue->Drain();
  EXPECT_EQ(queue->queued_items(), 0);
  EXPECT_EQ(log.size(), 6u);  // the running batch's results were discarded
  EXPECT_LE(model_.calls_started(), 2);
}

TEST_F(AdmissionTest, CancelledWorkIsNeverComputed) {
  auto queue = MakeQueue();
  model_.Hold();
  ResultLog log_a, log_b;
  auto a = Open(*queue, &log_a);
  auto b = Open(*queue, &log_b);
  FrameRequest a1 = MakeRequest(2, 2, 1, {0, 1, 2, 3}, kStyles, 1);
  ASSERT_TRUE(a->TrySubmit(&a1).ok());
  model_.WaitForCalls(1);  // a's batch is on the device
  // b's full batch is prepared next (or still queued) while the device is
  // busy; cancelling b means it never reaches the device either way.
  FrameRequest b1 = MakeRequest(2, 2, 2, {0, 1, 2, 3}, kStyles, 1);
  ASSERT_TRUE(b->TrySubmit(&b1).ok());
  b->Cancel();
  log_b.WaitFor(1);
  model_.ReleaseAll();
  queue->Drain();
  EXPECT_EQ(model_.calls_started(), 1);
  EXPECT_TRUE(OutputsMatch(log_a.results()[0], 2, 2, 1, {0, 1, 2, 3}, kStyles));
  EXPECT_EQ(log_b.results()[0].status.code(), absl::StatusCode::kCancelled);
}

TEST_F(AdmissionTest, ExpiredWorkWaitingForTheDeviceIsNeverComputed) {
  auto queue = MakeQueue();
  model_.Hold();
  ResultLog log_a, log_b;
  auto a = Open(*queue, &log_a);
  JobOptions b_options;
  b_options.deadline = clock_.Now() + absl::Milliseconds(10);
  auto b = Open(*queue, &log_b, b_options);
  FrameRequest a1 = MakeRequest(2, 2, 1, {0, 1, 2, 3}, kStyles, 1);
  ASSERT_TRUE(a->TrySubmit(&a1).ok());
  model_.WaitForCalls(1);
  FrameRequest b1 = MakeRequest(2, 2, 2, {0, 1, 2, 3}, kStyles, 1);
  ASSERT_TRUE(b->TrySubmit(&b1).ok());
  clock_.Advance(absl::Milliseconds(10));
  model_.ReleaseAll();
  queue->Drain();
  EXPECT_EQ(model_.calls_started(), 1);
  ASSERT_EQ(log_b.size(), 1u);
  EXPECT_EQ(log_b.results()[0].status.code(),
            absl::StatusCode::kDeadlineExceeded);
}

// A prepared batch mixes a live job's items with those of a job cancelled
// and a job whose deadline passed while the batch waited for the device: only
// the live items reach the model; the others fail at once.
TEST_F(AdmissionTest, DeadItemsLeaveAPreparedBatchBeforeTheDevice) {
  auto queue = MakeQueue();
  model_.Hold();
  const absl::Time start = clock_.Now();
  ResultLog log_a, log_b, log_c, log_d;
  auto a = Open(*queue, &log_a);
  auto b = Open(*queue, &log_b);
  auto c = Open(*queue, &log_c);
  JobOptions d_options;
  d_options.deadline = start + absl::Milliseconds(10);
  auto d = Open(*queue, &log_d, d_options);
  FrameRequest a1 = MakeRequest(2, 2, 1, {0, 1, 2, 3}, kStyles, 1);
  ASSERT_TRUE(a->TrySubmit(&a1).ok());
  model_.WaitForCalls(1);  // a's batch is on the device
  FrameRequest b1 = MakeRequest(2, 2, 2, {0, 1}, kStyles, 1);
  ASSERT_TRUE(b->TrySubmit(&b1).ok());
  FrameRequest c1 = MakeRequest(2, 2, 3, {0}, kStyles, 1);
  ASSERT_TRUE(c->TrySubmit(&c1).ok());
  FrameRequest d1 = MakeRequest(2, 2, 4, {0}, kStyles, 1);
  ASSERT_TRUE(d->TrySubmit(&d1).ok());
  // Wait until the batcher has prepared that full batch and gone idle: it
  // then waits with the deadline of a marker job opened after the items, the
  // earliest deadline there is.
  JobOptions marker_options;
  marker_options.deadline = start + absl::Milliseconds(5);
  auto marker = queue->OpenJob(std::move(marker_options));
  ASSERT_TRUE(marker.ok());
  clock_.BlockUntilWaiterWithDeadline(start + absl::Milliseconds(5));
  EXPECT_EQ(queue->queued_items(), 8);

  c->Cancel();
  clock_.Advance(absl::Milliseconds(10));  // d's deadline passes
  log_c.WaitFor(1);
  model_.ReleaseAll();
  log_d.WaitFor(1);
  log_b.WaitFor(1);
  queue->Drain();
  auto calls = model_.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1].batch_size, 2);
  EXPECT_THAT(calls[1].first_bytes, ::testing::Each(2));
  EXPECT_TRUE(OutputsMatch(log_b.results()[0], 2, 2, 2, {0, 1}, kStyles));
  EXPECT_EQ(log_c.results()[0].status.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(log_d.results()[0].status.code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(queue->queued_items(), 0);
  EXPECT_EQ(queue->queued_bytes(), 0);
}

TEST_F(AdmissionTest, NothingNewIsAdmittedForACancelledOrExpiredJob) {
  auto queue = MakeQueue();
  ResultLog log_c, log_d;
  auto c = Open(*queue, &log_c);
  JobOptions d_options;
  d_options.deadline = clock_.Now() + absl::Milliseconds(10);
  auto d = Open(*queue, &log_d, d_options);
  c->Cancel();
  clock_.Advance(absl::Milliseconds(10));
  FrameRequest c1 = MakeRequest(2, 2, 3, {0, 1, 2, 3}, kStyles, 1);
  EXPECT_EQ(c->TrySubmit(&c1).code(), absl::StatusCode::kCancelled);
  FrameRequest d1 = MakeRequest(2, 2, 4, {0, 1, 2, 3}, kStyles, 1);
  ASSERT_TRUE(d->TrySubmit(&d1).ok());
  log_d.WaitFor(1);
  EXPECT_EQ(log_d.results()[0].status.code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(queue->queued_items(), 0);
  queue->Drain();
  EXPECT_EQ(model_.calls_started(), 0);
}

// A job allowed one frame in flight, its first frame held on the device and
// a thread's Submit of its second blocked behind it (given 20 ms to block).
class BlockedSubmitTest : public AdmissionTest {
 protected:
  void SetUp() override {
    options_.max_frames_in_flight_per_job = 1;
    queue_ = MakeQueue();
    model_.Hold();
    job_ = Open(*queue_, &log_);
    FrameRequest first = MakeRequest(2, 2, 1, {0}, kStyles, 1);
    ASSERT_TRUE(job_->Submit(&first).ok());
    submitter_ = std::thread([&] { status_ = job_->Submit(&second_); });
    absl::SleepFor(absl::Milliseconds(20));
  }

  // A test that failed before it joined the submitter: wake it first.
  void TearDown() override {
    if (!submitter_.joinable()) return;
    job_->Cancel();
    submitter_.join();
    model_.ReleaseAll();
  }

  std::unique_ptr<JobQueue> queue_;
  ResultLog log_;
  std::unique_ptr<Job> job_;
  FrameRequest second_ = MakeRequest(2, 2, 2, {0}, kStyles, 2);
  absl::Status status_;
  std::thread submitter_;
};

TEST_F(BlockedSubmitTest, CancelWakesABlockedSubmit) {
  job_->Cancel();
  submitter_.join();
  EXPECT_EQ(status_.code(), absl::StatusCode::kCancelled);
  EXPECT_NE(second_.frame, nullptr);
  model_.ReleaseAll();
}

TEST_F(AdmissionTest, DestroyingAJobDiscardsItsResults) {
  auto queue = MakeQueue();
  model_.Hold();
  ResultLog log;
  auto job = Open(*queue, &log);
  for (int i = 0; i < 5; ++i) {
    FrameRequest request = MakeRequest(2, 2, i, {0}, kStyles, i);
    ASSERT_TRUE(job->TrySubmit(&request).ok());
  }
  model_.WaitForCalls(1);
  job.reset();
  EXPECT_EQ(queue->queued_items(), 4);  // only the running batch
  model_.ReleaseAll();
  queue->Drain();
  EXPECT_EQ(log.size(), 0u);
  EXPECT_EQ(queue->queued_items(), 0);
}

TEST_F(AdmissionTest, AJobMayBeDestroyedFromItsOwnCallback) {
  auto queue = MakeQueue();
  std::unique_ptr<Job> job;
  std::atomic<int> calls{0};
  absl::Notification first;
  JobOptions options;
  options.on_result = [&](FrameResult result) {
    if (calls++ == 0) {
      job.reset();
      first.Notify();
    }
  };
  auto opened = queue->OpenJob(std::move(options));
  ASSERT_TRUE(opened.ok());
  job = *std::move(opened);
  model_.Hold();  // no result before the test thread is done with `job`
  for (int i = 0; i < 8; ++i) {
    FrameRequest request = MakeRequest(2, 2, i, {0}, kStyles, i);
    ASSERT_TRUE(job->TrySubmit(&request).ok());
  }
  model_.ReleaseAll();
  first.WaitForNotification();
  queue->Drain();
  EXPECT_GE(calls, 1);
}

TEST_F(AdmissionTest, ItemsPastTheDeadlineAreDroppedUncomputed) {
  options_.batch_timeout = absl::Milliseconds(20);
  options_.max_batch_size = 8;
  auto queue = MakeQueue();
  ResultLog log;
  JobOptions job_options;
  job_options.deadline = clock_.Now() + absl::Milliseconds(10);
  auto job = Open(*queue, &log, job_options);
  ResultLog other_log;
  auto other = Open(*queue, &other_log);
  for (int i = 0; i < 2; ++i) {
    FrameRequest request = MakeRequest(2, 2, i, {0, 1}, kStyles, i);
    ASSERT_TRUE(job->TrySubmit(&request).ok());
  }
  FrameRequest unrelated = MakeRequest(2, 2, 5, {0}, kStyles, 5);
  ASSERT_TRUE(other->TrySubmit(&unrelated).ok());
  clock_.BlockUntilWaiterWithDeadline(job_options.deadline);
  clock_.Advance(absl::Milliseconds(10));
  log.WaitFor(2);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(log.results()[i].status.code(),
              absl::StatusCode::kDeadlineExceeded);
  }
  EXPECT_EQ(model_.calls_started(), 0);
  EXPECT_EQ(queue->queued_items(), 1);
  // A frame submitted after the deadline fails the same way.
  FrameRequest late = MakeRequest(2, 2, 3, {0}, kStyles, 3);
  ASSERT_TRUE(job->TrySubmit(&late).ok());
  log.WaitFor(3);
  EXPECT_EQ(log.results()[2].status.code(),
            absl::StatusCode::kDeadlineExceeded);
  // The other job is unaffected.
  clock_.Advance(absl::Milliseconds(10));
  other_log.WaitFor(1);
  EXPECT_TRUE(OutputsMatch(other_log.results()[0], 2, 2, 5, {0}, kStyles));
}

TEST_F(AdmissionTest, DrainFinishesQueuedWorkAndStopsAdmission) {
  auto queue = MakeQueue();
  ResultLog log;
  auto job = Open(*queue, &log);
  for (int i = 0; i < 3; ++i) {
    FrameRequest request = MakeRequest(2, 2, i, {i}, kStyles, i);
    ASSERT_TRUE(job->TrySubmit(&request).ok());
  }
  // The batch is not full and the clock never moves: Drain closes it.
  queue->Drain();
  ASSERT_EQ(log.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(OutputsMatch(log.results()[i], 2, 2, i, {i}, kStyles));
  }
  FrameRequest late = MakeRequest(2, 2, 9, {0}, kStyles, 9);
  EXPECT_EQ(job->TrySubmit(&late).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(job->Submit(&late).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(queue->OpenJob({}).status().code(), absl::StatusCode::kUnavailable);
  queue->Drain();  // again: nothing to do
}

TEST_F(BlockedSubmitTest, DrainReleasesBlockedSubmitters) {
  absl::Notification room;
  job_->NotifyWhenRoom([&] { room.Notify(); });
  std::thread drainer([&] { queue_->Drain(); });
  submitter_.join();
  EXPECT_EQ(status_.code(), absl::StatusCode::kUnavailable);
  room.WaitForNotification();
  model_.ReleaseAll();
  drainer.join();
  EXPECT_TRUE(OutputsMatch(log_.results()[0], 2, 2, 1, {0}, kStyles));
}

TEST_F(AdmissionTest, DestructorAbortsWithCancelledAndJoins) {
  auto queue = MakeQueue();
  model_.Hold();
  ResultLog log;
  auto job = Open(*queue, &log);
  for (int i = 0; i < 6; ++i) {
    FrameRequest request = MakeRequest(2, 2, i, {0}, kStyles, i);
    ASSERT_TRUE(job->TrySubmit(&request).ok());
  }
  model_.WaitForCalls(1);
  std::thread destroyer([&] { queue.reset(); });
  log.WaitFor(6);  // delivered while the device call still runs
  model_.ReleaseAll();
  destroyer.join();
  ASSERT_EQ(log.size(), 6u);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(log.results()[i].sequence, static_cast<uint64_t>(i));
    EXPECT_EQ(log.results()[i].status.code(), absl::StatusCode::kCancelled);
  }
  // The job outlives the queue: it answers UNAVAILABLE and never calls back.
  FrameRequest late = MakeRequest(2, 2, 9, {0}, kStyles, 9);
  EXPECT_EQ(job->TrySubmit(&late).code(), absl::StatusCode::kUnavailable);
  job->Cancel();
  job.reset();
  EXPECT_EQ(log.size(), 6u);
}

}  // namespace
}  // namespace stylizer
