// Style list -> weight rows; see style_resolution.h.
#include "server/service/style_resolution.h"

#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "server/model/style_model.h"

namespace stylizer {
namespace {

std::string RangeHint(int num_styles) {
  return absl::StrCat("the model has ", num_styles, " styles (indices 0-",
                      num_styles - 1, "); GetModelInfo lists them");
}

absl::StatusOr<std::vector<float>> BlendRow(const v1::StyleBlend& blend,
                                            int position, int num_styles) {
  if (blend.indices().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("styles[", position, "]: blend has no indices"));
  }
  if (!blend.weights().empty() &&
      blend.weights_size() != blend.indices_size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "styles[", position, "]: blend has ", blend.indices_size(),
        " indices but ", blend.weights_size(),
        " weights; give one weight per index (or none for an equal mix)"));
  }
  // Summed in double: finite floats cannot overflow it (two FLT_MAX weights
  // overflow a float sum to inf).
  std::vector<double> sums(num_styles, 0.0);
  double sum = 0;
  for (int i = 0; i < blend.indices_size(); ++i) {
    const uint32_t index = blend.indices(i);
    if (index >= static_cast<uint32_t>(num_styles)) {
      return absl::InvalidArgumentError(
          absl::StrCat("styles[", position, "]: blend index ", index,
                       " is out of range; ", RangeHint(num_styles)));
    }
    const float w = blend.weights().empty() ? 1.0f : blend.weights(i);
    if (!std::isfinite(w) || w < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("styles[", position, "]: blend.weights[", i, "] is ",
                       w, "; weights must be finite and non-negative"));
    }
    sums[index] += w;
    sum += w;
  }
  if (!(sum > 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "styles[", position,
        "]: blend weights are all zero; give at least one a positive weight"));
  }
  std::vector<float> row(num_styles);
  for (int i = 0; i < num_styles; ++i) {
    row[i] = static_cast<float>(sums[i] / sum);
  }
  return row;
}

}  // namespace

absl::StatusOr<ResolvedStyles> ResolveStyles(
    const google::protobuf::RepeatedPtrField<v1::Style>& styles, int num_styles,
    int max_outputs) {
  if (num_styles <= 0) {
    return absl::FailedPreconditionError("the model has no styles");
  }
  ResolvedStyles out;
  if (styles.empty()) {
    if (num_styles > max_outputs) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the model has ", num_styles, " styles, more than the ", max_outputs,
          " outputs one request may ask for; list the styles you want"));
    }
    for (int i = 0; i < num_styles; ++i) {
      std::vector<float> row(num_styles, 0.0f);
      row[i] = 1.0f;
      out.weights.push_back(std::move(row));
      out.output_indices.push_back(static_cast<uint32_t>(i));
    }
    return out;
  }
  if (styles.size() > max_outputs) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the request asks for ", styles.size(), " styles; at most ",
        max_outputs, " are allowed per request"));
  }
  for (int pos = 0; pos < styles.size(); ++pos) {
    const v1::Style& style = styles[pos];
    std::vector<float> row;
    switch (style.kind_case()) {
      case v1::Style::kIndex: {
        if (style.index() >= static_cast<uint32_t>(num_styles)) {
          return absl::InvalidArgumentError(
              absl::StrCat("styles[", pos, "]: style index ", style.index(),
                           " is out of range; ", RangeHint(num_styles)));
        }
        row.assign(num_styles, 0.0f);
        row[style.index()] = 1.0f;
        break;
      }
      case v1::Style::kBlend: {
        absl::StatusOr<std::vector<float>> blended =
            BlendRow(style.blend(), pos, num_styles);
        if (!blended.ok()) return blended.status();
        row = *std::move(blended);
        break;
      }
      default:
        return absl::InvalidArgumentError(
            absl::StrCat("styles[", pos, "] sets neither index nor blend"));
    }
    if (absl::Status s = ValidateStyleWeights(row, num_styles); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("styles[", pos, "]: ", s.message()));
    }
    out.weights.push_back(std::move(row));
    out.output_indices.push_back(static_cast<uint32_t>(pos));
  }
  return out;
}

}  // namespace stylizer
