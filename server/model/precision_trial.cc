// One precision trial of TorchModel::Create; see precision_trial.h.
#include "server/model/precision_trial.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/model/torch_device.h"
#include "server/model/torch_util.h"

namespace stylizer {
namespace {

using Clock = std::chrono::steady_clock;

// Calls forward and checks the result's interface: a floating tensor of
// the input's shape. `x` is already padded.
absl::StatusOr<torch::Tensor> CheckedForward(torch::jit::Module& m,
                                             const torch::Tensor& x,
                                             const torch::Tensor& w) {
  torch::jit::IValue out = m.forward({x, w});
  if (!out.isTensor()) {
    return absl::InvalidArgumentError(
        absl::StrCat("forward(images, style_weights) returned a ",
                     out.tagKind(), ", not a tensor [B,3,H,W]"));
  }
  torch::Tensor y = out.toTensor();
  if (y.sizes() != x.sizes()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "forward(images ", c10::str(x.sizes()), ", style_weights ",
        c10::str(w.sizes()), ") returned shape ", c10::str(y.sizes()),
        "; the output must have the input's shape"));
  }
  if (!y.is_floating_point()) {
    return absl::InvalidArgumentError(
        absl::StrCat("forward() returned ", c10::toString(y.scalar_type()),
                     " values; it must return floating point in [0,1]"));
  }
  return y;
}

}  // namespace

absl::StatusOr<Trial> RunTrial(const torch::jit::Module& base,
                               Precision precision, const TrialInput& in,
                               torch::Tensor& reference, double budget_seconds,
                               bool must_work) {
  const c10::ScalarType dtype = ScalarTypeOf(precision);
  Trial trial;
  trial.result.precision = precision;
  const Clock::time_point start = Clock::now();
  auto over_budget = [&] {
    return std::chrono::duration<double>(Clock::now() - start).count() >
           budget_seconds;
  };
  torch::jit::Module module = base.clone();
  module.to(in.device, dtype);
  module.eval();
  const torch::Tensor x =
      PrepareInput(in.card, in.side, in.side, in.device, dtype);
  // Every call of the trial, not only the first, may throw (a kernel that
  // fails on its second call, running out of memory while timing): each
  // fails the candidate, as a first call that throws does.
  absl::StatusOr<torch::Tensor> y;
  const std::clock_t c0 = std::clock();
  double first_call = 0;
  bool out_of_range = false;
  try {
    y = CheckedForward(module, x, in.weights);
    Synchronize(in.device);
    if (y.ok()) {
      first_call =
          in.device.is_cpu()
              ? static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC
              : std::chrono::duration<double>(Clock::now() - start).count();
      // Every precision's output must be finite and in [0,1]: fp16 can
      // overflow where fp32 does not, and an explicit --precision runs
      // no fp32 trial to compare with.
      const torch::Tensor yf = y->to(torch::kFloat);
      out_of_range = !torch::isfinite(yf).all().item<bool>() ||
                     yf.min().item<float>() < -1e-3f ||
                     yf.max().item<float>() > 1.001f;
    }
    if (y.ok() && !out_of_range) {
      const torch::Tensor levels = Levels(*y);
      if (precision == Precision::kFp32) reference = levels;
      trial.result.psnr_db = reference.defined()
                                 ? Psnr(levels, reference)
                                 : std::numeric_limits<double>::infinity();
      trial.result.seconds = std::numeric_limits<double>::infinity();
      if (over_budget()) {
        trial.result.abandoned = true;
      } else {
        module.forward({x, in.weights});
        for (int i = 0; i < 3 && !(trial.result.abandoned = over_budget());
             ++i) {
          Synchronize(in.device);
          const Clock::time_point t0 = Clock::now();
          const std::clock_t c1 = std::clock();
          module.forward({x, in.weights});
          Synchronize(in.device);
          const double seconds =
              in.device.is_cpu()
                  ? static_cast<double>(std::clock() - c1) / CLOCKS_PER_SEC
                  : std::chrono::duration<double>(Clock::now() - t0).count();
          trial.result.seconds = std::min(trial.result.seconds, seconds);
        }
      }
    }
  } catch (const std::exception& e) {
    absl::Status s = StatusFromException(
        e,
        absl::StrCat(in.where, ": warm-up forward(images [2,3,", in.side, ",",
                     in.side, "], style_weights [2,", in.num_styles,
                     "]) failed in ", PrecisionName(precision),
                     "; the archive must implement forward(images, "
                     "style_weights) for ",
                     in.num_styles, " styles"),
        absl::StatusCode::kInvalidArgument);
    if (must_work || s.code() == absl::StatusCode::kResourceExhausted) return s;
    in.log(s.message());
    trial.result.failed = true;
    trial.note = absl::StrCat(PrecisionName(precision), " unsupported");
    return trial;
  }
  if (!y.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(in.where, ": wrong interface: ", y.status().message()));
  }
  if (out_of_range) {
    const std::string what =
        absl::StrCat(in.where,
                     ": forward() returned values outside [0,1] (or NaN) on "
                     "the warm-up frames in ",
                     PrecisionName(precision));
    if (must_work) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, precision == Precision::kFp32
                                 ? "; wrong interface"
                                 : "; wrong interface, or a precision too "
                                   "narrow for this network (try fp32)"));
    }
    in.log(what);
    trial.result.failed = true;
    trial.note =
        absl::StrCat(PrecisionName(precision), " gives values outside [0,1]");
    return trial;
  }
  if (trial.result.seconds == std::numeric_limits<double>::infinity()) {
    trial.result.seconds = first_call;  // abandoned before a timed call
  }
  const char* unit = in.device.is_cpu() ? "CPU-ms" : "ms";
  trial.note =
      absl::StrFormat("%s %.1f %s, %.1f dB", PrecisionName(precision),
                      trial.result.seconds * 1e3, unit, trial.result.psnr_db);
  if (trial.result.abandoned) {
    absl::StrAppendFormat(&trial.note, ", abandoned past its %.1f s budget",
                          budget_seconds);
  }
  trial.module = std::move(module);
  return trial;
}

}  // namespace stylizer
