// The LibTorch model runtime: loads a serving archive (a TorchScript module
// with forward(images, style_weights); see docs/model-runtime.md), picks the
// device and precision, and stylizes batches of 8-bit RGB frames of any size.
// No LibTorch header here: the implementation sits behind a pimpl so that
// code using StyleModel builds without LibTorch.
#ifndef STYLIZER_SERVER_MODEL_TORCH_MODEL_H_
#define STYLIZER_SERVER_MODEL_TORCH_MODEL_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/model/cpu_features.h"
#include "server/model/style_model.h"

namespace stylizer {

// How batches run on a CUDA device (used only by CUDA builds of LibTorch; see
// docs/model-runtime.md, "CUDA devices").
struct CudaRuntimeOptions {
  // torch.backends.cudnn.benchmark: the first batch of each (chunk, H, W)
  // shape autotunes its convolutions (and pays for it). Default on.
  bool cudnn_benchmark = true;
  // Most frames of one forward; a larger batch runs as several chunks whose
  // copies overlap the neighbouring chunk's forward. 0 (default): from the
  // device memory free at load and the memory one warm-up frame needed.
  int max_chunk_frames = 0;
  // Share of the free device memory the chunk size plans for. Default 0.7.
  double memory_fraction = 0.7;
  // Unmeasured (off by default, see docs/model-runtime.md): feed the module
  // channels-last tensors.
  bool channels_last = false;
  // Unmeasured (off by default, see docs/model-runtime.md): capture each
  // (frames, H, W) chunk shape's forward as a CUDA graph on its first use
  // and replay it; at most `cuda_graph_shapes` graphs are kept (least
  // recently used dropped), since each holds its own activation memory.
  bool cuda_graphs = false;
  int cuda_graph_shapes = 8;
};

// InvalidArgument naming the first CUDA option out of range, by its flag's
// name without "--" ("cuda_memory_fraction must be in (0, 1], got 2"): the
// runtime's own check, which the server also runs before any load.
absl::Status ValidateCudaRuntimeOptions(const CudaRuntimeOptions& options);

struct TorchModelOptions {
  // Path of the serving archive (torch.jit.save file with stylizer/styles.json
  // and stylizer/model.json). Required.
  std::string archive_path;

  // The archive's bytes, when the caller read the file already: loaded from
  // these (archive_path then only names it in messages). And its digest,
  // reported as ModelDescription::archive_sha256 (server/archive_file.h).
  std::shared_ptr<const std::string> archive_bytes;
  std::string archive_sha256;

  // "auto" (default): the first CUDA device if LibTorch sees one, else the
  // CPU. "cpu", "cuda" (= "cuda:0") or "cuda:N" force a device; a CUDA device
  // that is missing is an error, never a silent fallback.
  std::string device = "auto";

  // "auto" (default), "fp32", "bf16" or "fp16". auto times every precision
  // the device runs natively (CUDA: fp32, fp16, bf16 where the GPU has it;
  // CPU: fp32, bf16 with avx512_bf16/amx_bf16, fp16 with avx512_fp16/amx_fp16
  // on LibTorch 2) on a warm-up frame and keeps the fastest whose output
  // stays within min_psnr_db of fp32; the choice, the skipped precisions and
  // the reasons are logged. fp16 on a CPU without fp16 kernels is an error.
  std::string precision = "auto";

  // Under "auto", a candidate other than fp32 whose trial has run longer
  // (wall time) than both trial_budget_seconds and trial_budget_vs_fp32 x
  // the fp32 trial is stopped after the call in flight and ranked last: a
  // precision that slow cannot win, and emulated ones would delay start-up
  // by minutes. Defaults 2 s and 2x.
  double trial_budget_seconds = 2.0;
  double trial_budget_vs_fp32 = 2.0;

  // What the CPU runs natively; empty (default) = detect (CPUID and the
  // oneDNN ISA limit). Tests set it to describe other machines.
  std::optional<CpuFeatures> cpu_features;

  // CUDA devices only.
  CudaRuntimeOptions cuda;

  // Quality floor for low precisions under "auto": PSNR in dB of the 8-bit
  // output against fp32 on the warm-up frame. Default 35.
  double min_psnr_db = 35.0;

  // Intra-op CPU threads used by Stylize (LibTorch/OpenMP). 0 (default) = one
  // per hardware thread. Applied on each calling thread, since OpenMP keeps
  // the setting per thread.
  int threads = 0;

  // On the CPU, LibTorch's large tensors come from a process-wide cache that
  // keeps up to this many bytes of freed activation memory for reuse (see
  // cpu_tensor_cache.h): no page faults on every forward. 0 disables it (for
  // all TorchModels created later). Default 1 GiB.
  size_t cpu_tensor_cache_bytes = size_t{1} << 30;

  // Side of the square warm-up frame used to check the interface and to time
  // precisions under "auto" (rounded up to a multiple of 4, at least 8).
  // Default 256 (large enough for the timings to rank like real frames).
  int warmup_side = 256;

  // Receives one human-readable line per decision (device, precision,
  // timings). Default (empty): lines go to stderr prefixed "stylizer model: ".
  std::function<void(absl::string_view)> log;
};

// A StyleModel backed by LibTorch. Thread-compatible: Stylize() calls on one
// instance must be serialised by the caller.
class TorchModel : public StyleModel {
 public:
  // Loads and checks the archive and warms the model up. Errors:
  //   NotFound            the archive file does not exist;
  //   InvalidArgument     corrupt archive, missing or bad styles.json, zero
  //                       styles, a forward() that does not honour the
  //                       interface, a bad option value, fp16 on a CPU
  //                       without fp16 kernels;
  //   FailedPrecondition  a CUDA device was requested but is not available;
  //   ResourceExhausted   the device ran out of memory while loading;
  //   Internal            anything else LibTorch reports.
  static absl::StatusOr<std::unique_ptr<TorchModel>> Create(
      const TorchModelOptions& options);

  // The devices a --device spec stands for, one model instance each: "cuda",
  // and "auto" where a CUDA device is usable, name every visible CUDA device
  // ("cuda:0", "cuda:1", ...); anything else names one device and comes back
  // as is (an invalid spec too: Create refuses it with the reason).
  static std::vector<std::string> ExpandDevices(const std::string& spec);

  ~TorchModel() override;
  TorchModel(const TorchModel&) = delete;
  TorchModel& operator=(const TorchModel&) = delete;

  // Name, style names, chosen device and precision, model.json text.
  const ModelDescription& description() const override;

  // Stylizes batch.input into batch.output (see FrameBatch). Frames of any
  // size >= 1x1 are padded by reflection to a multiple of 4 (at least 8) and
  // cropped back; results are rounded to 8 bits. InvalidArgument for a bad
  // batch or weight row, ResourceExhausted when the device runs out of
  // memory, Internal for any other LibTorch error. Never throws.
  absl::Status Stylize(const FrameBatch& batch) override;

  // Why the device and precision were chosen (also logged at Create).
  const std::string& selection_note() const;

  // Counters of the device runtime (zeros on the CPU).
  struct RuntimeStats {
    int64_t oom_retries = 0;  // batches re-run in halves after device OOM
    int64_t device_memory_allocated_bytes = 0;  // caching allocator, now
    int64_t device_memory_reserved_bytes = 0;
    int64_t device_memory_total_bytes = 0;  // physical memory of the device
    int max_chunk_frames = 0;               // frames per forward now
  };
  RuntimeStats runtime_stats() const;

 private:
  struct Impl;
  explicit TorchModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace stylizer

#endif  // STYLIZER_SERVER_MODEL_TORCH_MODEL_H_
