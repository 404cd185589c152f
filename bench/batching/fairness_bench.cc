// Benchmark of the job queue's fairness (docs/batching.md, "The fairness
// rule"): one movie (24x16 frames in 2 styles, up to 8 frames in flight)
// beside N image callers of another size (32x24, one style), each of which
// opens a job, submits one image, waits for its result and closes the job,
// over and over. The fake device costs 1 ms + 0.1 ms per item (real sleeps).
//
// Reported over three runs of about one second of wall time each:
//   movie_frames: movie frames delivered (0 = starved);
//   movie_wait_ms / movie_wait_max_ms: mean and longest queue wait of a
//     movie frame (admission to its batch), the latency to its next batch;
//   images: image calls answered.
#include <algorithm>
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "server/batching/job_queue.h"
#include "server/batching/job_queue_options.h"
#include "server/batching/testing/fake_model.h"
#include "server/batching/testing/test_util.h"

namespace stylizer {
namespace {

using ::stylizer::testing::FakeModel;
using ::stylizer::testing::MakeRequest;

constexpr int kStyles = 4;

// One image call after another until `stop`.
void ImageCaller(JobQueue* queue, const std::atomic<bool>* stop,
                 std::atomic<int64_t>* answered) {
  while (!stop->load()) {
    absl::Notification done;
    JobOptions options;
    options.on_result = [&done](FrameResult) { done.Notify(); };
    auto job = queue->OpenJob(std::move(options));
    if (!job.ok()) return;
    FrameRequest request = MakeRequest(32, 24, 7, {1}, kStyles, 0);
    if (!(*job)->Submit(&request).ok()) return;
    // Bounded, so that a starved queue still ends the run.
    if (done.WaitForNotificationWithTimeout(absl::Seconds(5))) ++*answered;
  }
}

// arg: image callers.
void BM_MovieBesideImageCallers(benchmark::State& state) {
  const int callers = static_cast<int>(state.range(0));
  FakeModel model(kStyles);
  model.SetCost(absl::Milliseconds(1), absl::Microseconds(100));
  JobQueue::Options options;  // the server's defaults: batches of 8, 5 ms
  auto queue = *JobQueue::Create(options, &model, nullptr);
  absl::Mutex mu;
  int64_t frames = 0;
  absl::Duration wait_sum, wait_max;
  JobOptions movie_options;
  movie_options.max_frames_in_flight = 8;
  movie_options.on_result = [&](FrameResult result) {
    if (!result.status.ok()) return;  // cancelled at the end of the run
    absl::MutexLock lock(&mu);
    ++frames;
    wait_sum += result.queue_wait;
    wait_max = std::max(wait_max, result.queue_wait);
  };
  auto movie = *queue->OpenJob(std::move(movie_options));

  std::atomic<bool> stop{false};
  std::atomic<int64_t> images{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < callers; ++i) {
    threads.emplace_back(ImageCaller, queue.get(), &stop, &images);
  }
  uint64_t sequence = 0;
  for (auto _ : state) {
    const absl::Time end = absl::Now() + absl::Seconds(1);
    while (absl::Now() < end) {
      FrameRequest request =
          MakeRequest(24, 16, 3, {0, 2}, kStyles, ++sequence);
      // Waits for room in the movie's window of 8 frames (a decoder thread).
      if (!movie->Submit(&request).ok()) break;
    }
  }
  stop = true;
  for (std::thread& t : threads) t.join();
  movie->Cancel();
  queue->Drain();
  absl::MutexLock lock(&mu);
  state.counters["movie_frames"] = static_cast<double>(frames);
  state.counters["movie_wait_ms"] =
      frames > 0 ? absl::ToDoubleMilliseconds(wait_sum) / frames : 0;
  state.counters["movie_wait_max_ms"] = absl::ToDoubleMilliseconds(wait_max);
  state.counters["images"] = static_cast<double>(images.load());
}
BENCHMARK(BM_MovieBesideImageCallers)
    ->Arg(0)
    ->Arg(8)
    ->Arg(24)
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace stylizer

BENCHMARK_MAIN();
