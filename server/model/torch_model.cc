// TorchModel: Create = load the archive, plan the precision candidates, one
// timed trial per candidate, choose; Stylize = the uint8 <-> float hot path
// around the archive's forward() (on CUDA devices through CudaRunner). Every
// LibTorch call sits inside a try block; errors leave as absl::Status.
#include "server/model/torch_model.h"

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <torch/cuda.h>
#include <torch/script.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <limits>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/model/cpu_tensor_cache.h"
#include "server/model/device_spec.h"
#include "server/model/precision_choice.h"
#include "server/model/precision_trial.h"
#include "server/model/torch_archive.h"
#include "server/model/torch_device.h"
#include "server/model/torch_util.h"
#ifdef STYLIZER_WITH_CUDA
#include "server/model/cuda_runner.h"
#endif

namespace stylizer {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

struct TorchModel::Impl {
  ModelDescription description;
  std::string selection_note;
  torch::jit::Module module;
  c10::Device device = c10::Device(c10::kCPU);
  c10::ScalarType dtype = torch::kFloat;
  int threads = 0;
  std::function<void(absl::string_view)> log;
#ifdef STYLIZER_WITH_CUDA
  std::unique_ptr<CudaRunner> cuda;
#endif

  void Log(absl::string_view line) const {
    if (log) {
      log(line);
    } else {
      std::cerr << "stylizer model: " << line << std::endl;
    }
  }

  void ApplyThreads() const {
    if (device.is_cpu() && at::get_num_threads() != threads) {
      at::set_num_threads(threads);
    }
  }
};

absl::Status ValidateCudaRuntimeOptions(const CudaRuntimeOptions& options) {
  if (options.max_chunk_frames < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cuda_max_chunk_frames must be at least 0 (0 = what "
                     "fits), got ",
                     options.max_chunk_frames));
  }
  if (!(options.memory_fraction > 0 && options.memory_fraction <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cuda_memory_fraction must be in (0, 1], got ",
                     options.memory_fraction));
  }
  if (options.cuda_graph_shapes < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("cuda_graph_shapes must be at least 1, got ",
                     options.cuda_graph_shapes));
  }
  return absl::OkStatus();
}

namespace {

absl::Status ValidateOptions(const TorchModelOptions& options) {
  if (options.threads < 0) {
    return absl::InvalidArgumentError("threads must be >= 0 (0 = all cores)");
  }
  if (options.warmup_side < 1 || options.warmup_side > 4096) {
    return absl::InvalidArgumentError("warmup_side must be in 1..4096");
  }
  if (!(options.trial_budget_seconds >= 0) ||
      !(options.trial_budget_vs_fp32 >= 0)) {
    return absl::InvalidArgumentError(
        "trial_budget_seconds and trial_budget_vs_fp32 must be >= 0");
  }
  return absl::OkStatus();
}

}  // namespace

TorchModel::TorchModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TorchModel::~TorchModel() = default;

const ModelDescription& TorchModel::description() const {
  return impl_->description;
}

const std::string& TorchModel::selection_note() const {
  return impl_->selection_note;
}

std::vector<std::string> TorchModel::ExpandDevices(const std::string& spec) {
  const auto parsed = ParseDeviceSpec(spec);
  const bool every_gpu =
      parsed.ok() &&
      (parsed->kind == DeviceSpec::Kind::kAuto ||
       (parsed->kind == DeviceSpec::Kind::kCuda && parsed->index < 0));
  if (!every_gpu) return {spec};
  const int count = torch::cuda::is_available()
                        ? static_cast<int>(torch::cuda::device_count())
                        : 0;
  if (count < 1) return {spec};
  std::vector<std::string> devices;
  for (int i = 0; i < count; ++i) devices.push_back(absl::StrCat("cuda:", i));
  return devices;
}

TorchModel::RuntimeStats TorchModel::runtime_stats() const {
#ifdef STYLIZER_WITH_CUDA
  if (impl_->cuda) return impl_->cuda->Stats();
#endif
  return {};
}

absl::StatusOr<std::unique_ptr<TorchModel>> TorchModel::Create(
    const TorchModelOptions& options) {
  if (absl::Status s = ValidateOptions(options); !s.ok()) return s;
  auto impl = std::make_unique<Impl>();
  impl->log = options.log;
  impl->threads =
      options.threads > 0
          ? options.threads
          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

  // Parse the device before the (slow) load, so that a missing GPU fails
  // at once with what is missing.
  auto device = ParseDevice(options.device);
  if (!device.ok()) return device.status();
  impl->device = *device;
  const DeviceCapabilities caps = Capabilities(impl->device, options);
  auto plan = PlanPrecisions(options.precision, caps);
  if (!plan.ok()) return plan.status();

  auto loaded = LoadServingArchive(options.archive_path, options.archive_bytes);
  if (!loaded.ok()) return loaded.status();
  impl->description = std::move(loaded->description);
  impl->description.archive_sha256 = options.archive_sha256;
  const int num_styles = static_cast<int>(impl->description.style_names.size());
  if (impl->device.is_cpu() && options.cpu_tensor_cache_bytes > 0) {
    InstallCpuTensorCache(options.cpu_tensor_cache_bytes);
  }
  impl->description.device = impl->device.str();
#ifdef STYLIZER_WITH_CUDA
  // Before the trials: their fp32 is the reference the others are held to.
  if (impl->device.is_cuda()) UseIeeeFp32OnCuda();
#endif
  for (const std::string& line : plan->skipped) impl->Log(line);
  if (!plan->warning.empty()) impl->Log(plan->warning);

  TrialInput input;
  input.side = PaddedSide(options.warmup_side);
  input.num_styles = num_styles;
  input.where = absl::StrCat("model archive ", options.archive_path);
  input.device = impl->device;
  input.log = [impl = impl.get()](absl::string_view line) { impl->Log(line); };
  std::vector<float> weight_rows(2 * num_styles, 1.0f);
  std::fill(weight_rows.begin() + 1, weight_rows.begin() + num_styles, 0.0f);

  const bool single = plan->candidates.size() == 1;
  try {
    c10::InferenceMode inference;
    impl->ApplyThreads();
    input.card = TestCard(2, input.side);
    input.weights =
        PrepareWeights(weight_rows.data(), 2, num_styles, impl->device);
    // The module is served as scripted: torch::jit::freeze was measured no
    // faster for the exported module, and with LibTorch 1.13 an exception
    // inside a frozen module (a bad style count, out of memory) can crash
    // the process once another module of the same archive has run.
    // optimize_for_inference's oneDNN ops crash on out of memory, and were
    // slower here too.
    std::vector<Trial> trials;
    torch::Tensor reference;
    double reference_seconds = 0;
    for (const Precision precision : plan->candidates) {
      // fp32 (the reference, first under auto) and a lone explicit choice
      // run to the end; other candidates get the budget.
      const bool must_work = precision == Precision::kFp32 || single;
      const double budget =
          must_work
              ? std::numeric_limits<double>::infinity()
              : std::max(options.trial_budget_seconds,
                         options.trial_budget_vs_fp32 * reference_seconds);
      const Clock::time_point t0 = Clock::now();
      auto trial = RunTrial(loaded->module, precision, input, reference, budget,
                            must_work);
      if (!trial.ok()) return trial.status();
      if (precision == Precision::kFp32) {
        reference_seconds =
            std::chrono::duration<double>(Clock::now() - t0).count();
      }
      trials.push_back(*std::move(trial));
    }
    std::vector<TrialResult> results;
    for (const Trial& t : trials) results.push_back(t.result);
    auto chosen = ChoosePrecision(results, options.min_psnr_db);
    if (!chosen.ok()) {
      return absl::InternalError(
          absl::StrCat(input.where, ": ", chosen.status().message()));
    }
    std::vector<std::string> notes;
    for (Trial& t : trials) {
      notes.push_back(t.note);
      if (t.result.precision == *chosen) impl->module = t.module;
    }
    for (const std::string& line : plan->skipped) notes.push_back(line);
    impl->dtype = ScalarTypeOf(*chosen);
    impl->description.precision = PrecisionName(*chosen);
    // Both words were read when the device and the plan were made.
    const auto device_spec = ParseDeviceSpec(options.device);
    const auto precision_request = ParsePrecisionRequest(options.precision);
    const bool auto_device =
        device_spec.ok() && device_spec->kind == DeviceSpec::Kind::kAuto;
    const bool auto_precision =
        precision_request.ok() && *precision_request == PrecisionRequest::kAuto;
    impl->selection_note = absl::StrCat(
        "device ", impl->description.device, auto_device ? " (auto)" : "",
        ", precision ", impl->description.precision,
        !auto_precision
            ? absl::StrCat(" (at ", input.side, "x", input.side, " batch 2: ")
            : absl::StrCat(" (auto: fastest with >= ", options.min_psnr_db,
                           " dB vs fp32 at ", input.side, "x", input.side,
                           " batch 2: "),
        absl::StrJoin(notes, "; "), ")");
    if (impl->device.is_cpu()) {
      absl::StrAppend(&impl->selection_note, ", ", impl->threads,
                      " CPU threads");
    }
#ifdef STYLIZER_WITH_CUDA
    if (impl->device.is_cuda()) {
      auto runner = CudaRunner::Create(impl->device, impl->module, impl->dtype,
                                       num_styles, options.cuda, impl->log);
      if (!runner.ok()) return runner.status();
      impl->cuda = *std::move(runner);
      absl::StrAppend(&impl->selection_note, ", ", impl->cuda->Describe());
    }
#endif
  } catch (const std::exception& e) {
    return StatusFromException(e, input.where, absl::StatusCode::kInternal);
  }
  impl->Log(absl::StrCat("loaded ", impl->description.name, " (", num_styles,
                         " styles): ", impl->selection_note));
  return std::unique_ptr<TorchModel>(new TorchModel(std::move(impl)));
}

absl::Status TorchModel::Stylize(const FrameBatch& batch) {
  const int num_styles = this->num_styles();
  if (batch.batch_size < 1 || batch.height < 1 || batch.width < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "batch of ", batch.batch_size, " frames of ", batch.width, "x",
        batch.height, ": need at least one frame of at least 1x1"));
  }
  if (batch.input == nullptr || batch.output == nullptr ||
      batch.style_weights == nullptr) {
    return absl::InvalidArgumentError(
        "batch has a null input, output or weights");
  }
  for (int i = 0; i < batch.batch_size; ++i) {
    absl::Status s = ValidateStyleWeights(
        absl::MakeConstSpan(
            batch.style_weights + static_cast<size_t>(i) * num_styles,
            num_styles),
        num_styles);
    if (!s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("frame ", i, " of the batch: ", s.message()));
    }
  }
#ifdef STYLIZER_WITH_CUDA
  if (impl_->cuda) return impl_->cuda->Stylize(batch);
#endif
  const int h = batch.height, w = batch.width;
  const int ph = PaddedSide(h), pw = PaddedSide(w);
  try {
    c10::InferenceMode inference;
    impl_->ApplyThreads();
    const torch::Tensor frames =
        torch::from_blob(const_cast<uint8_t*>(batch.input),
                         {batch.batch_size, h, w, 3}, torch::kByte);
    const torch::Tensor x =
        PrepareInput(frames, ph, pw, impl_->device, impl_->dtype);
    const torch::Tensor wt = PrepareWeights(
        batch.style_weights, batch.batch_size, num_styles, impl_->device);
    torch::Tensor y = impl_->module.forward({x, wt}).toTensor();
    if (y.sizes() != x.sizes()) {
      return absl::InternalError(
          absl::StrCat("model returned shape ", c10::str(y.sizes()),
                       " for input ", c10::str(x.sizes())));
    }
    if (ph != h || pw != w) y = y.slice(2, 0, h).slice(3, 0, w);
    torch::Tensor levels = Levels(y).permute({0, 2, 3, 1});  // NHWC view
    torch::Tensor out = torch::from_blob(
        batch.output, {batch.batch_size, h, w, 3}, torch::kByte);
    if (impl_->device.is_cpu()) {
      out.copy_(levels);  // float -> uint8 (exact: already rounded) + transpose
    } else {
      out.copy_(levels.to(torch::kByte).contiguous());
    }
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return StatusFromException(
        e,
        absl::StrCat("stylizing ", batch.batch_size, " frame(s) of ", w, "x", h,
                     " on ", impl_->description.device),
        absl::StatusCode::kInternal);
  }
}

}  // namespace stylizer
