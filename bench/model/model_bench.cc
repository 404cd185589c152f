// Model-only throughput of the LibTorch runtime (TorchModel::Stylize, uint8
// in and out, pad/crop included) for given frame sizes, batch sizes and
// precisions, and the convolution roofline of this machine: the GFLOP/s of one
// large 3x3 convolution (128 -> 128 channels) in LibTorch at the same thread
// count. Prints one JSON object per line; bench/model/run_model_bench.py runs
// it next to the Python eager network and formats the table.
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "server/model/torch_model.h"

ABSL_FLAG(std::string, archive, "", "serving archive to run");
ABSL_FLAG(std::string, precisions, "fp32,bf16", "comma-separated precisions");
ABSL_FLAG(std::string, sizes, "640x360,1280x720", "comma-separated WxH");
ABSL_FLAG(std::string, batches, "1,2,4,8", "comma-separated batch sizes");
ABSL_FLAG(int, threads, 2, "intra-op CPU threads");
ABSL_FLAG(std::string, device, "cpu", "device: cpu, cuda, cuda:N");
ABSL_FLAG(double, min_seconds, 2.0,
          "time each configuration for at least this long (after a warm-up "
          "call; at least 2 timed calls)");
ABSL_FLAG(int, cpu_tensor_cache_mb, 1024,
          "TorchModelOptions::cpu_tensor_cache_bytes in MiB (0 = off)");
ABSL_FLAG(bool, roofline, true, "also measure the 3x3 convolution roofline");
ABSL_FLAG(bool, channels_last, false,
          "CUDA: run the model channels-last (CudaRuntimeOptions)");
ABSL_FLAG(bool, cuda_graphs, false,
          "CUDA: replay each shape's forward as a CUDA graph "
          "(CudaRuntimeOptions); each row then also reports the largest "
          "level difference against the plain runtime on the same frames");

namespace {

using Clock = std::chrono::steady_clock;

struct Timing {
  double wall = 1e30;  // best wall-clock seconds of one call
  double cpu = 1e30;   // best process CPU seconds (all threads) of one call
};

// Best times per call of fn: one warm-up, then >= 2 calls and >= min_seconds.
// CPU time is reported too: on a shared machine it shows the work done,
// which wall time mixes with waiting for other processes.
template <typename Fn>
Timing BestTimes(Fn fn, double min_seconds) {
  fn();
  Timing best;
  double total = 0;
  for (int i = 0; i < 2 || total < min_seconds; ++i) {
    const auto t0 = Clock::now();
    const std::clock_t c0 = std::clock();
    fn();
    const double cpu = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    best.wall = std::min(best.wall, s);
    best.cpu = std::min(best.cpu, cpu);
    total += s;
  }
  return best;
}

// GFLOP/s of a 3x3, 128->128 convolution on the residual blocks' input for
// a width x height frame: 1x128x(height/4+4)x(width/4+4), 1x128x184x324 at
// 1280x720. Best of NCHW and channels-last. Measured per frame size, since
// oneDNN's efficiency falls on smaller maps. On a GPU also a 8192^3 matrix
// product (the device's peak for the dtype) and the convolution at batch 8.
void Roofline(const std::string& precision, int threads, double min_seconds,
              int width, int height, const std::string& device_name) {
  torch::InferenceMode guard;
  at::set_num_threads(threads);
  const c10::Device device(device_name);
  const auto dtype = precision == "bf16"   ? torch::kBFloat16
                     : precision == "fp16" ? torch::kHalf
                                           : torch::kFloat;
  auto sync = [&] {
    if (device.is_cuda()) torch::cuda::synchronize(device.index());
  };
  const int64_t c = 128, h = (height + 3) / 4 + 4, w = (width + 3) / 4 + 4;
  const int64_t batch = device.is_cuda() ? 8 : 1;
  const double flops = 2.0 * batch * c * c * 9 * (h - 2) * (w - 2);
  const auto options = torch::TensorOptions().dtype(dtype).device(device);
  Timing best;
  for (bool channels_last : {false, true}) {
    auto format = channels_last ? at::MemoryFormat::ChannelsLast
                                : at::MemoryFormat::Contiguous;
    torch::Tensor x =
        torch::rand({batch, c, h, w}).to(options).contiguous(format);
    torch::Tensor k =
        (torch::rand({c, c, 3, 3}) * 0.01).to(options).contiguous(format);
    torch::Tensor b = torch::zeros({c}).to(options);
    const Timing t = BestTimes(
        [&] {
          torch::conv2d(x, k, b);
          sync();
        },
        min_seconds);
    best.wall = std::min(best.wall, t.wall);
    best.cpu = std::min(best.cpu, t.cpu);
  }
  double matmul_gflops = 0;
  if (device.is_cuda()) {
    const int64_t n = 8192;
    torch::Tensor a = torch::rand({n, n}, options),
                  m = torch::rand({n, n}, options);
    const Timing t = BestTimes(
        [&] {
          torch::matmul(a, m);
          sync();
        },
        min_seconds);
    matmul_gflops = 2.0 * n * n * n / t.wall / 1e9;
  }
  std::printf(
      "{\"kind\":\"roofline\",\"precision\":\"%s\",\"device\":\"%s\","
      "\"threads\":%d,\"width\":%d,\"height\":%d,\"batch\":%lld,\"map\":\"%"
      "lldx%lld\","
      "\"gflops\":%.1f,\"gflops_per_cpu_second\":%.1f,\"matmul_gflops\":%.1f}"
      "\n",
      precision.c_str(), device_name.c_str(), threads, width, height,
      static_cast<long long>(batch), static_cast<long long>(h),
      static_cast<long long>(w), flops / best.wall / 1e9,
      flops / best.cpu / 1e9, matmul_gflops);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int threads = absl::GetFlag(FLAGS_threads);
  const double min_seconds = absl::GetFlag(FLAGS_min_seconds);
  std::vector<std::pair<int, int>> sizes;
  for (absl::string_view s : absl::StrSplit(absl::GetFlag(FLAGS_sizes), ',')) {
    std::vector<std::string> wh = absl::StrSplit(s, 'x');
    int w = 0, h = 0;
    if (wh.size() != 2 || !absl::SimpleAtoi(wh[0], &w) ||
        !absl::SimpleAtoi(wh[1], &h)) {
      std::cerr << "bad size " << s << " (want WxH)\n";
      return 2;
    }
    sizes.emplace_back(w, h);
  }
  std::vector<int> batches;
  for (absl::string_view s :
       absl::StrSplit(absl::GetFlag(FLAGS_batches), ',')) {
    int b = 0;
    if (!absl::SimpleAtoi(s, &b) || b < 1) {
      std::cerr << "bad batch size " << s << "\n";
      return 2;
    }
    batches.push_back(b);
  }
  const std::vector<std::string> precisions =
      absl::StrSplit(absl::GetFlag(FLAGS_precisions), ',');
  for (const std::string& precision : precisions) {
    if (absl::GetFlag(FLAGS_roofline)) {
      for (auto [w, h] : sizes) {
        Roofline(precision, threads, min_seconds, w, h,
                 absl::GetFlag(FLAGS_device));
      }
    }
    stylizer::TorchModelOptions options;
    options.archive_path = absl::GetFlag(FLAGS_archive);
    options.device = absl::GetFlag(FLAGS_device);
    options.precision = precision;
    options.threads = threads;
    options.cpu_tensor_cache_bytes =
        static_cast<size_t>(absl::GetFlag(FLAGS_cpu_tensor_cache_mb)) << 20;
    std::vector<std::string> variant_parts;
    if (absl::GetFlag(FLAGS_channels_last))
      variant_parts.push_back("channels_last");
    if (absl::GetFlag(FLAGS_cuda_graphs)) variant_parts.push_back("cuda_graphs");
    const bool variant = !variant_parts.empty();
    const std::string variant_name =
        variant ? absl::StrJoin(variant_parts, "+") : "plain";
    // The plain runtime, as the reference for a variant's outputs.
    absl::StatusOr<std::unique_ptr<stylizer::TorchModel>> plain;
    if (variant) {
      plain = stylizer::TorchModel::Create(options);
      if (!plain.ok()) {
        std::cerr << "cannot load the model in " << precision << ": "
                  << plain.status() << "\n";
        return 1;
      }
    }
    options.cuda.channels_last = absl::GetFlag(FLAGS_channels_last);
    options.cuda.cuda_graphs = absl::GetFlag(FLAGS_cuda_graphs);
    auto model = stylizer::TorchModel::Create(options);
    if (!model.ok()) {
      std::cerr << "cannot load the model in " << precision << ": "
                << model.status() << "\n";
      return 1;
    }
    const int n = (*model)->num_styles();
    for (auto [w, h] : sizes) {
      for (int b : batches) {
        // A fixed pattern; the timed calls stylize it in place.
        std::vector<uint8_t> pattern(static_cast<size_t>(b) * w * h * 3);
        for (size_t i = 0; i < pattern.size(); ++i) pattern[i] = (i * 7919) >> 5;
        std::vector<uint8_t> frames = pattern;
        std::vector<float> weights(static_cast<size_t>(b) * n, 0.0f);
        for (int i = 0; i < b; ++i) weights[i * n + i % n] = 1.0f;
        stylizer::FrameBatch batch{
            b, h, w, frames.data(), weights.data(), frames.data()};
        absl::Status status;
        const Timing t =
            BestTimes([&] { status = (*model)->Stylize(batch); }, min_seconds);
        if (!status.ok()) {
          std::cerr << "Stylize failed: " << status << "\n";
          return 1;
        }
        // A variant must give the plain runtime's levels on the same frames.
        int max_diff = -1;
        if (variant) {
          std::vector<uint8_t> c(pattern.size()), ref = pattern;
          stylizer::FrameBatch va{b, h, w, pattern.data(), weights.data(),
                                  c.data()};
          stylizer::FrameBatch vr{b, h, w, ref.data(), weights.data(),
                                  ref.data()};
          if (!(*model)->Stylize(va).ok() || !(*plain)->Stylize(vr).ok()) {
            std::cerr << "Stylize failed in the comparison\n";
            return 1;
          }
          max_diff = 0;
          for (size_t i = 0; i < c.size(); ++i)
            max_diff = std::max(max_diff, std::abs(int{c[i]} - int{ref[i]}));
        }
        std::printf(
            "{\"kind\":\"model\",\"impl\":\"cpp\",\"precision\":\"%s\","
            "\"variant\":\"%s\",\"width\":%d,\"height\":%d,\"batch\":%d,"
            "\"threads\":%d,\"seconds_per_batch\":%.5f,\"fps\":%.3f,"
            "\"cpu_seconds_per_batch\":%.5f,\"max_level_diff\":%d}\n",
            precision.c_str(), variant_name.c_str(), w, h, b, threads, t.wall,
            b / t.wall, t.cpu, max_diff);
        std::fflush(stdout);
      }
    }
  }
  return 0;
}
