// Loading a serving archive; see torch_archive.h.
#include "server/model/torch_archive.h"

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/model/archive_metadata.h"
#include "server/model/torch_util.h"
#include "server/model/zip_check.h"

namespace stylizer {
namespace {

// The bytes of the file at `path`, for callers that pass none (tools,
// benchmarks, tests): read once, so that the bytes checked are the bytes
// loaded.
absl::StatusOr<std::shared_ptr<const std::string>> ReadArchive(
    const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return absl::ErrnoToStatus(
        errno, absl::StrCat("cannot read model archive ", path));
  }
  std::string data;
  std::error_code ec;
  if (const uintmax_t size = std::filesystem::file_size(path, ec); !ec) {
    data.reserve(size);
  }
  char buffer[1 << 16];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof(buffer), f)) > 0) {
    data.append(buffer, n);
  }
  const int err = std::ferror(f) ? errno : 0;
  std::fclose(f);
  if (err != 0) {
    return absl::ErrnoToStatus(
        err, absl::StrCat("cannot read model archive ", path));
  }
  return std::make_shared<const std::string>(std::move(data));
}

}  // namespace

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
  std::shared_ptr<const std::string> data = bytes;
  if (data == nullptr) {
    absl::StatusOr<std::shared_ptr<const std::string>> read = ReadArchive(path);
    if (!read.ok()) return read.status();
    data = *std::move(read);
  }
  // LibTorch's zip reader never checks the members' CRC-32: a file damaged
  // inside its weights would load, and serve wrong pictures.
  if (absl::Status intact = CheckZipMembers(*data, path); !intact.ok()) {
    return intact;
  }
  LoadedArchive loaded;
  torch::jit::ExtraFilesMap extra{{kStylesJsonPath, ""}, {kModelJsonPath, ""}};
  try {
    std::istringstream in(*data);
    loaded.module = torch::jit::load(in, c10::Device(c10::kCPU), extra);
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
