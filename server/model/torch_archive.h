// Loading a serving archive (TorchScript plus its styles and model JSON):
// for TorchModel::Create (torch_model.cc).
#ifndef STYLIZER_SERVER_MODEL_TORCH_ARCHIVE_H_
#define STYLIZER_SERVER_MODEL_TORCH_ARCHIVE_H_

#include <torch/script.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/model/style_model.h"

namespace stylizer {

// The archive's module (on the CPU, eval mode) and what its metadata says.
struct LoadedArchive {
  torch::jit::Module module;
  ModelDescription description;
};

// Loads the archive at `path`, or from `bytes` (the file's, read by the
// caller) when given: NOT_FOUND for a missing file (the system's error for
// one it cannot read), INVALID_ARGUMENT for one that is not a serving
// archive or whose zip members fail their CRC-32 (zip_check.h, checked
// before LibTorch reads the bytes), each naming what to do.
absl::StatusOr<LoadedArchive> LoadServingArchive(
    const std::string& path, const std::shared_ptr<const std::string>& bytes);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_MODEL_TORCH_ARCHIVE_H_
