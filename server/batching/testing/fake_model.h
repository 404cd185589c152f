// A StyleModel for tests and benchmarks of the job queue: a cheap,
// checkable transform instead of a network, with hooks to hold calls, make
// them fail, make them cost time, and see which batches ran.
#ifndef STYLIZER_SERVER_BATCHING_TESTING_FAKE_MODEL_H_
#define STYLIZER_SERVER_BATCHING_TESTING_FAKE_MODEL_H_

#include <cstdint>
#include <deque>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "server/model/style_model.h"

namespace stylizer {
namespace testing {

class FakeModel final : public StyleModel {
 public:
  // What one Stylize call saw.
  struct Call {
    int batch_size = 0;
    int width = 0;
    int height = 0;
    // The first pixel byte of each frame (tests tag frames with it).
    std::vector<uint8_t> first_bytes;
    // The style (index of the largest weight) of each row.
    std::vector<int> styles;
  };

  explicit FakeModel(int num_styles = 4);

  const ModelDescription& description() const override { return desc_; }

  // out = in + 1 + style (mod 256) for every byte, where style is the index
  // of the row's largest weight. Records the call; honours Hold/Fail/cost.
  absl::Status Stylize(const FrameBatch& batch) override
      ABSL_LOCKS_EXCLUDED(mu_);

  // The output byte for input byte `in` under `row`.
  static uint8_t Expected(uint8_t in, absl::Span<const float> row);
  // The index of the row's largest weight.
  static int StyleOf(absl::Span<const float> row);

  // From now on each call blocks until Release lets it through.
  void Hold() ABSL_LOCKS_EXCLUDED(mu_);
  // Lets `calls` held calls (present or future) finish.
  void Release(int calls) ABSL_LOCKS_EXCLUDED(mu_);
  // Stops holding; every blocked call finishes.
  void ReleaseAll() ABSL_LOCKS_EXCLUDED(mu_);
  // Blocks until at least `n` calls have started.
  void WaitForCalls(int n) const ABSL_LOCKS_EXCLUDED(mu_);
  // The next calls return these statuses (in order) without computing.
  void FailNext(absl::Status status) ABSL_LOCKS_EXCLUDED(mu_);
  // Each call sleeps base + per_item * batch_size (real time).
  void SetCost(absl::Duration base, absl::Duration per_item)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Skips writing the output (for overhead benchmarks).
  void set_compute_outputs(bool compute) { compute_outputs_ = compute; }

  std::vector<Call> calls() const ABSL_LOCKS_EXCLUDED(mu_);
  int calls_started() const ABSL_LOCKS_EXCLUDED(mu_);
  // Wall time spent inside Stylize so far (the device's busy time).
  absl::Duration busy_time() const ABSL_LOCKS_EXCLUDED(mu_);
  // Stylize calls running at once, at most, so far.
  int max_concurrent_calls() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  ModelDescription desc_;
  bool compute_outputs_ = true;
  mutable absl::Mutex mu_;
  bool held_ ABSL_GUARDED_BY(mu_) = false;
  int passes_ ABSL_GUARDED_BY(mu_) = 0;
  int started_ ABSL_GUARDED_BY(mu_) = 0;
  int running_ ABSL_GUARDED_BY(mu_) = 0;
  int max_running_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<absl::Status> failures_ ABSL_GUARDED_BY(mu_);
  absl::Duration base_cost_ ABSL_GUARDED_BY(mu_);
  absl::Duration item_cost_ ABSL_GUARDED_BY(mu_);
  std::vector<Call> calls_ ABSL_GUARDED_BY(mu_);
  absl::Duration busy_ ABSL_GUARDED_BY(mu_);
};

}  // namespace testing
}  // namespace stylizer

#endif  // STYLIZER_SERVER_BATCHING_TESTING_FAKE_MODEL_H_
