// The fixture of the job queue's unit tests (job_queue_test.cc,
// job_queue_order_test.cc, job_queue_failure_test.cc): a queue on a fake
// clock and a fake model of kStyles styles, and helpers to open jobs and offer
// frames.
#ifndef STYLIZER_SERVER_BATCHING_TESTING_JOB_QUEUE_FIXTURE_H_
#define STYLIZER_SERVER_BATCHING_TESTING_JOB_QUEUE_FIXTURE_H_

#include <memory>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/batching/job_queue.h"
#include "server/batching/job_queue_options.h"
#include "server/batching/testing/fake_clock.h"
#include "server/batching/testing/fake_model.h"
#include "server/batching/testing/test_util.h"

namespace stylizer {
namespace testing {

inline constexpr int kStyles = 4;

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

}  // namespace testing
}  // namespace stylizer

#endif  // STYLIZER_SERVER_BATCHING_TESTING_JOB_QUEUE_FIXTURE_H_
