// Tests of ServiceContext's hold on the job queue: jobs open through it until
// the server releases the queue to destroy it, then get UNAVAILABLE.
#include "server/service/service_context.h"

#include <memory>
#include <utility>

#include "gtest/gtest.h"
#include "server/service/work_pool.h"

namespace stylizer {
namespace {

// A queue that only counts the jobs it was asked to open.
class CountingQueue : public JobQueue {
 public:
  absl::StatusOr<std::unique_ptr<Job>> OpenJob(JobOptions) override {
    ++opened;
    return absl::UnavailableError("counted");
  }
  void Drain() override {}
  int64_t queued_items() const override { return 0; }
  int opened = 0;
};

TEST(ServiceContextTest, OpensJobsUntilTheQueueIsReleased) {
  WorkPool pool(1);
  ServiceContext context(ServiceLimits(), &pool, nullptr, nullptr);
  EXPECT_EQ(context.OpenJob(JobOptions()).status().message(),
            "the server is shutting down");  // not serving yet
  ModelDescription model;
  auto queue = std::make_unique<CountingQueue>();
  context.SetServing(&model, queue.get(), 4);
  EXPECT_EQ(context.OpenJob(JobOptions()).status().message(), "counted");
  EXPECT_EQ(queue->opened, 1);

  context.ReleaseQueue();
  queue.reset();  // what the server does next
  const absl::Status late = context.OpenJob(JobOptions()).status();
  EXPECT_TRUE(absl::IsUnavailable(late)) << late;
  EXPECT_EQ(late.message(), "the server is shutting down");
}

}  // namespace
}  // namespace stylizer
