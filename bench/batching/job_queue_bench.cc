// Benchmarks of the job queue (see docs/performance.md, "Job queue").
//
// BM_Overhead: host-side cost per item with a model that does nothing
//   (tiny frames, outputs not written): admission, batching, input assembly,
//   output copy, in-order delivery. Reported as wall and CPU microseconds
//   per item.
// BM_Utilisation: a fake device whose batch costs a + b x batch_size (real
//   sleeps), fed by different kinds of callers; reports device_busy (time
//   inside Stylize / wall time), nominal_busy (requested cost / wall time)
//   and ideal_over_actual (every item in a full batch, back to back, at the
//   requested cost / wall time).
// BM_HandOff: the floor under BM_Overhead at batch size 1: two threads
//   passing a token back and forth through an absl::Mutex and Await, the
//   way the queue's threads hand an item on. Reported as wall and CPU
//   microseconds per hand-off (one item crosses about four: submitter, host,
//   device, delivery).
#include <cmath>
#include <ctime>
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
using ::stylizer::testing::OneHot;
using ::stylizer::testing::TaggedFrame;

constexpr int kStyles = 8;

double ProcessCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// Counts results and lets a thread wait for a total.
class Counter {
 public:
  void Add(int64_t n) {
    absl::MutexLock lock(&mu_);
    count_ += n;
  }
  void WaitFor(int64_t n) {
    absl::MutexLock lock(&mu_);
    auto reached = [this, n]() {
      mu_.AssertReaderHeld();
      return count_ >= n;
    };
    mu_.Await(absl::Condition(&reached));
  }

 private:
  absl::Mutex mu_;
  int64_t count_ ABSL_GUARDED_BY(mu_) = 0;
};

// args: max_batch_size, styles per frame, producer threads.
void BM_Overhead(benchmark::State& state) {
  const int max_batch = static_cast<int>(state.range(0));
  const int styles = static_cast<int>(state.range(1));
  const int producers = static_cast<int>(state.range(2));
  FakeModel model(kStyles);
  model.set_compute_outputs(false);
  JobQueue::Options options;
  options.max_batch_size = max_batch;
  options.batch_timeout = absl::Milliseconds(1);
  options.max_queued_items = 4096;
  options.max_frames_in_flight_per_job = 256;
  std::unique_ptr<JobQueue> queue = *JobQueue::Create(options, &model, nullptr);
  constexpr int kFramesPerProducer = 4000;
  const int64_t items = int64_t{kFramesPerProducer} * styles * producers;
  double wall = 0, cpu = 0;
  for (auto _ : state) {
    Counter done;
    std::vector<std::unique_ptr<Job>> jobs;
    const double cpu0 = ProcessCpuSeconds();
    const absl::Time t0 = absl::Now();
    std::vector<std::thread> threads;
    for (int p = 0; p < producers; ++p) {
      JobOptions job_options;
      job_options.on_result = [&done, styles](FrameResult) {
        done.Add(styles);
      };
      jobs.push_back(*queue->OpenJob(std::move(job_options)));
    }
    for (int p = 0; p < producers; ++p) {
      threads.emplace_back([&, p] {
        auto frame = TaggedFrame(8, 8, static_cast<uint8_t>(p));
        std::vector<std::vector<float>> rows;
        for (int s = 0; s < styles; ++s)
          rows.push_back(OneHot(kStyles, s % kStyles));
        for (int f = 0; f < kFramesPerProducer; ++f) {
          FrameRequest request;
          request.frame = frame;
          request.style_weights = rows;
          request.sequence = f;
          if (!jobs[p]->Submit(&request).ok()) std::abort();
        }
      });
    }
    for (std::thread& t : threads) t.join();
    done.WaitFor(items);
    wall += absl::ToDoubleSeconds(absl::Now() - t0);
    cpu += ProcessCpuSeconds() - cpu0;
    jobs.clear();
  }
  const double n = static_cast<double>(items) * state.iterations();
  state.counters["wall_us_per_item"] = wall / n * 1e6;
  state.counters["cpu_us_per_item"] = cpu / n * 1e6;
  state.counters["batches"] = model.calls_started() / state.iterations();
  state.SetItemsProcessed(static_cast<int64_t>(n));
}
BENCHMARK(BM_Overhead)
    ->ArgNames({"max_batch", "styles", "producers"})
    ->Args({1, 1, 1})
    ->Args({8, 1, 1})
    ->Args({8, 8, 1})
    ->Args({8, 1, 4})
    ->Args({32, 8, 4})
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// One token passed between two threads, `hand_offs` times in all.
void BM_HandOff(benchmark::State& state) {
  constexpr int kHandOffs = 20000;
  double wall = 0, cpu = 0;
  for (auto _ : state) {
    absl::Mutex mu;
    int turn = 0;  // the number of hand-offs so far; even: thread A's turn
    auto play = [&](int parity) {
      for (;;) {
        absl::MutexLock lock(&mu);
        auto mine = [&]() {
          mu.AssertReaderHeld();
          return turn >= kHandOffs || turn % 2 == parity;
        };
        mu.Await(absl::Condition(&mine));
        if (turn >= kHandOffs) return;
        ++turn;
      }
    };
    const double cpu0 = ProcessCpuSeconds();
    const absl::Time t0 = absl::Now();
    std::thread other(play, 1);
    play(0);
    other.join();
    wall += absl::ToDoubleSeconds(absl::Now() - t0);
    cpu += ProcessCpuSeconds() - cpu0;
  }
  const double n = static_cast<double>(kHandOffs) * state.iterations();
  state.counters["wall_us_per_hand_off"] = wall / n * 1e6;
  state.counters["cpu_us_per_hand_off"] = cpu / n * 1e6;
}
BENCHMARK(BM_HandOff)->Iterations(3)->Unit(benchmark::kMillisecond)->UseRealTime();

// args: scenario (0 = one movie of 200 frames x 8 styles through Submit;
// 1 = four streams of 400 frames x 1 style; 2 = 16 unary callers, each
// sending 100 images one after another through TrySubmit), base cost a (us),
// per-item cost b (us).
void BM_Utilisation(benchmark::State& state) {
  const int scenario = static_cast<int>(state.range(0));
  const absl::Duration a = absl::Microseconds(state.range(1));
  const absl::Duration b = absl::Microseconds(state.range(2));
  constexpr int kMaxBatch = 8;
  FakeModel model(kStyles);
  model.set_compute_outputs(false);
  model.SetCost(a, b);
  JobQueue::Options options;
  options.max_batch_size = kMaxBatch;
  options.batch_timeout = absl::Milliseconds(5);
  std::unique_ptr<JobQueue> queue = *JobQueue::Create(options, &model, nullptr);
  double wall = 0, ideal = 0, busy = 0, nominal = 0;
  int64_t items_total = 0;
  for (auto _ : state) {
    Counter done;
    std::vector<std::thread> threads;
    std::vector<std::unique_ptr<Job>> jobs;
    int64_t items = 0;
    const int calls_before = model.calls_started();
    const absl::Duration busy_before = model.busy_time();
    const absl::Time t0 = absl::Now();
    auto open = [&](int styles) {
      JobOptions job_options;
      job_options.on_result = [&done, styles](FrameResult r) {
        done.Add(styles);
      };
      jobs.push_back(*queue->OpenJob(std::move(job_options)));
      return jobs.back().get();
    };
    auto submit_frames = [](Job* job, int frames, int styles) {
      auto frame = TaggedFrame(16, 16, 1);
      std::vector<std::vector<float>> rows;
      for (int s = 0; s < styles; ++s) rows.push_back(OneHot(kStyles, s));
      for (int f = 0; f < frames; ++f) {
        FrameRequest request;
        request.frame = frame;
        request.style_weights = rows;
        request.sequence = f;
        if (!job->Submit(&request).ok()) std::abort();
      }
    };
    if (scenario == 0) {
      Job* job = open(8);
      items = 200 * 8;
      threads.emplace_back([=] { submit_frames(job, 200, 8); });
    } else if (scenario == 1) {
      for (int j = 0; j < 4; ++j) {
        Job* job = open(1);
        threads.emplace_back([=] { submit_frames(job, 400, 1); });
      }
      items = 4 * 400;
    } else {
      // Unary callers: each sends one image, waits for its result, repeats.
      for (int j = 0; j < 16; ++j) {
        threads.emplace_back([&queue, &done] {
          auto frame = TaggedFrame(16, 16, 1);
          for (int i = 0; i < 100; ++i) {
            absl::Notification result;
            JobOptions job_options;
            job_options.on_result = [&done, &result](FrameResult) {
              done.Add(1);
              result.Notify();
            };
            std::unique_ptr<Job> job = *queue->OpenJob(std::move(job_options));
            FrameRequest request;
            request.frame = frame;
            request.style_weights = {OneHot(kStyles, i % kStyles)};
            while (!job->TrySubmit(&request).ok()) {
              absl::Notification room;
              job->NotifyWhenRoom([&room] { room.Notify(); });
              room.WaitForNotification();
            }
            result.WaitForNotification();
          }
        });
      }
      items = 16 * 100;
    }
    for (std::thread& t : threads) t.join();
    done.WaitFor(items);
    const double w = absl::ToDoubleSeconds(absl::Now() - t0);
    wall += w;
    const int batches = model.calls_started() - calls_before;
    const double full_batches =
        std::ceil(static_cast<double>(items) / kMaxBatch);
    ideal += full_batches * absl::ToDoubleSeconds(a + b * kMaxBatch);
    // Busy time of the device: time inside Stylize (the requested cost plus
    // however late the sleep returned).
    busy += absl::ToDoubleSeconds(model.busy_time() - busy_before);
    nominal +=
        batches * absl::ToDoubleSeconds(a) + items * absl::ToDoubleSeconds(b);
    items_total += items;
    jobs.clear();
  }
  state.counters["device_busy"] = busy / wall;
  state.counters["ideal_over_actual"] = ideal / wall;
  // The same with the device's own lateness (sleep overshoot) removed: how
  // much of the gap is the queue's.
  state.counters["nominal_busy"] = nominal / wall;
  state.counters["mean_batch"] =
      static_cast<double>(items_total) / model.calls_started();
  state.SetItemsProcessed(items_total);
}
BENCHMARK(BM_Utilisation)
    ->ArgNames({"scenario", "a_us", "b_us"})
    ->Args({0, 2000, 500})
    ->Args({1, 2000, 500})
    ->Args({2, 2000, 500})
    ->Args({0, 200, 50})
    ->Args({1, 200, 50})
    ->Args({2, 200, 50})
    ->Iterations(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace stylizer

BENCHMARK_MAIN();
