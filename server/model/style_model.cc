// Validation shared by every StyleModel implementation and its callers.
#include "server/model/style_model.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace stylizer {

absl::Status ValidateStyleWeights(absl::Span<const float> weights,
                                  int num_styles) {
  if (static_cast<int>(weights.size()) != num_styles) {
    return absl::InvalidArgumentError(
        absl::StrCat("style weights have ", weights.size(),
                     " entries but the model has ", num_styles, " styles"));
  }
  double sum = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    const float w = weights[i];
    if (!std::isfinite(w) || w < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("style weight ", i, " is ", w,
                       "; weights must be finite and non-negative"));
    }
    sum += w;
  }
  if (sum <= 0) {
    return absl::InvalidArgumentError(
        "style weights are all zero; give at least one style a positive "
        "weight");
  }
  return absl::OkStatus();
}

}  // namespace stylizer
