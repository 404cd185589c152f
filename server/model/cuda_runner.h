// The runtime's batch path on a CUDA device (CUDA builds of LibTorch only):
// pinned host staging buffers reused across batches, a batch cut into chunks
// whose host-to-device and device-to-host copies run on a copy stream and
// overlap the neighbouring chunk's forward on a compute stream (ordered by
// events), cuDNN autotuning per (chunk, H, W) shape, a chunk size planned from
// the device memory free at load, out-of-memory handled by halving the chunk
// (counted), and optionally each shape's forward replayed as a CUDA graph.
// Internal to stylizer::model; see docs/model-runtime.md.
#ifndef STYLIZER_SERVER_MODEL_CUDA_RUNNER_H_
#define STYLIZER_SERVER_MODEL_CUDA_RUNNER_H_

#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/script.h>

#include <array>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/model/style_model.h"
#include "server/model/torch_model.h"

namespace stylizer {

// Why LibTorch sees no CUDA device: the CUDA runtime's own words ("Found no
// NVIDIA driver on your system ...", "no CUDA-capable device is detected").
std::string CudaUnavailableReason();

// Whether the GPU has bf16 arithmetic (compute capability 8.0 or later).
bool CudaDeviceHasBf16(c10::Device device);

// Makes fp32 on CUDA devices IEEE fp32 for the whole process: LibTorch lets
// cuDNN convolutions (and cuBLAS) use TF32, 10 mantissa bits, on Ampere and
// newer by default, so "fp32" was not fp32, and neither was the reference
// the fp16 and bf16 trials are held to.
void UseIeeeFp32OnCuda();

class CudaRunner {
 public:
  // `module` is already on `device` in `dtype`. Measures the device memory
  // one frame needs (on a warm-up frame) to plan the chunk size.
  static absl::StatusOr<std::unique_ptr<CudaRunner>> Create(
      c10::Device device, torch::jit::Module module, c10::ScalarType dtype,
      int num_styles, const CudaRuntimeOptions& options,
      std::function<void(absl::string_view)> log);

  // Stylizes a checked batch (see TorchModel::Stylize). Out of memory halves
  // the chunk and retries (down to one frame: then ResourceExhausted); any
  // other device error fails this batch with Internal. Never throws.
  absl::Status Stylize(const FrameBatch& batch);

  TorchModel::RuntimeStats Stats() const;
  // "GPU NAME, N MiB free, chunk planning ..., cudnn benchmark on".
  std::string Describe() const;

 private:
  CudaRunner(c10::Device device, torch::jit::Module module,
             c10::ScalarType dtype, int num_styles,
             const CudaRuntimeOptions& options,
             std::function<void(absl::string_view)> log);

  // Frames per forward for frames of padded size ph x pw.
  int ChunkFrames(int batch, int ph, int pw) const;
  // Runs the batch in chunks of `chunk` frames (throws on device errors).
  // Sets *delivered once a result was written into batch.output.
  void RunChunks(const FrameBatch& batch, int chunk, bool* delivered);
  // A pinned host buffer of at least `bytes`, slot 0/1 of `buffers`.
  uint8_t* Pinned(std::array<torch::Tensor, 2>& buffers, int slot,
                  size_t bytes);

  // The forward from the prepared input x (count x 3 x ph x pw, dtype) and
  // normalised style weights to the output levels (count x h x w x 3 bytes).
  torch::Tensor Forward(const torch::Tensor& x, const torch::Tensor& weights,
                        int h, int w);

  // One chunk shape's forward captured as a CUDA graph: it reads `input`
  // and `weights` and writes `levels`, all fixed device tensors.
  struct CapturedForward {
    at::cuda::CUDAGraph graph;
    torch::Tensor input;
    torch::Tensor weights;
    torch::Tensor levels;
    uint64_t last_used = 0;
  };
  using GraphKey = std::tuple<int, int, int>;  // frames, h, w
  // The captured forward for this shape, capturing it on first use (on the
  // compute stream, after warm-up calls); nullptr when graphs are off or
  // this shape could not be captured (it then runs eagerly). Throws on
  // device errors, out of memory included.
  CapturedForward* Graph(int count, int h, int w, int ph, int pw);

  const c10::Device device_;
  torch::jit::Module module_;
  const c10::ScalarType dtype_;
  const int num_styles_;
  const CudaRuntimeOptions options_;
  std::function<void(absl::string_view)> log_;
  c10::cuda::CUDAStream compute_stream_;
  c10::cuda::CUDAStream copy_stream_;
  std::array<torch::Tensor, 2> pinned_in_;
  std::array<torch::Tensor, 2> pinned_out_;
  // Planned from the warm-up: device bytes per padded pixel of one frame,
  // and the memory free after load.
  double bytes_per_pixel_ = 0;
  int64_t free_bytes_at_load_ = 0;
  // Shapes (chunk, H, W) cuDNN has autotuned.
  std::set<std::tuple<int, int, int>> tuned_shapes_;
  // Captured forwards (at most options_.cuda_graph_shapes), and the shapes
  // whose capture failed for a reason other than memory.
  std::map<GraphKey, std::unique_ptr<CapturedForward>> graphs_;
  std::set<GraphKey> uncapturable_;
  uint64_t graph_uses_ = 0;
  // After an OOM: the largest chunk known to fit, per padded pixel count.
  int64_t oom_limit_pixels_ = 0;
  std::atomic<int64_t> oom_retries_{0};
  std::atomic<int> last_chunk_{0};
};

}  // namespace stylizer

#endif  // STYLIZER_SERVER_MODEL_CUDA_RUNNER_H_
