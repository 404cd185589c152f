// `stylizer image INPUT [--styles=SPEC] [--out=PATH]`: one PNG or JPEG in, one
// stylized image per style out, all written only when every one arrived.
#include <filesystem>
#include <memory>
#include <system_error>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/commands.h"
#include "client/interrupt.h"
#include "client/output_files.h"
#include "client/rpc_errors.h"

namespace stylizer::client {
namespace {

namespace fs = std::filesystem;
using stylizer::v1::ImageFormat;

bool IsPngOrJpeg(const std::string& data) {
  return absl::StartsWith(data, "\x89PNG\r\n\x1a\n") ||
         absl::StartsWith(data, "\xff\xd8\xff");
}

// Output format of a file name: PNG, JPEG, or UNSPECIFIED if neither.
ImageFormat FormatOf(const std::string& ext) {
  if (ext == "png") return stylizer::v1::IMAGE_FORMAT_PNG;
  if (ext == "jpg" || ext == "jpeg") return stylizer::v1::IMAGE_FORMAT_JPEG;
  return stylizer::v1::IMAGE_FORMAT_UNSPECIFIED;
}

struct Plan {
  std::vector<std::string> paths;
  ImageFormat format = stylizer::v1::IMAGE_FORMAT_PNG;
  std::string dir;
};

// Where the outputs go. --out is a file when it has an image extension and is
// not a directory; otherwise a directory.
absl::StatusOr<Plan> PlanOutputs(const std::string& input,
                                 const std::vector<ResolvedStyle>& styles) {
  std::string out = absl::GetFlag(FLAGS_out);
  if (out.empty()) out = ".";
  std::error_code ec;
  const bool is_dir = fs::is_directory(out, ec) || absl::EndsWith(out, "/") ||
                      FileExtension(out).empty();
  Plan plan;
  if (is_dir) {
    plan.dir = out;
    for (const auto& s : styles) {
      plan.paths.push_back(OutputPath(out, FileStem(input), s.label, "png"));
    }
    return plan;
  }
  const std::string ext = FileExtension(out);
  plan.format = FormatOf(ext);
  if (plan.format == stylizer::v1::IMAGE_FORMAT_UNSPECIFIED) {
    return UsageError(absl::StrCat("--out=", out,
                                   ": name a .png or .jpg file, or a directory"));
  }
  plan.dir = fs::path(out).parent_path().string();
  if (plan.dir.empty()) plan.dir = ".";
  if (styles.size() == 1) {
    plan.paths.push_back(out);
  } else {
    for (const auto& s : styles) {
      plan.paths.push_back(OutputPath(plan.dir, FileStem(out), s.label, ext));
    }
  }
  return plan;
}

}  // namespace

absl::Status RunImage(const Invocation& inv, const CommandIo& io) {
  if (inv.args.size() != 1) {
    return UsageError(
        "usage: stylizer image INPUT [--styles=SPEC] [--out=PATH] "
        "[--preserve_color]");
  }
  const std::string& input = inv.args[0];
  auto data = ReadFile(input);
  if (!data.ok()) return data.status();
  if (!IsPngOrJpeg(*data)) {
    return absl::InvalidArgumentError(
        absl::StrCat(input, " is not a PNG or JPEG image"));
  }
  auto client = ConnectFromFlags();
  if (!client.ok()) return client.status();
  // Ctrl-C cancels the calls; the temporary files are then deleted.
  CancelOnInterrupt on_interrupt([c = client->get()] { c->CancelAll(); });
  auto styles = ResolveStyles(**client, "all");
  if (!styles.ok()) return styles.status();
  auto plan = PlanOutputs(input, *styles);
  if (!plan.ok()) return plan.status();
  if (absl::Status s = CheckOutputTargets(plan->paths); !s.ok()) return s;

  stylizer::v1::StylizeImageRequest request;
  request.mutable_image()->set_encoded(*std::move(data));
  for (const auto& s : *styles) *request.add_styles() = s.style;
  request.set_output_format(plan->format);
  request.set_preserve_color(absl::GetFlag(FLAGS_preserve_color));
  auto response = (*client)->StylizeImage(request);
  if (!response.ok()) return response.status();
  if (response->images_size() != static_cast<int>(styles->size())) {
    return absl::InternalError(absl::StrCat(
        "the server returned ", response->images_size(), " images for ",
        styles->size(), " styles"));
  }
  // Write every image under a temporary name, then rename them all.
  std::error_code ec;
  const bool dir_existed = fs::exists(plan->dir, ec);
  if (absl::Status s = EnsureDirectory(plan->dir); !s.ok()) return s;
  std::vector<std::unique_ptr<AtomicFile>> files(styles->size());
  absl::Status status;
  for (const auto& image : response->images()) {
    const uint32_t i = image.output_index();
    if (i >= files.size() || files[i] != nullptr || !image.image().has_encoded()) {
      status = absl::InternalError(absl::StrCat(
          "the server returned an unexpected image (output ", i, ")"));
      break;
    }
    auto file = AtomicFile::Create(plan->paths[i]);
    if (!file.ok()) {
      status = file.status();
      break;
    }
    files[i] = *std::move(file);
    status = files[i]->Append(image.image().encoded());
    if (!status.ok()) break;
  }
  for (size_t i = 0; status.ok() && i < files.size(); ++i) {
    status = files[i]->Commit();
  }
  if (!status.ok()) {
    files.clear();
    if (!dir_existed) fs::remove(plan->dir, ec);
    return status;
  }
  for (const std::string& p : plan->paths) *io.out << p << "\n";
  return absl::OkStatus();
}

}  // namespace stylizer::client
