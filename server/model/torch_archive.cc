// Loading a serving archive; see torch_archive.h.
#include "server/model/torch_archive.h"

#include <exception>
#include <filesystem>
#include <sstream>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/model/archive_metadata.h"
#include "server/model/torch_util.h"

namespace stylizer {

absl::StatusOr<LoadedArchive> LoadServingArchive(
    const std::string& path, const std::shared_ptr<const std::string>& bytes) {
  std::error_code ec;
  if (path.empty()) {
    return absl::InvalidArgumentError(
        "no model archive given; pass the path of a serving archive made by "
        "training/export_seed.py");
  }
  if (bytes == nullptr && !std::filesystem::exists(path, ec)) {
    return absl::NotFoundError(
        absl::StrCat("model archive ", path,
                     " does not exist; pass the path of a "
                     "serving archive made by training/export_seed.py"));
  }
  if (bytes == nullptr && std::filesystem::is_directory(path, ec)) {
    return absl::InvalidArgumentError(
        absl::StrCat("model archive ", path, " is a directory, not a file"));
  }
  LoadedArchive loaded;
  torch::jit::ExtraFilesMap extra{{kStylesJsonPath, ""}, {kModelJsonPath, ""}};
  try {
    if (bytes != nullptr) {
      std::istringstream in(*bytes);
      loaded.module = torch::jit::load(in, c10::Device(c10::kCPU), extra);
    } else {
      loaded.module = torch::jit::load(path, c10::Device(c10::kCPU), extra);
    }
    loaded.module.eval();
  } catch (const std::exception& e) {
    return StatusFromException(
        e,
        absl::StrCat("cannot load model archive ", path,
                     " (not a TorchScript archive, truncated or corrupt; "
                     "re-export it with training/export_seed.py)"),
        absl::StatusCode::kInvalidArgument);
  }
  const std::string& styles_json = extra[kStylesJsonPath];
  const std::string& model_json = extra[kModelJsonPath];
  if (styles_json.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("model archive ", path, " has no ", kStylesJsonPath,
                     "; serving archives name their styles there (see "
                     "docs/model-runtime.md)"));
  }
  auto names = ParseStylesJson(styles_json);
  if (!names.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("model archive ", path, ": ", names.status().message()));
  }
  const std::string stem = std::filesystem::path(path).stem().string();
  auto name = model_json.empty() ? absl::StatusOr<std::string>(stem)
                                 : ParseModelName(model_json, stem);
  if (!name.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("model archive ", path, ": ", name.status().message()));
  }
  loaded.description.name = *name;
  loaded.description.style_names = *std::move(names);
  loaded.description.model_json = model_json;
  return loaded;
}

}  // namespace stylizer
