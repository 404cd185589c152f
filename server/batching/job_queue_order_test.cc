// Unit tests of fairness (round robin across jobs, images beside a movie
// backlog), the order results arrive in, and their delivery. Fake clock, fake
// model (job_queue_fixture.h).
#include <memory>
#include <vector>

#include "absl/status/status.h"
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

using ::stylizer::testing::FakeClock;
using ::stylizer::testing::FakeModel;
using ::stylizer::testing::JobQueueTest;
using ::stylizer::testing::kStyles;
using ::stylizer::testing::MakeRequest;
using ::stylizer::testing::OutputsMatch;
using ::stylizer::testing::ResultLog;
using ::testing::HasSubstr;

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

}  // namespace
}  // namespace stylizer
