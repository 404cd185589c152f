// The words of --device and --precision, free of LibTorch: the flag check
// (server_flags_check.cc) and the model runtime (torch_device.cc,
// precision_choice.cc) read them here, so both take the same spellings.
#ifndef STYLIZER_SERVER_MODEL_DEVICE_SPEC_H_
#define STYLIZER_SERVER_MODEL_DEVICE_SPEC_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace stylizer {

struct DeviceSpec {
  enum class Kind { kAuto, kCpu, kCuda };
  Kind kind = Kind::kAuto;
  // kCuda: the GPU's index; -1 for "cuda" alone (every visible GPU, one
  // model instance each; a single instance is on cuda:0).
  int index = -1;
};

// "auto", "cpu", "cuda" or "cuda:N" with N in decimal digits, in any case.
// InvalidArgument, quoting the spec, for anything else ("cuda:", "cuda:-1",
// "cuda: 1", "gpu").
absl::StatusOr<DeviceSpec> ParseDeviceSpec(absl::string_view spec);

enum class PrecisionRequest { kAuto, kFp32, kFp16, kBf16 };

// "auto", "fp32", "fp16" or "bf16", in any case; InvalidArgument, quoting
// the request, for anything else.
absl::StatusOr<PrecisionRequest> ParsePrecisionRequest(
    absl::string_view request);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_MODEL_DEVICE_SPEC_H_
