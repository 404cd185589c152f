// PlanPrecisions and ChoosePrecision: see precision_choice.h.
#include "server/model/precision_choice.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/model/device_spec.h"

namespace stylizer {

const char* PrecisionName(Precision precision) {
  switch (precision) {
    case Precision::kBf16:
      return "bf16";
    case Precision::kFp16:
      return "fp16";
    case Precision::kFp32:
      break;
  }
  return "fp32";
}

absl::StatusOr<PrecisionPlan> PlanPrecisions(absl::string_view requested,
                                             const DeviceCapabilities& device) {
  auto request = ParsePrecisionRequest(requested);
  if (!request.ok()) return request.status();
  const PrecisionRequest p = *request;
  PrecisionPlan plan;
  const CpuFeatures& cpu = device.cpu;
  const bool cpu_fp16 = device.cpu_fp16_kernels && cpu.NativeFp16();
  if (p == PrecisionRequest::kFp32) {
    plan.candidates = {Precision::kFp32};
  } else if (p == PrecisionRequest::kBf16) {
    if (device.cuda && !device.cuda_bf16) {
      // cuDNN has no bf16 convolutions before Ampere: the trial would throw,
      // and its error would blame the archive.
      return absl::InvalidArgumentError(
          "precision bf16 needs a GPU of compute capability 8.0 or later "
          "(Ampere); this GPU has no bf16 arithmetic: use fp16 or fp32");
    }
    plan.candidates = {Precision::kBf16};
    if (!device.cuda && !cpu.NativeBf16()) {
      plan.warning =
          absl::StrCat("bf16 is emulated on this CPU (", cpu.Describe(),
                       "): expect it to be many times slower than fp32");
    }
  } else if (p == PrecisionRequest::kFp16) {
    if (!device.cuda && !cpu_fp16) {
      return absl::InvalidArgumentError(absl::StrCat(
          "precision fp16 needs a CUDA device, or a CPU with avx512_fp16 or "
          "amx_fp16 and LibTorch 2 (LibTorch 1.13 has no fp16 convolutions "
          "on the CPU; this CPU: ",
          cpu.Describe(), "); use bf16 or fp32"));
    }
    plan.candidates = {Precision::kFp16};
  } else {  // kAuto
    plan.candidates = {Precision::kFp32};
    if (device.cuda) {
      plan.candidates.push_back(Precision::kFp16);
      if (device.cuda_bf16) {
        plan.candidates.push_back(Precision::kBf16);
      } else {
        plan.skipped.push_back("bf16 skipped: the GPU has no bf16 arithmetic");
      }
    } else {
      if (cpu.NativeBf16()) {
        plan.candidates.push_back(Precision::kBf16);
      } else {
        plan.skipped.push_back(absl::StrCat(
            "bf16 skipped: no native bf16 on this CPU (", cpu.Describe(),
            "); emulated it is many times slower than fp32"));
      }
      if (cpu_fp16) {
        plan.candidates.push_back(Precision::kFp16);
      } else if (cpu.NativeFp16()) {
        plan.skipped.push_back(
            "fp16 skipped: this LibTorch has no fp16 CPU convolutions");
      } else {
        plan.skipped.push_back(absl::StrCat(
            "fp16 skipped: no native fp16 on this CPU (", cpu.Describe(), ")"));
      }
    }
  }
  return plan;
}

absl::StatusOr<Precision> ChoosePrecision(
    const std::vector<TrialResult>& trials, double min_psnr_db) {
  const TrialResult* chosen = nullptr;
  auto better = [](const TrialResult& a, const TrialResult* b) {
    if (b == nullptr) return true;
    if (a.abandoned != b->abandoned) return !a.abandoned;
    return a.seconds < b->seconds;
  };
  for (const TrialResult& t : trials) {
    if (t.failed) continue;
    const bool good = t.precision == Precision::kFp32 || trials.size() == 1 ||
                      t.psnr_db >= min_psnr_db;
    if (good && better(t, chosen)) chosen = &t;
  }
  if (chosen == nullptr) {
    return absl::FailedPreconditionError(
        "no precision ran the warm-up frames successfully");
  }
  return chosen->precision;
}

}  // namespace stylizer
