// Stress test of the job queue: many producer threads open jobs with random
// frame sizes, style counts, admission styles (blocking Submit, or TrySubmit
// and NotifyWhenRoom like a streaming reactor), deadlines, cancels and early
// destruction; every result is checked for loss, duplication, order and
// content. Also run under ThreadSanitizer (scripts/test.d/20-tsan-batching.sh).
#include <atomic>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/batching/job_queue.h"
#include "server/batching/job_queue_options.h"
#include "server/batching/testing/fake_model.h"
#include "server/batching/testing/test_util.h"

namespace stylizer {
namespace {

using ::stylizer::testing::FakeModel;
using ::stylizer::testing::MakeRequest;
using ::stylizer::testing::OutputsMatch;

constexpr int kStyles = 3;
constexpr int kShapes[][2] = {{4, 4}, {6, 2}, {2, 6}, {8, 4}};

// What was submitted, and the checks applied to each result as it arrives.
class JobChecker {
 public:
  struct Sent {
    int width, height;
    uint8_t tag;
    std::vector<int> styles;
  };

  JobChecker(std::string name, bool may_cancel, bool may_expire)
      : name_(std::move(name)),
        may_cancel_(may_cancel),
        may_expire_(may_expire) {}

  void Record(const Sent& sent) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    sent_.push_back(sent);
  }

  // Takes back the last Record (its frame was not admitted).
  void Forget() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    sent_.pop_back();
  }

  std::function<void(FrameResult)> on_result() {
    return [this](FrameResult result) { Check(std::move(result)); };
  }

  void WaitForAll() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    auto all = [this]() {
      mu_.AssertReaderHeld();
      return received_ >= sent_.size();
    };
    mu_.Await(absl::Condition(&all));
  }

  std::vector<std::string> errors() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return errors_;
  }
  size_t received() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return received_;
  }

 private:
  void Check(FrameResult result) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    const size_t index = received_++;
    if (index >= sent_.size()) {
      errors_.push_back(absl::StrCat(name_, ": extra result ", index));
      return;
    }
    if (result.sequence != index) {
      errors_.push_back(absl::StrCat(name_, ": result ", index,
                                     " has sequence ", result.sequence));
      return;
    }
    const Sent& sent = sent_[index];
    switch (result.status.code()) {
      case absl::StatusCode::kOk:
        if (!OutputsMatch(result, sent.width, sent.height, sent.tag,
                          sent.styles, kStyles)) {
          errors_.push_back(absl::StrCat(name_, ": wrong outputs ", index));
        }
        break;
      case absl::StatusCode::kCancelled:
        if (!may_cancel_) {
          errors_.push_back(absl::StrCat(name_, ": cancelled ", index));
        }
        break;
      case absl::StatusCode::kDeadlineExceeded:
        if (!may_expire_) {
          errors_.push_back(absl::StrCat(name_, ": expired ", index));
        }
        break;
      default:
        errors_.push_back(absl::StrCat(name_, ": ", index, " failed with ",
                                       result.status.ToString()));
    }
  }

  const std::string name_;
  const bool may_cancel_;
  const bool may_expire_;
  absl::Mutex mu_;
  std::vector<Sent> sent_ ABSL_GUARDED_BY(mu_);
  size_t received_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> errors_ ABSL_GUARDED_BY(mu_);
};

// Submits like a streaming reactor: TrySubmit, and on RESOURCE_EXHAUSTED
// waits for NotifyWhenRoom before trying again.
absl::Status SubmitLikeAReactor(Job& job, FrameRequest* request) {
  while (true) {
    absl::Status status = job.TrySubmit(request);
    if (status.code() != absl::StatusCode::kResourceExhausted) return status;
    auto room = std::make_shared<absl::Notification>();
    job.NotifyWhenRoom([room] { room->Notify(); });
    room->WaitForNotification();
  }
}

// One producer thread: `jobs` jobs in turn, each of random length.
void Produce(JobQueue& queue, int thread_index, int jobs,
             std::atomic<int>* errors, std::atomic<int>* frames_sent) {
  std::mt19937 rng(1234 + thread_index);
  auto chance = [&](int percent) {
    return std::uniform_int_distribution<int>(0, 99)(rng) < percent;
  };
  for (int j = 0; j < jobs; ++j) {
    const bool cancel = chance(15);
    const bool destroy_early = chance(5);
    const bool expire = chance(10);
    const bool reactor = chance(50);
    const int frames = std::uniform_int_distribution<int>(1, 30)(rng);
    const int cancel_at = std::uniform_int_distribution<int>(0, frames)(rng);
    auto checker = std::make_unique<JobChecker>(
        absl::StrCat("thread ", thread_index, " job ", j),
        cancel || destroy_early, expire);
    JobOptions options;
    options.name = absl::StrCat("t", thread_index, "j", j);
    options.on_result = checker->on_result();
    options.max_frames_in_flight =
        std::uniform_int_distribution<int>(1, 8)(rng);
    if (expire) {
      options.deadline =
          absl::Now() +
          absl::Microseconds(std::uniform_int_distribution<int>(0, 3000)(rng));
    }
    auto opened = queue.OpenJob(std::move(options));
    ASSERT_TRUE(opened.ok()) << opened.status();
    std::unique_ptr<Job> job = *std::move(opened);
    const auto& shape = kShapes[std::uniform_int_distribution<int>(0, 3)(rng)];
    for (int f = 0; f < frames; ++f) {
      if (cancel && f == cancel_at) job->Cancel();
      JobChecker::Sent sent;
      // Mostly one size per job, like a movie; sometimes a change.
      const auto& s =
          chance(10) ? kShapes[std::uniform_int_distribution<int>(0, 3)(rng)]
                     : shape;
      sent.width = s[0];
      sent.height = s[1];
      sent.tag = static_cast<uint8_t>(rng());
      const int rows = std::uniform_int_distribution<int>(1, 3)(rng);
      for (int r = 0; r < rows; ++r) {
        sent.styles.push_back(
            std::uniform_int_distribution<int>(0, kStyles - 1)(rng));
      }
      FrameRequest request = MakeRequest(sent.width, sent.height, sent.tag,
                                         sent.styles, kStyles, f);
      checker->Record(sent);
      absl::Status status =
          reactor ? SubmitLikeAReactor(*job, &request) : job->Submit(&request);
      if (!status.ok()) {
        // Only a cancelled job refuses, and then every later frame too.
        if (!(cancel && f >= cancel_at &&
              status.code() == absl::StatusCode::kCancelled)) {
          ADD_FAILURE() << "submit failed: " << status;
          ++*errors;
        }
        checker->Forget();  // not admitted: no result will come
        break;
      }
      ++*frames_sent;
    }
    if (destroy_early) {
      job.reset();  // discards whatever has not arrived yet
    } else {
      checker->WaitForAll();
    }
    job.reset();
    for (const std::string& error : checker->errors()) {
      ADD_FAILURE() << error;
      ++*errors;
    }
  }
}

struct StressConfig {
  int max_batch_size;
  absl::Duration batch_timeout;
  int workers;
  bool two_models;
};

class JobQueueStressTest : public ::testing::TestWithParam<StressConfig> {};

TEST_P(JobQueueStressTest, NoResultLostDuplicatedOrMisordered) {
  const StressConfig& config = GetParam();
  FakeModel first(kStyles);
  FakeModel second(kStyles);
  first.SetCost(absl::Microseconds(50), absl::Microseconds(10));
  second.SetCost(absl::Microseconds(50), absl::Microseconds(10));
  JobQueue::Options options;
  options.max_batch_size = config.max_batch_size;
  options.batch_timeout = config.batch_timeout;
  options.workers = config.workers;
  options.max_queued_items = 48;
  options.max_queued_bytes = 48 * 8 * 4 * 3;
  std::vector<StyleModel*> models = {&first};
  if (config.two_models) models.push_back(&second);
  auto created = JobQueue::Create(options, models, nullptr);
  ASSERT_TRUE(created.ok()) << created.status();
  std::unique_ptr<JobQueue> queue = *std::move(created);

  std::atomic<int> errors{0};
  std::atomic<int> frames_sent{0};
  std::vector<std::thread> producers;
  for (int t = 0; t < 6; ++t) {
    producers.emplace_back(
        [&, t] { Produce(*queue, t, 25, &errors, &frames_sent); });
  }
  for (std::thread& producer : producers) producer.join();
  queue->Drain();
  EXPECT_EQ(queue->queued_items(), 0);
  EXPECT_EQ(queue->queued_bytes(), 0);
  EXPECT_EQ(errors, 0);
  EXPECT_GT(frames_sent, 1000);
  ::testing::Test::RecordProperty("frames", frames_sent.load());
  EXPECT_EQ(first.max_concurrent_calls(), 1);
  EXPECT_EQ(second.max_concurrent_calls(), config.two_models ? 1 : 0);
}

INSTANTIATE_TEST_SUITE_P(
    Configs, JobQueueStressTest,
    ::testing::Values(
        // Two devices, batches that mostly close on size.
        StressConfig{4, absl::Microseconds(300), 1, true},
        // One device, three workers on it, every batch sent at once.
        StressConfig{2, absl::ZeroDuration(), 3, false},
        // Large batches that mostly close on the timeout.
        StressConfig{16, absl::Milliseconds(1), 1, false}),
    [](const ::testing::TestParamInfo<StressConfig>& info) {
      const StressConfig& c = info.param;
      return absl::StrCat("batch", c.max_batch_size, "_timeout",
                          absl::ToInt64Microseconds(c.batch_timeout), "us_",
                          c.workers, "workers_", c.two_models ? 2 : 1,
                          "models");
    });

TEST(JobQueueAbortStressTest,
     DestroyingTheQueueUnderLoadDeliversEveryFrameOnce) {
  FakeModel model(kStyles);
  model.SetCost(absl::Microseconds(100), absl::Microseconds(10));
  JobQueue::Options options;
  options.max_batch_size = 4;
  options.batch_timeout = absl::Microseconds(200);
  options.max_queued_items = 32;
  options.workers = 2;
  auto created = JobQueue::Create(options, &model, nullptr);
  ASSERT_TRUE(created.ok());
  std::unique_ptr<JobQueue> queue = *std::move(created);

  struct Producer {
    std::unique_ptr<Job> job;
    absl::Mutex mu;
    std::vector<uint64_t> sequences ABSL_GUARDED_BY(mu);
    std::vector<absl::StatusCode> codes ABSL_GUARDED_BY(mu);
    int admitted = 0;
  };
  std::vector<std::unique_ptr<Producer>> producers(4);
  for (auto& p : producers) {
    p = std::make_unique<Producer>();
    JobOptions job_options;
    Producer* raw = p.get();
    job_options.on_result = [raw](FrameResult result) {
      absl::MutexLock lock(&raw->mu);
      raw->sequences.push_back(result.sequence);
      raw->codes.push_back(result.status.code());
    };
    auto job = queue->OpenJob(std::move(job_options));
    ASSERT_TRUE(job.ok());
    p->job = *std::move(job);
  }
  std::atomic<int> started{0};
  std::vector<std::thread> threads;
  for (auto& p : producers) {
    Producer* raw = p.get();
    threads.emplace_back([raw, &started] {
      for (int f = 0;; ++f) {
        FrameRequest request = MakeRequest(4, 4, f, {f % kStyles}, kStyles, f);
        absl::Status status = raw->job->Submit(&request);
        if (!status.ok()) {
          EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
          return;
        }
        ++raw->admitted;
        if (f == 20) ++started;
      }
    });
  }
  while (started < 4) absl::SleepFor(absl::Milliseconds(1));
  queue.reset();
  for (std::thread& thread : threads) thread.join();
  for (auto& p : producers) {
    absl::MutexLock lock(&p->mu);
    ASSERT_EQ(p->sequences.size(), static_cast<size_t>(p->admitted));
    for (size_t i = 0; i < p->sequences.size(); ++i) {
      EXPECT_EQ(p->sequences[i], i);
      EXPECT_TRUE(p->codes[i] == absl::StatusCode::kOk ||
                  p->codes[i] == absl::StatusCode::kCancelled)
          << p->codes[i];
    }
    p->job.reset();
  }
}

}  // namespace
}  // namespace stylizer
