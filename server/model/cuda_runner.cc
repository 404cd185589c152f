// CudaRunner: see cuda_runner.h. Every LibTorch/CUDA call that can fail sits
// inside Stylize's or Create's try block.
#include "server/model/cuda_runner.h"

#include <ATen/Context.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/model/torch_util.h"

namespace stylizer {
namespace {

constexpr size_t kAggregate =
    static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE);

// Side of the frame that measures the memory of one frame at load.
constexpr int kProbeSide = 256;

// Ends a capture left open on `stream` by a failed one, so that the stream
// runs work again; the half-made graph is discarded.
void EndBrokenCapture(const c10::cuda::CUDAStream& stream) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing(stream.stream(), &status) == cudaSuccess &&
      status != cudaStreamCaptureStatusNone) {
    cudaGraph_t broken = nullptr;
    cudaStreamEndCapture(stream.stream(), &broken);
    if (broken != nullptr) cudaGraphDestroy(broken);
  }
  (void)cudaGetLastError();  // capture errors are not sticky: clear them
}

int64_t AllocatedBytes(c10::Device device) {
  return c10::cuda::CUDACachingAllocator::getDeviceStats(device.index())
      .allocated_bytes[kAggregate]
      .current;
}

}  // namespace

std::string CudaUnavailableReason() {
  try {
    c10::cuda::device_count_ensure_non_zero();
  } catch (const c10::Error& e) {
    return TorchMessage(e);
  }
  return "the CUDA runtime reports devices, but LibTorch cannot use them";
}

void UseIeeeFp32OnCuda() {
  at::globalContext().setAllowTF32CuDNN(false);
  at::globalContext().setAllowTF32CuBLAS(false);
}

bool CudaDeviceHasBf16(c10::Device device) {
  return at::cuda::getDeviceProperties(device.index())->major >= 8;
}

CudaRunner::CudaRunner(c10::Device device, torch::jit::Module module,
                       c10::ScalarType dtype, int num_styles,
                       const CudaRuntimeOptions& options,
                       std::function<void(absl::string_view)> log)
    : device_(device),
      module_(std::move(module)),
      dtype_(dtype),
      num_styles_(num_styles),
      options_(options),
      log_(std::move(log)),
      compute_stream_(c10::cuda::getStreamFromPool(false, device.index())),
      copy_stream_(c10::cuda::getStreamFromPool(false, device.index())) {}

absl::StatusOr<std::unique_ptr<CudaRunner>> CudaRunner::Create(
    c10::Device device, torch::jit::Module module, c10::ScalarType dtype,
    int num_styles, const CudaRuntimeOptions& options,
    std::function<void(absl::string_view)> log) {
  if (absl::Status s = ValidateCudaRuntimeOptions(options); !s.ok()) {
    return s;
  }
  try {
    c10::cuda::CUDAGuard guard(device);
    at::globalContext().setBenchmarkCuDNN(options.cudnn_benchmark);
    std::unique_ptr<CudaRunner> runner(new CudaRunner(
        device, std::move(module), dtype, num_styles, options, std::move(log)));
    // The memory one frame needs: the peak of a forward on one probe frame
    // above what was allocated before (weights), per padded pixel. Measured
    // on a second forward: the first tunes cuDNN's algorithms (benchmark
    // mode), whose trial workspaces, as large as the free memory allows,
    // would count as the frame's and shrink every chunk.
    c10::InferenceMode inference;
    auto probe = [&] {
      std::vector<float> row(num_styles, 0.0f);
      row[0] = 1.0f;
      torch::Tensor x = PrepareInput(TestCard(1, kProbeSide), kProbeSide,
                                     kProbeSide, device, dtype);
      torch::Tensor w = PrepareWeights(row.data(), 1, num_styles, device);
      runner->module_.forward({x, w});
      Synchronize(device);
    };
    probe();
    c10::cuda::CUDACachingAllocator::emptyCache();
    c10::cuda::CUDACachingAllocator::resetPeakStats(device.index());
    const int64_t before = AllocatedBytes(device);
    probe();
    const int64_t peak =
        c10::cuda::CUDACachingAllocator::getDeviceStats(device.index())
            .allocated_bytes[kAggregate]
            .peak;
    // 25 % for the staging tensors, levels and allocator rounding.
    runner->bytes_per_pixel_ =
        1.25 * static_cast<double>(std::max<int64_t>(peak - before, 1)) /
        (kProbeSide * kProbeSide);
    c10::cuda::CUDACachingAllocator::emptyCache();
    size_t free_bytes = 0, total_bytes = 0;
    C10_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    runner->free_bytes_at_load_ = static_cast<int64_t>(free_bytes);
    return runner;
  } catch (const std::exception& e) {
    return StatusFromException(
        e, absl::StrCat("preparing ", device.str(), " for serving"),
        absl::StatusCode::kInternal);
  }
}

std::string CudaRunner::Describe() const {
  const cudaDeviceProp* p = at::cuda::getDeviceProperties(device_.index());
  return absl::StrFormat(
      "%s (sm_%d%d), %.0f MiB free at load, %.1f MiB per 1080p frame, "
      "chunks of up to %s frames, cudnn benchmark %s%s%s",
      p->name, p->major, p->minor, free_bytes_at_load_ / 1048576.0,
      bytes_per_pixel_ * 1920 * 1088 / 1048576.0,
      options_.max_chunk_frames > 0 ? absl::StrCat(options_.max_chunk_frames)
                                    : std::string("what fits"),
      options_.cudnn_benchmark ? "on" : "off",
      options_.channels_last ? ", channels-last (unmeasured)" : "",
      options_.cuda_graphs
          ? absl::StrCat(", CUDA graphs for up to ", options_.cuda_graph_shapes,
                         " shapes (unmeasured)")
          : std::string());
}

TorchModel::RuntimeStats CudaRunner::Stats() const {
  TorchModel::RuntimeStats stats;
  stats.oom_retries = oom_retries_.load();
  stats.max_chunk_frames = last_chunk_.load();
  try {
    const auto s =
        c10::cuda::CUDACachingAllocator::getDeviceStats(device_.index());
    stats.device_memory_allocated_bytes = s.allocated_bytes[kAggregate].current;
    stats.device_memory_reserved_bytes = s.reserved_bytes[kAggregate].current;
    stats.device_memory_total_bytes = static_cast<int64_t>(
        at::cuda::getDeviceProperties(device_.index())->totalGlobalMem);
  } catch (const std::exception&) {
    // Stats are best effort; a broken device shows up in Stylize.
  }
  return stats;
}

int CudaRunner::ChunkFrames(int batch, int ph, int pw) const {
  const double frame_bytes = bytes_per_pixel_ * ph * pw;
  int64_t fit =
      static_cast<int64_t>(options_.memory_fraction * free_bytes_at_load_ /
                           std::max(frame_bytes, 1.0));
  if (oom_limit_pixels_ > 0) {
    fit = std::min<int64_t>(fit, oom_limit_pixels_ / (int64_t{ph} * pw));
  }
  if (options_.max_chunk_frames > 0) {
    fit = std::min<int64_t>(fit, options_.max_chunk_frames);
  }
  return static_cast<int>(std::clamp<int64_t>(fit, 1, batch));
}

torch::Tensor CudaRunner::Forward(const torch::Tensor& x,
                                  const torch::Tensor& weights, int h, int w) {
  torch::Tensor y = module_.forward({x, weights}).toTensor();
  if (y.sizes() != x.sizes()) {
    throw std::runtime_error(absl::StrCat("model returned shape ",
                                          c10::str(y.sizes()), " for input ",
                                          c10::str(x.sizes())));
  }
  if (y.size(2) != h || y.size(3) != w) y = y.slice(2, 0, h).slice(3, 0, w);
  return Levels(y).to(torch::kByte).permute({0, 2, 3, 1}).contiguous();
}

CudaRunner::CapturedForward* CudaRunner::Graph(int count, int h, int w,
                                               int ph, int pw) {
  if (!options_.cuda_graphs) return nullptr;
  const GraphKey key{count, h, w};
  if (uncapturable_.count(key) > 0) return nullptr;
  if (auto it = graphs_.find(key); it != graphs_.end()) {
    it->second->last_used = ++graph_uses_;
    return it->second.get();
  }
  if (static_cast<int>(graphs_.size()) >= options_.cuda_graph_shapes) {
    auto oldest = std::min_element(
        graphs_.begin(), graphs_.end(), [](const auto& a, const auto& b) {
          return a.second->last_used < b.second->last_used;
        });
    // Its last replay must be over before its memory goes back.
    compute_stream_.synchronize();
    graphs_.erase(oldest);
  }
  auto g = std::make_unique<CapturedForward>();
  const auto options = torch::TensorOptions().device(device_);
  g->input = torch::full({count, 3, ph, pw}, 0.5, options.dtype(dtype_));
  if (options_.channels_last)
    g->input = g->input.contiguous(at::MemoryFormat::ChannelsLast);
  g->weights = torch::full({count, num_styles_}, 1.0 / num_styles_,
                           options.dtype(torch::kFloat));
  // Warm-up outside the graph: cuDNN's autotuning and TorchScript's
  // profiling runs allocate and synchronise, which a capture may not.
  for (int i = 0; i < 3; ++i) Forward(g->input, g->weights, h, w);
  compute_stream_.synchronize();
  try {
    // Thread-local: another device's worker thread may call CUDA meanwhile.
    g->graph.capture_begin({0, 0}, cudaStreamCaptureModeThreadLocal);
    g->levels = Forward(g->input, g->weights, h, w);
    g->graph.capture_end();
  } catch (const std::exception& e) {
    try {
      g->graph.capture_end();
    } catch (const std::exception&) {
    }
    EndBrokenCapture(compute_stream_);
    if (IsOutOfMemory(e)) throw;
    uncapturable_.insert(key);
    if (log_) {
      log_(absl::StrCat("cannot capture a CUDA graph for ", count, " x ", w,
                        "x", h, " on ", device_.str(),
                        " (runs without one): ", e.what()));
    }
    return nullptr;
  }
  if (log_) {
    log_(absl::StrCat("captured a CUDA graph for ", count, " x ", w, "x", h,
                      " on ", device_.str()));
  }
  g->last_used = ++graph_uses_;
  return graphs_.emplace(key, std::move(g)).first->second.get();
}

uint8_t* CudaRunner::Pinned(std::array<torch::Tensor, 2>& buffers, int slot,
                            size_t bytes) {
  torch::Tensor& b = buffers[slot];
  if (!b.defined() || static_cast<size_t>(b.numel()) < bytes) {
    // Grown by half again, so a slowly growing size does not re-pin often.
    b = torch::empty(
        {static_cast<int64_t>(bytes + bytes / 2)},
        torch::TensorOptions().dtype(torch::kByte).pinned_memory(true));
  }
  return b.data_ptr<uint8_t>();
}

void CudaRunner::RunChunks(const FrameBatch& batch, int chunk,
                           bool* delivered) {
  const int h = batch.height, w = batch.width;
  const int ph = PaddedSide(h), pw = PaddedSide(w);
  const size_t frame_bytes = batch.frame_bytes();
  const int chunks = (batch.batch_size + chunk - 1) / chunk;
  // Per staging slot: the upload that last read pinned_in_[slot], the
  // forward that made the chunk, the download into pinned_out_[slot].
  std::array<at::cuda::CUDAEvent, 2> uploaded, computed, downloaded;
  struct Pending {
    int first;
    int count;
  };
  std::array<std::optional<Pending>, 2> pending;
  auto deliver = [&](int slot) {
    if (!pending[slot]) return;
    downloaded[slot].synchronize();
    std::memcpy(batch.output + pending[slot]->first * frame_bytes,
                pinned_out_[slot].data_ptr<uint8_t>(),
                pending[slot]->count * frame_bytes);
    pending[slot].reset();
    *delivered = true;
  };
  for (int i = 0; i < chunks; ++i) {
    const int slot = i % 2;
    const int first = i * chunk;
    const int count = std::min(chunk, batch.batch_size - first);
    const size_t bytes = count * frame_bytes;
    // Chunk i-2's upload read this slot: wait for it before overwriting.
    uploaded[slot].synchronize();
    std::memcpy(Pinned(pinned_in_, slot, bytes),
                batch.input + first * frame_bytes, bytes);
    const torch::Tensor host_in = pinned_in_[slot]
                                      .narrow(0, 0, static_cast<int64_t>(bytes))
                                      .view({count, h, w, 3});
    torch::Tensor device_in;
    {
      c10::cuda::CUDAStreamGuard on_copy(copy_stream_);
      device_in = host_in.to(device_, /*non_blocking=*/true);
      uploaded[slot].record(copy_stream_);
    }
    torch::Tensor levels;
    {
      c10::cuda::CUDAStreamGuard on_compute(compute_stream_);
      uploaded[slot].block(compute_stream_);
      device_in.record_stream(compute_stream_);
      torch::Tensor x = PrepareInput(device_in, ph, pw, device_, dtype_);
      if (options_.channels_last)
        x = x.contiguous(at::MemoryFormat::ChannelsLast);
      const torch::Tensor wt = PrepareWeights(
          batch.style_weights + static_cast<size_t>(first) * num_styles_, count,
          num_styles_, device_);
      if (CapturedForward* g = Graph(count, h, w, ph, pw)) {
        g->input.copy_(x);
        g->weights.copy_(wt);
        g->graph.replay();
        // The next replay rewrites g->levels while this chunk's download
        // may still read it: download a copy (a small device-to-device one).
        levels = g->levels.clone();
      } else {
        levels = Forward(x, wt, h, w);
      }
      computed[slot].record(compute_stream_);
    }
    // Chunk i-2's result still sits in this output slot: hand it over first.
    deliver(slot);
    Pinned(pinned_out_, slot, bytes);
    {
      c10::cuda::CUDAStreamGuard on_copy(copy_stream_);
      computed[slot].block(copy_stream_);
      levels.record_stream(copy_stream_);
      pinned_out_[slot]
          .narrow(0, 0, static_cast<int64_t>(bytes))
          .view({count, h, w, 3})
          .copy_(levels, /*non_blocking=*/true);
      downloaded[slot].record(copy_stream_);
    }
    pending[slot] = Pending{first, count};
  }
  // In chunk order: the older slot first.
  deliver(chunks % 2);
  deliver((chunks + 1) % 2);
}

absl::Status CudaRunner::Stylize(const FrameBatch& batch) {
  const int ph = PaddedSide(batch.height), pw = PaddedSide(batch.width);
  int chunk = 0;
  try {
    c10::InferenceMode inference;
    c10::cuda::CUDAGuard guard(device_);
    chunk = ChunkFrames(batch.batch_size, ph, pw);
    while (true) {
      bool delivered = false;
      try {
        RunChunks(batch, chunk, &delivered);
        last_chunk_ = chunk;
        if (tuned_shapes_.insert({chunk, ph, pw}).second && log_ &&
            options_.cudnn_benchmark) {
          log_(absl::StrCat("cudnn autotuned chunk ", chunk, " x ", pw, "x", ph,
                            " on ", device_.str()));
        }
        return absl::OkStatus();
      } catch (const std::exception& e) {
        // No copy may still write into the staging buffers or the caller's.
        compute_stream_.synchronize();
        copy_stream_.synchronize();
        // A retry reads the input again: impossible once results overwrote
        // it (the output may alias the input).
        const bool input_intact = !delivered || batch.input != batch.output;
        if (!IsOutOfMemory(e) || chunk == 1 || !input_intact) throw;
        ++oom_retries_;
        chunk = (chunk + 1) / 2;
        oom_limit_pixels_ = int64_t{chunk} * ph * pw;
        // Their activation memory goes back too. No emptyCache(): it empties
        // every GPU's cache, under the other workers' running batches, and
        // the allocator already frees this device's unused cached blocks
        // before it reports out of memory.
        graphs_.clear();
        if (log_) {
          log_(absl::StrCat("out of memory on ", device_.str(), " with ",
                            batch.batch_size, " frames of ", batch.width, "x",
                            batch.height, "; retrying in chunks of ", chunk));
        }
      }
    }
  } catch (const std::exception& e) {
    return StatusFromException(
        e,
        absl::StrCat("stylizing ", batch.batch_size, " frame(s) of ",
                     batch.width, "x", batch.height, " on ", device_.str(),
                     " in chunks of ", chunk),
        absl::StatusCode::kInternal);
  }
}

}  // namespace stylizer
