// Tests of the style SPEC parser: all, indices, names, blends, errors.
#include "client/style_spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace stylizer::client {
namespace {

using ::testing::HasSubstr;

stylizer::v1::ModelInfo Model() {
  stylizer::v1::ModelInfo m;
  const char* names[] = {"klimt", "mosaic", "outcry", "picasso"};
  for (int i = 0; i < 4; ++i) {
    auto* s = m.add_styles();
    s->set_index(i);
    s->set_name(names[i]);
  }
  return m;
}

TEST(StyleSpecTest, AllExpandsToEveryStyleInOrder) {
  auto r = ParseStyleSpec("all", Model());
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ((*r)[i].style.index(), static_cast<uint32_t>(i));
  }
  EXPECT_EQ((*r)[2].label, "outcry");
}

TEST(StyleSpecTest, IndicesAndNamesMix) {
  auto r = ParseStyleSpec(" 3, klimt ,Mosaic", Model());
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].style.index(), 3u);
  EXPECT_EQ((*r)[0].label, "picasso");
  EXPECT_EQ((*r)[1].style.index(), 0u);
  EXPECT_EQ((*r)[2].style.index(), 1u);  // case-insensitive match
  EXPECT_EQ((*r)[2].label, "mosaic");
}

TEST(StyleSpecTest, BlendIsNormalisedAndLabelled) {
  auto r = ParseStyleSpec("klimt:0.7+outcry:0.3", Model());
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 1u);
  const auto& style = (*r)[0].style;
  ASSERT_TRUE(style.has_blend());
  EXPECT_THAT(style.blend().indices(), ::testing::ElementsAre(0u, 2u));
  EXPECT_FLOAT_EQ(style.blend().weights(0), 0.7f);
  EXPECT_FLOAT_EQ(style.blend().weights(1), 0.3f);
  EXPECT_EQ((*r)[0].label, "klimt0.7+outcry0.3");
}

TEST(StyleSpecTest, BlendWeightsDefaultToEqual) {
  auto r = ParseStyleSpec("0+1:1+picasso:2", Model());
  ASSERT_TRUE(r.ok()) << r.status();
  const auto& blend = (*r)[0].style.blend();
  ASSERT_EQ(blend.weights_size(), 3);
  EXPECT_FLOAT_EQ(blend.weights(0), 0.25f);
  EXPECT_FLOAT_EQ(blend.weights(1), 0.25f);
  EXPECT_FLOAT_EQ(blend.weights(2), 0.5f);
}

TEST(StyleSpecTest, AllPlusBlend) {
  auto r = ParseStyleSpec("all,klimt:1+mosaic:1", Model());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->size(), 5u);
  EXPECT_TRUE((*r)[4].style.has_blend());
}

TEST(StyleSpecTest, LoneTermWithWeightIsTheStyle) {
  auto r = ParseStyleSpec("mosaic:0.4", Model());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)[0].style.index(), 1u);
}

TEST(StyleSpecTest, Errors) {
  struct Case {
    const char* spec;
    const char* says;
  } cases[] = {
      {"", "empty style list"},
      {"  ", "empty style list"},
      {"klimt,,mosaic", "empty item"},
      {"waves", "unknown style 'waves'"},
      {"4", "out of range"},
      {"99999999999999", "bad style index"},
      {"klimt:-1+mosaic:1", "bad weight"},
      {"klimt:x+mosaic", "bad weight"},
      {"klimt:nan+mosaic", "bad weight"},
      {"klimt:0+mosaic:0", "all zero"},
      {"klimt:0", "the weight of 'klimt:0' is zero"},
      {"klimt:1+mosaic:0,klimt", "requested twice"},
      {"klimt:2+mosaic:0,klimt:1+2:0", "requested twice"},
      {"klimt+klimt", "appears twice"},
      {"klimt,0", "requested twice"},
      {"all,mosaic", "requested twice"},
      {"klimt+", "missing style name"},
      {":0.5", "missing style name"},
  };
  for (const Case& c : cases) {
    auto r = ParseStyleSpec(c.spec, Model());
    ASSERT_FALSE(r.ok()) << c.spec;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.spec;
    EXPECT_THAT(r.status().message(), HasSubstr(c.says)) << c.spec;
  }
}

TEST(StyleSpecTest, UnknownNameListsKnownStyles) {
  auto r = ParseStyleSpec("waves", Model());
  EXPECT_THAT(r.status().message(), HasSubstr("0=klimt, 1=mosaic"));
}

TEST(StyleSpecTest, ModelWithoutStyles) {
  auto r = ParseStyleSpec("all", stylizer::v1::ModelInfo());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(StyleSpecTest, SafeLabel) {
  EXPECT_EQ(SafeLabel("klimt"), "klimt");
  EXPECT_EQ(SafeLabel("a b/c"), "a_b_c");
  EXPECT_EQ(SafeLabel(".hidden"), "_hidden");
  EXPECT_EQ(SafeLabel(""), "style");
  EXPECT_EQ(SafeLabel("x0.5+y0.5"), "x0.5+y0.5");
  // Characters past ASCII stay, but not the C1 controls (U+009B is CSI).
  EXPECT_EQ(SafeLabel("caf\xc3\xa9"), "caf\xc3\xa9");
  EXPECT_EQ(SafeLabel("a\xc2\x9b"
                      "31mb\xc2\x85"),
            "a_31mb_");
  // Nor a right-to-left override (U+202E), isolates or invisible ones: a
  // file name "in.x<RLO>gnp.exe.png" shows as "in.xexe.png".
  EXPECT_EQ(SafeLabel("x\xe2\x80\xaegnp.exe"), "x_gnp.exe");
  EXPECT_EQ(SafeLabel("a\xe2\x81\xa6"
                      "b\xe2\x80\x8b"
                      "c\xef\xbb\xbf"),
            "a_b_c_");
  EXPECT_EQ(SafeLabel("\xe2\x80\x94"), "\xe2\x80\x94");  // an em dash stays
  // The joiners stay: Persian and Indic names and emoji need them.
  EXPECT_EQ(SafeLabel("\xd9\x85\xe2\x80\x8c\xd9\x86"),
            "\xd9\x85\xe2\x80\x8c\xd9\x86");
}

stylizer::v1::ModelInfo ModelNamed(std::vector<std::string> names) {
  stylizer::v1::ModelInfo m;
  for (size_t i = 0; i < names.size(); ++i) {
    auto* s = m.add_styles();
    s->set_index(static_cast<uint32_t>(i));
    s->set_name(names[i]);
  }
  return m;
}

// Names that clean up to one label ("night sky", "night_sky") made every
// `all` (the default of image and video) fail with "requested twice": they
// are distinct outputs, labelled apart by their index. Names past ASCII keep
// their letters.
TEST(StyleSpecTest, DistinctStylesWhoseLabelsMeetAreToldApart) {
  auto r = ParseStyleSpec("all", ModelNamed({"night sky", "night_sky",
                                             "caf\xc3\xa9", "caf\xc3\xa8"}));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 4u);
  EXPECT_EQ((*r)[0].label, "night_sky");
  EXPECT_EQ((*r)[1].label, "night_sky-1");
  EXPECT_EQ((*r)[2].label, "caf\xc3\xa9");
  EXPECT_EQ((*r)[3].label, "caf\xc3\xa8");
  // Blends whose rounded labels meet are distinct outputs too.
  r = ParseStyleSpec("0:0.3331+2:0.6669,0:0.3332+2:0.6668",
                     ModelNamed({"a", "b", "c"}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)[0].label, "a0.333+c0.667");
  EXPECT_EQ((*r)[1].label, "a0.333+c0.667-2");
}

// A name that starts with a digit was read as a bad index.
TEST(StyleSpecTest, NamesMayStartWithADigit) {
  auto r = ParseStyleSpec("1920s,0", ModelNamed({"klimt", "1920s"}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)[0].style.index(), 1u);
  EXPECT_EQ((*r)[0].label, "1920s");
  EXPECT_EQ((*r)[1].style.index(), 0u);
  // Digits only are an index: "1" is 1920s too, requested twice.
  r = ParseStyleSpec("1920s,1", ModelNamed({"klimt", "1920s", "x"}));
  EXPECT_THAT(r.status().message(), HasSubstr("requested twice"));
}

// The same blend in another order is the same output: it was computed twice.
TEST(StyleSpecTest, ABlendInAnotherOrderIsTheSameOutput) {
  auto r = ParseStyleSpec("klimt+mosaic,mosaic+klimt", Model());
  EXPECT_THAT(r.status().message(), HasSubstr("requested twice"));
}

TEST(StyleSpecTest, UnsafeNamesBecomeSafeLabels) {
  stylizer::v1::ModelInfo m;
  auto* s = m.add_styles();
  s->set_index(0);
  s->set_name("../evil name");
  auto r = ParseStyleSpec("0", m);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].label, "_._evil_name");
}

}  // namespace
}  // namespace stylizer::client
