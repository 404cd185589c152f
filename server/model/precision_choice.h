// The runtime's choice of precision, free of LibTorch: which precisions are
// worth a trial on this device (PlanPrecisions), and which trial wins
// (ChoosePrecision). TorchModel runs the trials in between.
#ifndef STYLIZER_SERVER_MODEL_PRECISION_CHOICE_H_
#define STYLIZER_SERVER_MODEL_PRECISION_CHOICE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/model/cpu_features.h"

namespace stylizer {

enum class Precision { kFp32, kFp16, kBf16 };

// "fp32", "fp16", "bf16".
const char* PrecisionName(Precision precision);

// What the device can run, as far as the plan needs to know.
struct DeviceCapabilities {
  bool cuda = false;
  // CUDA: the GPU has bf16 arithmetic (compute capability >= 8.0).
  bool cuda_bf16 = true;
  // CPU: the LibTorch build has fp16 CPU convolutions (LibTorch >= 2).
  bool cpu_fp16_kernels = false;
  CpuFeatures cpu;
};

struct PrecisionPlan {
  // Trials to run, fp32 first (the reference of the others) under "auto".
  std::vector<Precision> candidates;
  // One line per precision left out, with the reason
  // ("bf16 skipped: no avx512_bf16/amx_bf16 (bf16 would be emulated)").
  std::vector<std::string> skipped;
  // Set when an explicit precision will run slowly (emulated on this CPU).
  std::string warning;
};

// requested: "auto", "fp32", "bf16" or "fp16" (any case). InvalidArgument for
// anything else, and for fp16 on a CPU without fp16 kernels.
absl::StatusOr<PrecisionPlan> PlanPrecisions(absl::string_view requested,
                                             const DeviceCapabilities& device);

// The outcome of one precision's trial on the warm-up frames.
struct TrialResult {
  Precision precision = Precision::kFp32;
  // The forward threw (the precision is unsupported by the module or device).
  bool failed = false;
  // The trial ran past its time budget and was stopped early.
  bool abandoned = false;
  double seconds = 0;  // best timed call
  double psnr_db = 0;  // 8-bit output vs fp32 (infinity for fp32)
};

// The fastest trial that neither failed nor was abandoned and whose PSNR is
// at least min_psnr_db (fp32 always qualifies; with one trial, that one
// unless it failed). Abandoned trials rank last: one is chosen only when
// nothing else ran. FailedPrecondition when no trial qualifies.
absl::StatusOr<Precision> ChoosePrecision(
    const std::vector<TrialResult>& trials, double min_psnr_db);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_MODEL_PRECISION_CHOICE_H_
