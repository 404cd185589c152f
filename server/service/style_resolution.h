// Turns the Style list of a request (indices, blends, or nothing) into the
// style-weight rows the job queue takes, with one output index per row. Shared
// by every RPC so that all of them accept and refuse exactly the same styles.
#ifndef STYLIZER_SERVER_SERVICE_STYLE_RESOLUTION_H_
#define STYLIZER_SERVER_SERVICE_STYLE_RESOLUTION_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/repeated_field.h"
#include "stylizer/v1/stylizer.pb.h"

namespace stylizer {

// The outputs a request asked for.
struct ResolvedStyles {
  // One row of num_styles weights per output, non-negative, summing to 1.
  std::vector<std::vector<float>> weights;
  // output_index of each row: its position in the request's list, or the
  // style index when the list was empty.
  std::vector<uint32_t> output_indices;

  size_t size() const { return weights.size(); }
};

// Resolves `styles` against a model of `num_styles` styles:
//  - an empty list means every style, in index order (output_index = index);
//  - {index: i} is the one-hot row of style i (i < num_styles);
//  - {blend: {indices, weights}} mixes styles: indices non-empty and in range,
//    weights empty (equal mix) or one finite non-negative weight per index,
//    not all zero; repeated indices add up; the row is normalised to sum 1.
// Returns INVALID_ARGUMENT naming the offending entry otherwise, or when more
// than `max_outputs` styles are asked for.
absl::StatusOr<ResolvedStyles> ResolveStyles(
    const google::protobuf::RepeatedPtrField<v1::Style>& styles, int num_styles,
    int max_outputs);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVICE_STYLE_RESOLUTION_H_
