// v1::Style messages for tests: one style by index, or a blend.
#ifndef STYLIZER_SERVER_SERVICE_TESTING_STYLE_PROTOS_H_
#define STYLIZER_SERVER_SERVICE_TESTING_STYLE_PROTOS_H_

#include <cstdint>
#include <vector>

#include "stylizer/v1/stylizer.pb.h"

namespace stylizer::testing {

inline v1::Style Index(uint32_t i) {
  v1::Style s;
  s.set_index(i);
  return s;
}

// `weights` may be empty (an equal mix) or as long as `indices`.
inline v1::Style Blend(const std::vector<uint32_t>& indices,
                       const std::vector<float>& weights) {
  v1::Style s;
  s.mutable_blend();
  for (uint32_t i : indices) s.mutable_blend()->add_indices(i);
  for (float w : weights) s.mutable_blend()->add_weights(w);
  return s;
}

}  // namespace stylizer::testing

#endif  // STYLIZER_SERVER_SERVICE_TESTING_STYLE_PROTOS_H_
