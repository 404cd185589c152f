// Device specs and capabilities; see torch_device.h.
#include "server/model/torch_device.h"

#include <torch/cuda.h>
#include <torch/version.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "server/model/cpu_features.h"
#include "server/model/device_spec.h"
#ifdef STYLIZER_WITH_CUDA
#include "server/model/cuda_runner.h"
#endif

namespace stylizer {

absl::StatusOr<c10::Device> ParseDevice(const std::string& spec) {
  auto parsed = ParseDeviceSpec(spec);
  if (!parsed.ok()) return parsed.status();
  if (parsed->kind == DeviceSpec::Kind::kAuto) {
    return torch::cuda::is_available() ? c10::Device(c10::kCUDA, 0)
                                       : c10::Device(c10::kCPU);
  }
  if (parsed->kind == DeviceSpec::Kind::kCpu) return c10::Device(c10::kCPU);
  const int index = std::max(parsed->index, 0);
  const int count = torch::cuda::is_available()
                        ? static_cast<int>(torch::cuda::device_count())
                        : 0;
  if (index >= count) {
#ifdef STYLIZER_WITH_CUDA
    const std::string why =
        count == 0 ? absl::StrCat(" (", CudaUnavailableReason(), ")") : "";
    return absl::FailedPreconditionError(absl::StrCat(
        "device \"", spec, "\" requested but LibTorch (a CUDA build) sees ",
        count, " usable CUDA device(s)", why,
        "; use --device=cpu, or run where the GPU and its driver are "
        "visible"));
#else
    return absl::FailedPreconditionError(absl::StrCat(
        "device \"", spec,
        "\" requested but this LibTorch is a CPU-only "
        "build: it sees 0 usable CUDA device(s); use --device=cpu, or build "
        "against the CUDA LibTorch (docs/model-runtime.md, \"LibTorch "
        "builds\")"));
#endif
  }
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
}

DeviceCapabilities Capabilities(c10::Device device,
                                const TorchModelOptions& options) {
  DeviceCapabilities caps;
  caps.cuda = device.is_cuda();
  caps.cpu = options.cpu_features.has_value() ? *options.cpu_features
                                              : DetectCpuFeatures();
  caps.cpu_fp16_kernels = TORCH_VERSION_MAJOR >= 2;
#ifdef STYLIZER_WITH_CUDA
  if (caps.cuda) caps.cuda_bf16 = CudaDeviceHasBf16(device);
#endif
  return caps;
}

}  // namespace stylizer
