// The precision trials of TorchModel::Create: each candidate precision's
// copy of the archive's module, run on a test card, checked against the fp32
// output, and timed (precision_choice.h then picks one).
#ifndef STYLIZER_SERVER_MODEL_PRECISION_TRIAL_H_
#define STYLIZER_SERVER_MODEL_PRECISION_TRIAL_H_

#include <torch/script.h>

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/model/precision_choice.h"

namespace stylizer {

// The warm-up input of every trial: a test card at the warm-up size, two
// frames, style 0 and an even blend of all styles.
struct TrialInput {
  torch::Tensor card;     // uint8 NHWC on the CPU
  torch::Tensor weights;  // normalised rows on the device
  int side = 0;
  int num_styles = 0;
  std::string where;  // "model archive PATH", for messages
  c10::Device device = c10::Device(c10::kCPU);
  // Where a candidate that fails (and is skipped) is told.
  std::function<void(absl::string_view)> log;
};

// One candidate's module and how it did.
struct Trial {
  TrialResult result;
  torch::jit::Module module;
  std::string note;  // "bf16 93.7 CPU-ms, 51.3 dB"
};

// Runs one candidate: a checked forward (its output is compared with the
// fp32 `reference`, which the fp32 trial sets), one more untimed call
// (TorchScript's profiling executor specialises the graph during the first
// two), then the best of three timed calls. Process CPU time on the CPU
// (robust when other processes compete for the cores), wall time on a GPU.
// Past `budget_seconds` of wall time the trial stops after the current
// call and is marked abandoned. A forward that throws fails the trial
// (returned as a failed TrialResult) unless `must_work`.
absl::StatusOr<Trial> RunTrial(const torch::jit::Module& base,
                               Precision precision, const TrialInput& in,
                               torch::Tensor& reference, double budget_seconds,
                               bool must_work);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_MODEL_PRECISION_TRIAL_H_
