// LibTorch helpers of the runtime shared by loading, the precision trials and
// Stylize: exception -> Status, uint8 NHWC <-> padded float NCHW, the warm-up
// test card and the PSNR of 8-bit outputs. Internal to stylizer::model.
#ifndef STYLIZER_SERVER_MODEL_TORCH_UTIL_H_
#define STYLIZER_SERVER_MODEL_TORCH_UTIL_H_

#include <torch/script.h>

#include <exception>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "server/model/precision_choice.h"

namespace stylizer {

// Smallest padded side the network accepts (two stride-2 convolutions, then
// reflection pads of 1 need at least 2 pixels).
inline constexpr int kMinSide = 8;

// H or W padded to a multiple of 4, at least kMinSide.
int PaddedSide(int n);

// A short message for people: for errors raised inside TorchScript code, the
// final error line after the TorchScript traceback; at most 600 characters.
std::string TorchMessage(const std::exception& e);

// Maps an exception from LibTorch to a Status: out-of-memory to
// ResourceExhausted, everything else to `fallback_code`.
absl::Status StatusFromException(const std::exception& e,
                                 absl::string_view context,
                                 absl::StatusCode fallback_code);

// Whether `e` is an allocation failure (CUDA or CPU).
bool IsOutOfMemory(const std::exception& e);

c10::ScalarType ScalarTypeOf(Precision precision);

// uint8 NHWC frames -> padded float NCHW in [0,1] on `device`, in `dtype`
// (reflection padding at the right and bottom). `frames_u8` may already be
// on `device`.
torch::Tensor PrepareInput(const torch::Tensor& frames_u8, int padded_h,
                           int padded_w, c10::Device device,
                           c10::ScalarType dtype);

// Rows of style weights normalised to sum 1 (in double), as float on `device`.
torch::Tensor PrepareWeights(const float* weights, int batch, int num_styles,
                             c10::Device device);

// A smooth synthetic test card with edges, uint8 NHWC [batch, side, side, 3],
// deterministic: the warm-up and precision-trial input.
torch::Tensor TestCard(int batch, int side);

// Clamped, rounded 8-bit levels (as float) of a model output.
torch::Tensor Levels(const torch::Tensor& y);

double Psnr(const torch::Tensor& levels_a, const torch::Tensor& levels_b);

void Synchronize(c10::Device device);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_MODEL_TORCH_UTIL_H_
