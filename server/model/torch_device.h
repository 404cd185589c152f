// The LibTorch device of a --device spec, and what it can run: for
// TorchModel::Create (torch_model.cc).
#ifndef STYLIZER_SERVER_MODEL_TORCH_DEVICE_H_
#define STYLIZER_SERVER_MODEL_TORCH_DEVICE_H_

#include <c10/core/Device.h>

#include <string>

#include "absl/status/statusor.h"
#include "server/model/precision_choice.h"
#include "server/model/torch_model.h"

namespace stylizer {

// "auto", "cpu", "cuda" or "cuda:N" as a device LibTorch sees:
// INVALID_ARGUMENT for another spelling, FAILED_PRECONDITION naming what is
// missing for a CUDA device that is not there (never the CPU instead).
absl::StatusOr<c10::Device> ParseDevice(const std::string& spec);

// What `device` runs natively, for the precision candidates (the CPU's
// features from `options` when given, else detected).
DeviceCapabilities Capabilities(c10::Device device,
                                const TorchModelOptions& options);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_MODEL_TORCH_DEVICE_H_
