// Tests of style resolution: indices, blends, the empty list, and every way a
// style list can be wrong.
#include "server/service/style_resolution.h"

#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/service/testing/style_protos.h"

namespace stylizer {
namespace {

using ::stylizer::testing::Blend;
using ::stylizer::testing::Index;
using ::testing::ElementsAre;
using ::testing::FloatNear;
using ::testing::HasSubstr;

google::protobuf::RepeatedPtrField<v1::Style> Styles(
    std::initializer_list<v1::Style> list) {
  google::protobuf::RepeatedPtrField<v1::Style> out;
  for (const v1::Style& s : list) *out.Add() = s;
  return out;
}

TEST(ResolveStylesTest, EmptyListMeansEveryStyle) {
  auto r = ResolveStyles(Styles({}), 3, 64);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->output_indices, ElementsAre(0, 1, 2));
  EXPECT_THAT(r->weights[1], ElementsAre(0, 1, 0));
}

TEST(ResolveStylesTest, IndicesKeepRequestPositions) {
  auto r = ResolveStyles(Styles({Index(2), Index(0)}), 4, 64);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->output_indices, ElementsAre(0, 1));
  EXPECT_THAT(r->weights[0], ElementsAre(0, 0, 1, 0));
  EXPECT_THAT(r->weights[1], ElementsAre(1, 0, 0, 0));
}

TEST(ResolveStylesTest, BlendIsNormalised) {
  auto r = ResolveStyles(Styles({Blend({0, 3, 0}, {1, 2, 1})}), 4, 64);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->weights[0],
              ElementsAre(FloatNear(0.5, 1e-6), 0, 0, FloatNear(0.5, 1e-6)));
}

TEST(ResolveStylesTest, BlendWithoutWeightsIsAnEqualMix) {
  auto r = ResolveStyles(Styles({Blend({1, 2}, {})}), 4, 64);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->weights[0],
              ElementsAre(0, FloatNear(0.5, 1e-6), FloatNear(0.5, 1e-6), 0));
}

// Issue 13: [FLT_MAX, FLT_MAX] on one index overflowed the float sum to inf
// and was refused ("weight is inf") though both weights are finite.
TEST(ResolveStylesTest, HugeFiniteWeightsAreNormalised) {
  constexpr float kMax = std::numeric_limits<float>::max();
  constexpr float kTiny = std::numeric_limits<float>::denorm_min();
  auto r = ResolveStyles(
      Styles({Blend({0, 0}, {kMax, kMax}), Blend({0, 1, 2}, {kMax, kMax, kMax}),
              Blend({1, 2}, {kMax, kTiny}), Blend({3}, {kTiny})}),
      4, 64);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->weights[0], ElementsAre(1, 0, 0, 0));
  EXPECT_THAT(r->weights[1],
              ElementsAre(FloatNear(1.0 / 3, 1e-6), FloatNear(1.0 / 3, 1e-6),
                          FloatNear(1.0 / 3, 1e-6), 0));
  EXPECT_THAT(r->weights[2], ElementsAre(0, 1, 0, 0));
  EXPECT_THAT(r->weights[3], ElementsAre(0, 0, 0, 1));
}

TEST(ResolveStylesTest, RefusesBadStyles) {
  struct Case {
    v1::Style style;
    const char* message;
  };
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<Case> cases = {
      {Index(4), "index 4 is out of range"},
      {v1::Style(), "neither index nor blend"},
      {Blend({}, {}), "no indices"},
      {Blend({0, 1}, {1}), "2 indices but 1 weights"},
      {Blend({0, 9}, {1, 1}), "blend index 9 is out of range"},
      {Blend({0, 1}, {1, -1}), "blend.weights[1] is -1; weights must be finite"},
      {Blend({0, 1}, {1, nan}), "blend.weights[1] is nan; weights must be finite"},
      {Blend({0, 1}, {0, 0}), "all zero"},
  };
  for (const Case& c : cases) {
    auto r = ResolveStyles(Styles({Index(0), c.style}), 4, 64);
    ASSERT_FALSE(r.ok()) << c.message;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(r.status().message(), HasSubstr(c.message));
    EXPECT_THAT(r.status().message(), HasSubstr("styles[1]"));
  }
}

TEST(ResolveStylesTest, RefusesTooManyOutputs) {
  auto r = ResolveStyles(Styles({Index(0), Index(1), Index(0)}), 4, 2);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ResolveStyles(Styles({}), 4, 2).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace stylizer
