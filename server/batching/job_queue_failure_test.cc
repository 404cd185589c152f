// Unit tests of device failures (errors, out-of-memory halving, models that
// throw), the thread results arrive on, and what the queue's observer sees.
// Fake clock, fake model (job_queue_fixture.h).
#include <algorithm>
#include <functional>
#include <map>
#include <new>
#include <stdexcept>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/batching/job_queue.h"
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

// A movie at its deadline (its pipeline cancels its job then): the items of a
// batch formed before it passed, and waiting for the device, are dropped as
// the deadline too. They were counted
// CANCELLED, about half of a movie's drops, as if its caller had given up.
TEST_F(JobQueueTest, AFormedBatchDroppedAtTheDeadlineCountsAsTheDeadline) {
  CountingObserver observer;
  auto queue = MakeQueue(BaseOptions(), &observer);
  model_.Hold();
  const absl::Time start = clock_.Now();
  ResultLog log;
  JobOptions options;
  options.on_result = log.on_result();
  options.deadline = start + absl::Milliseconds(10);
  auto job = queue->OpenJob(std::move(options));
  ASSERT_TRUE(job.ok()) << job.status();
  for (int i = 0; i < 2; ++i) {
    FrameRequest request = MakeRequest(2, 2, i, {0, 1, 2, 3}, kStyles, i);
    ASSERT_TRUE((*job)->TrySubmit(&request).ok());
  }
  model_.WaitForCalls(1);  // frame 0's batch is on the device
  // Frame 1's batch is formed once the batcher waits with the deadline of a
  // job opened after the frames, the earliest there is.
  JobOptions marker_options;
  marker_options.deadline = start + absl::Milliseconds(5);
  auto marker = queue->OpenJob(std::move(marker_options));
  ASSERT_TRUE(marker.ok()) << marker.status();
  clock_.BlockUntilWaiterWithDeadline(start + absl::Milliseconds(5));
  clock_.Advance(absl::Milliseconds(10));  // the movie's deadline passes
  (*job)->Cancel();  // as the movie's pipeline does when it sees it
  log.WaitFor(2);
  model_.ReleaseAll();
  queue->Drain();
  for (const FrameResult& result : log.results()) {
    EXPECT_EQ(result.status.code(), absl::StatusCode::kDeadlineExceeded);
  }
  absl::MutexLock lock(&observer.mu_);
  EXPECT_EQ(observer.dropped_[absl::StatusCode::kCancelled], 0);
  EXPECT_GE(observer.dropped_[absl::StatusCode::kDeadlineExceeded], 4);
}

// A formed batch that mixes a live job's items with those of a job its
// caller cancelled and a job whose deadline passed: each dropped item counts
// its own reason (the batch's one reason was given to both).
TEST_F(JobQueueTest, DroppedItemsOfAMixedBatchCountTheirOwnReasons) {
  CountingObserver observer;
  auto queue = MakeQueue(BaseOptions(), &observer);
  model_.Hold();
  const absl::Time start = clock_.Now();
  ResultLog log_a, log_b, log_c, log_d;
  auto a = Open(*queue, &log_a);
  auto b = Open(*queue, &log_b);
  auto c = Open(*queue, &log_c);
  JobOptions d_options;
  d_options.on_result = log_d.on_result();
  d_options.deadline = start + absl::Milliseconds(10);
  auto d = queue->OpenJob(std::move(d_options));
  ASSERT_TRUE(d.ok()) << d.status();
  FrameRequest a1 = MakeRequest(2, 2, 1, {0, 1, 2, 3}, kStyles, 1);
  ASSERT_TRUE(a->TrySubmit(&a1).ok());
  model_.WaitForCalls(1);  // a's batch is on the device
  FrameRequest b1 = MakeRequest(2, 2, 2, {0, 1}, kStyles, 1);
  ASSERT_TRUE(b->TrySubmit(&b1).ok());
  FrameRequest c1 = MakeRequest(2, 2, 3, {0}, kStyles, 1);
  ASSERT_TRUE(c->TrySubmit(&c1).ok());
  FrameRequest d1 = MakeRequest(2, 2, 4, {0}, kStyles, 1);
  ASSERT_TRUE((*d)->TrySubmit(&d1).ok());
  // The full batch of b, c and d is formed once the batcher waits with the
  // deadline of a job opened after the frames, the earliest there is.
  JobOptions marker_options;
  marker_options.deadline = start + absl::Milliseconds(5);
  auto marker = queue->OpenJob(std::move(marker_options));
  ASSERT_TRUE(marker.ok()) << marker.status();
  clock_.BlockUntilWaiterWithDeadline(start + absl::Milliseconds(5));
  c->Cancel();
  clock_.Advance(absl::Milliseconds(10));  // d's deadline passes
  log_c.WaitFor(1);
  model_.ReleaseAll();
  log_d.WaitFor(1);
  log_b.WaitFor(1);
  queue->Drain();
  absl::MutexLock lock(&observer.mu_);
  EXPECT_EQ(observer.dropped_[absl::StatusCode::kCancelled], 1);
  EXPECT_EQ(observer.dropped_[absl::StatusCode::kDeadlineExceeded], 1);
}

}  // namespace
}  // namespace stylizer
