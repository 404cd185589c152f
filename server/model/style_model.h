// The interface every stylization backend implements: a batch of 8-bit RGB
// frames of one size plus one style-weight row per frame in, stylized frames
// out. Free of LibTorch so that the batcher, the service and their tests build
// without it (the LibTorch implementation lives in torch_model.h).
#ifndef STYLIZER_SERVER_MODEL_STYLE_MODEL_H_
#define STYLIZER_SERVER_MODEL_STYLE_MODEL_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace stylizer {

// One batch of same-size frames. All buffers are owned by the caller and stay
// valid for the duration of Stylize().
struct FrameBatch {
  int batch_size = 0;
  int height = 0;
  int width = 0;
  // batch_size frames of packed RGB24, row-major, back to back:
  // batch_size * height * width * 3 bytes.
  const uint8_t* input = nullptr;
  // batch_size rows of num_styles() weights each. Rows are normalised by the
  // model (non-negative, not all zero; they need not sum to 1).
  const float* style_weights = nullptr;
  // Destination, same layout and size as input. May alias input.
  uint8_t* output = nullptr;

  size_t frame_bytes() const { return static_cast<size_t>(height) * width * 3; }
};

// Static facts about a loaded model.
struct ModelDescription {
  std::string name;                      // from stylizer/model.json
  std::vector<std::string> style_names;  // index order
  std::string device;                    // "cpu", "cuda:0", ...
  std::string precision;                 // "fp32", "bf16", "fp16"
  std::string model_json;                // the archive's model.json text
  std::string archive_sha256;  // SHA-256 of the archive file (hex); may be empty
};

// A multi-style network. Implementations are thread-compatible: the caller
// serialises Stylize() calls per instance (the batcher runs one at a time per
// worker).
class StyleModel {
 public:
  virtual ~StyleModel() = default;

  // What was loaded.
  virtual const ModelDescription& description() const = 0;

  // Number of styles; the length of each style-weight row.
  int num_styles() const {
    return static_cast<int>(description().style_names.size());
  }

  // Stylizes batch.input into batch.output. Any height and width >= 1.
  // Returns InvalidArgument for bad shapes or weights, ResourceExhausted when
  // the device runs out of memory, Internal for anything else.
  virtual absl::Status Stylize(const FrameBatch& batch) = 0;
};

// Checks one row of style weights: length num_styles, finite, non-negative and
// not all zero. Shared by the runtime and the RPC layer.
absl::Status ValidateStyleWeights(absl::Span<const float> weights,
                                  int num_styles);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_MODEL_STYLE_MODEL_H_
