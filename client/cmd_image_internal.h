// The pieces of `stylizer image` (cmd_image.cc): reading and checking an
// input (cmd_image_input.cc), and one input's call and the files it writes
// (cmd_image_output.cc). Internal to the CLI.
#ifndef STYLIZER_CLIENT_CMD_IMAGE_INTERNAL_H_
#define STYLIZER_CLIENT_CMD_IMAGE_INTERNAL_H_

#include <atomic>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/commands.h"
#include "client/style_spec.h"
#include "client/stylizer_client.h"

namespace stylizer::client {

// Where one input's images go, and in which format.
struct ImagePlan {
  std::vector<std::string> paths;
  stylizer::v1::ImageFormat format = stylizer::v1::IMAGE_FORMAT_PNG;
  std::string dir;
};

// The bytes of `input` (a file, or "-": standard input), checked locally to
// be a PNG or JPEG.
absl::StatusOr<std::string> ReadImage(const std::string& input,
                                      const CommandIo& io,
                                      const std::atomic<bool>& stop);

// A stylized image as the server sent it is written as it is: bytes that
// are not the format asked for (a broken or impostor server) would make a
// file that looks done and is not. DATA_LOSS for those (what came is not
// what was asked for; exit code 1, as for any failure).
absl::Status CheckServedImage(const std::string& bytes,
                              stylizer::v1::ImageFormat format,
                              uint32_t output_index);

// Stylizes one image (`data`) in one style and writes it to `out` as
// `format` (PNG or JPEG).
absl::Status StylizeToStream(StylizerClient& client, std::string data,
                             const ResolvedStyle& style,
                             stylizer::v1::ImageFormat format,
                             std::ostream* out);

// One input's call and files (`data`: its bytes); the paths written.
absl::StatusOr<std::vector<std::string>> StylizeOne(
    StylizerClient& client, std::string data,
    const std::vector<ResolvedStyle>& styles, const ImagePlan& plan);

}  // namespace stylizer::client

#endif  // STYLIZER_CLIENT_CMD_IMAGE_INTERNAL_H_
