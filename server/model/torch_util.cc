// See torch_util.h.
#include "server/model/torch_util.h"

#include <c10/util/Exception.h>
#include <torch/cuda.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <new>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace stylizer {
namespace {

// The full text of an exception, without LibTorch's C++ backtrace.
std::string FullMessage(const std::exception& e) {
  if (const auto* c10 = dynamic_cast<const c10::Error*>(&e)) {
    return c10->what_without_backtrace();
  }
  return e.what();
}

// Row and column indices that pad `n` to `padded` by reflection about the
// last sample (the "reflect" mode of F.pad, repeated for pads larger than
// the frame; a 1-pixel side replicates).
torch::Tensor ReflectIndex(int n, int padded) {
  std::vector<int64_t> index(padded);
  const int period = 2 * (n - 1);
  for (int j = 0; j < padded; ++j) {
    if (j < n || period == 0) {
      index[j] = std::min(j, n - 1);
    } else {
      const int m = j % period;
      index[j] = m < n ? m : period - m;
    }
  }
  return torch::tensor(index, torch::kLong);
}

}  // namespace

int PaddedSide(int n) { return std::max(kMinSide, (n + 3) / 4 * 4); }

std::string TorchMessage(const std::exception& e) {
  std::string text = FullMessage(e);
  if (absl::StrContains(text, "Traceback of TorchScript")) {
    absl::string_view view = absl::StripTrailingAsciiWhitespace(text);
    const size_t last_line = view.rfind('\n');
    if (last_line != absl::string_view::npos) {
      text = std::string(view.substr(last_line + 1));
    }
  }
  constexpr size_t kMaxChars = 600;
  if (text.size() > kMaxChars) text = text.substr(0, kMaxChars) + " ...";
  return std::string(absl::StripAsciiWhitespace(text));
}

bool IsOutOfMemory(const std::exception& e) {
  const std::string full = FullMessage(e);
  return dynamic_cast<const c10::OutOfMemoryError*>(&e) != nullptr ||
         dynamic_cast<const std::bad_alloc*>(&e) != nullptr ||
         absl::StrContains(full, "out of memory") ||
         absl::StrContains(full, "not enough memory") ||
         absl::StrContains(full, "can't allocate memory") ||
         // cuBLAS and cuDNN allocate outside the caching allocator (a new
         // thread's first handle, a workspace): their words for it.
         absl::StrContains(full, "ALLOC_FAILED") ||
         absl::StrContains(full, "CUDA_ERROR_OUT_OF_MEMORY");
}

absl::Status StatusFromException(const std::exception& e,
                                 absl::string_view context,
                                 absl::StatusCode fallback_code) {
  const std::string message = TorchMessage(e);
  if (IsOutOfMemory(e)) {
    return absl::ResourceExhaustedError(
        absl::StrCat(context,
                     ": the device ran out of memory (the job queue has "
                     "already retried in smaller batches); send smaller "
                     "frames (",
                     message, ")"));
  }
  return absl::Status(fallback_code, absl::StrCat(context, ": ", message));
}

c10::ScalarType ScalarTypeOf(Precision precision) {
  switch (precision) {
    case Precision::kBf16:
      return torch::kBFloat16;
    case Precision::kFp16:
      return torch::kHalf;
    case Precision::kFp32:
      break;
  }
  return torch::kFloat;
}

torch::Tensor PrepareInput(const torch::Tensor& frames_u8, int padded_h,
                           int padded_w, c10::Device device,
                           c10::ScalarType dtype) {
  const int64_t b = frames_u8.size(0);
  const int h = static_cast<int>(frames_u8.size(1));
  const int w = static_cast<int>(frames_u8.size(2));
  torch::Tensor in = frames_u8.to(device, /*non_blocking=*/true);
  if (padded_h != h)
    in = in.index_select(1, ReflectIndex(h, padded_h).to(device));
  if (padded_w != w)
    in = in.index_select(2, ReflectIndex(w, padded_w).to(device));
  torch::Tensor x =
      torch::empty({b, 3, padded_h, padded_w},
                   torch::TensorOptions().dtype(torch::kFloat).device(device));
  x.copy_(in.permute({0, 3, 1, 2}));
  x.div_(255.0f);
  return dtype == torch::kFloat ? x : x.to(dtype);
}

torch::Tensor PrepareWeights(const float* weights, int batch, int num_styles,
                             c10::Device device) {
  // Normalised in double on the host: in float, a row of huge weights
  // (FLT_MAX twice) sums to inf and becomes 0, then NaN in the network.
  torch::Tensor w = torch::from_blob(const_cast<float*>(weights),
                                     {batch, num_styles}, torch::kFloat)
                        .to(torch::kDouble);
  w = w / w.sum(1, /*keepdim=*/true);
  return w.to(torch::kFloat).to(device);
}

torch::Tensor TestCard(int batch, int side) {
  torch::Tensor card = torch::empty({batch, side, side, 3}, torch::kByte);
  uint8_t* p = card.data_ptr<uint8_t>();
  for (int b = 0; b < batch; ++b) {
    for (int y = 0; y < side; ++y) {
      for (int x = 0; x < side; ++x) {
        const double u = static_cast<double>(x) / side;
        const double v = static_cast<double>(y) / side;
        const double r = std::hypot(u - 0.5, v - 0.5);
        const bool bar = x > side / 3 && x < side / 2;
        *p++ = static_cast<uint8_t>(255 * u);
        *p++ = static_cast<uint8_t>(127.5 + 127.5 * std::sin(40 * r + b));
        *p++ = bar ? 240 : static_cast<uint8_t>(255 * v);
      }
    }
  }
  return card;
}

torch::Tensor Levels(const torch::Tensor& y) {
  return y.to(torch::kFloat).mul(255.0f).round_().clamp_(0, 255);
}

double Psnr(const torch::Tensor& levels_a, const torch::Tensor& levels_b) {
  const double mse = (levels_a - levels_b).pow(2).mean().item<double>();
  if (mse <= 0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(255.0 * 255.0 / mse);
}

void Synchronize(c10::Device device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

}  // namespace stylizer
