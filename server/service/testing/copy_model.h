// A StyleModel for tests and benchmarks that returns its input unchanged, so
// that tests can check pixels end to end without LibTorch.
#ifndef STYLIZER_SERVER_SERVICE_TESTING_COPY_MODEL_H_
#define STYLIZER_SERVER_SERVICE_TESTING_COPY_MODEL_H_

#include <cstring>
#include <string>
#include <vector>

#include "server/model/style_model.h"

namespace stylizer::testing {

class CopyModel : public StyleModel {
 public:
  explicit CopyModel(int num_styles = 4) {
    description_.name = "copy";
    for (int i = 0; i < num_styles; ++i) {
      description_.style_names.push_back("style" + std::to_string(i));
    }
    description_.device = "cpu";
    description_.precision = "fp32";
  }
  const ModelDescription& description() const override { return description_; }
  ModelDescription& mutable_description() { return description_; }
  // Copies batch.input to batch.output.
  absl::Status Stylize(const FrameBatch& batch) override {
    if (batch.output != batch.input) {
      std::memcpy(batch.output, batch.input,
                  batch.frame_bytes() * batch.batch_size);
    }
    return absl::OkStatus();
  }

 private:
  ModelDescription description_;
};

}  // namespace stylizer::testing

#endif  // STYLIZER_SERVER_SERVICE_TESTING_COPY_MODEL_H_
