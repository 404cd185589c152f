// Helpers shared by the job queue's tests and benchmarks: tagged frames,
// one-hot style rows, and a thread-safe log of one job's results.
#ifndef STYLIZER_SERVER_BATCHING_TESTING_TEST_UTIL_H_
#define STYLIZER_SERVER_BATCHING_TESTING_TEST_UTIL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/batching/job_queue.h"

namespace stylizer {
namespace testing {

// A width x height frame whose byte i is (tag + i) mod 256.
std::shared_ptr<const RgbFrame> TaggedFrame(int width, int height, uint8_t tag);

// A row of `num_styles` weights selecting style `style` alone.
std::vector<float> OneHot(int num_styles, int style);

// A FrameRequest of a tagged frame with one one-hot row per style given.
FrameRequest MakeRequest(int width, int height, uint8_t tag,
                         const std::vector<int>& styles, int num_styles,
                         uint64_t sequence);

// Whether `result` holds exactly the FakeModel outputs for the request made
// by MakeRequest(width, height, tag, styles, ...).
bool OutputsMatch(const FrameResult& result, int width, int height, uint8_t tag,
                  const std::vector<int>& styles, int num_styles);

// Collects one job's results; on_result() is its JobOptions::on_result.
class ResultLog {
 public:
  std::function<void(FrameResult)> on_result();
  // Blocks until at least `n` results arrived.
  void WaitFor(size_t n) const ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<FrameResult> results() const ABSL_LOCKS_EXCLUDED(mu_);
  size_t size() const ABSL_LOCKS_EXCLUDED(mu_);
  // Threads that ran on_result.
  std::vector<std::thread::id> threads() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  std::vector<FrameResult> results_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread::id> threads_ ABSL_GUARDED_BY(mu_);
};

}  // namespace testing
}  // namespace stylizer

#endif  // STYLIZER_SERVER_BATCHING_TESTING_TEST_UTIL_H_
