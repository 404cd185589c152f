// One input's call in `stylizer image` and the images it writes, checked
// to be the format asked for; see cmd_image_internal.h.
#include <cerrno>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/cli_flags.h"
#include "client/cmd_image_internal.h"
#include "client/image_signatures.h"
#include "client/output_files.h"

namespace stylizer::client {

using stylizer::v1::ImageFormat;

absl::Status CheckServedImage(const std::string& bytes, ImageFormat format,
                              uint32_t output_index) {
  const bool jpeg = format == stylizer::v1::IMAGE_FORMAT_JPEG;
  if (absl::StartsWith(bytes, jpeg ? kJpegSignature : kPngSignature)) {
    return absl::OkStatus();
  }
  return absl::DataLossError(absl::StrCat(
      "the server returned output ", output_index, " as ", bytes.size(),
      " bytes that are not a ", jpeg ? "JPEG" : "PNG",
      " image; nothing was written for this input"));
}

absl::Status StylizeToStream(StylizerClient& client, std::string data,
                             const ResolvedStyle& style, ImageFormat format,
                             std::ostream* out) {
  stylizer::v1::StylizeImageRequest request;
  request.mutable_image()->set_encoded(std::move(data));
  *request.add_styles() = style.style;
  request.set_output_format(format);
  request.set_preserve_color(absl::GetFlag(FLAGS_preserve_color));
  request.set_max_side(static_cast<uint32_t>(absl::GetFlag(FLAGS_max_side)));
  auto response = client.StylizeImage(request);
  if (!response.ok()) return response.status();
  if (response->images_size() != 1 ||
      !response->images(0).image().has_encoded()) {
    return absl::InternalError(absl::StrCat("the server returned ",
                                            response->images_size(),
                                            " images for one style"));
  }
  const std::string& bytes = response->images(0).image().encoded();
  if (absl::Status s = CheckServedImage(bytes, format, 0); !s.ok()) return s;
  errno = 0;
  out->write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out->flush();
  if (!out->good()) return WriteFailed("standard output", errno);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> StylizeOne(
    StylizerClient& client, std::string data,
    const std::vector<ResolvedStyle>& styles, const ImagePlan& plan) {
  stylizer::v1::StylizeImageRequest request;
  request.mutable_image()->set_encoded(std::move(data));
  for (const auto& s : styles) *request.add_styles() = s.style;
  request.set_output_format(plan.format);
  request.set_preserve_color(absl::GetFlag(FLAGS_preserve_color));
  request.set_max_side(static_cast<uint32_t>(absl::GetFlag(FLAGS_max_side)));
  auto response = client.StylizeImage(request);
  if (!response.ok()) return response.status();
  if (response->images_size() != static_cast<int>(styles.size())) {
    return absl::InternalError(
        absl::StrCat("the server returned ", response->images_size(),
                     " images for ", styles.size(), " styles"));
  }
  // Write every image under a temporary name, then rename them all.
  std::string made_dir;
  if (absl::Status s = EnsureDirectory(plan.dir, &made_dir); !s.ok()) {
    return s;
  }
  std::vector<std::unique_ptr<AtomicFile>> files(styles.size());
  absl::Status status;
  for (const auto& image : response->images()) {
    const uint32_t i = image.output_index();
    if (i >= files.size() || files[i] != nullptr ||
        !image.image().has_encoded()) {
      status = absl::InternalError(absl::StrCat(
          "the server returned an unexpected image (output ", i, ")"));
      break;
    }
    status = CheckServedImage(image.image().encoded(), plan.format, i);
    if (!status.ok()) break;
    auto file = AtomicFile::Create(plan.paths[i]);
    if (!file.ok()) {
      status = file.status();
      break;
    }
    files[i] = *std::move(file);
    status = files[i]->Append(image.image().encoded());
    if (!status.ok()) break;
  }
  if (status.ok()) {
    std::vector<AtomicFile*> in_order;
    for (auto& file : files) in_order.push_back(file.get());
    status = CommitAll(in_order);
  }
  if (!status.ok()) {
    files.clear();
    RemoveMadeDirectories(plan.dir, made_dir);
    return status;
  }
  return plan.paths;
}

}  // namespace stylizer::client
