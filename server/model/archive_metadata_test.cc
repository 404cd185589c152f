// Tests of the archive metadata parsers: valid files, every rule of
// styles.json, and malformed JSON that must fail cleanly.
#include "server/model/archive_metadata.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stylizer {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ParseStylesJsonTest, ReadsNamesInIndexOrder) {
  auto names = ParseStylesJson(
      R"( [ {"index": 1, "name": "mosaic"}, {"name": "klimt", "index": 0},
            {"index": 2.0, "name": "van gogh \u00e9\n", "extra": [1, {"a": null}]} ] )");
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_THAT(*names, ElementsAre("klimt", "mosaic", "van gogh \xc3\xa9\n"));
}

TEST(ParseStylesJsonTest, RejectsZeroStyles) {
  auto names = ParseStylesJson("[]");
  EXPECT_EQ(names.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(names.status().message(), HasSubstr("zero styles"));
}

TEST(ParseStylesJsonTest, RejectsBadEntries) {
  for (const char* json : {
           R"({"index": 0, "name": "a"})",                            // not an array
           R"([{"index": 0}])",                                       // no name
           R"([{"name": "a"}])",                                      // no index
           R"([{"index": "0", "name": "a"}])",                        // string index
           R"([{"index": 1, "name": "a"}])",                          // out of range
           R"([{"index": -1, "name": "a"}])",                         // negative
           R"([{"index": 0.5, "name": "a"}])",                        // fraction
           R"([{"index": 0, "name": "a"}, {"index": 0, "name": "b"}])",  // twice
           R"([{"index": 0, "name": "a"}, {"index": 1, "name": "a"}])",  // same name
           R"([{"index": 0, "name": ""}])",                           // empty name
           R"([1, 2])",
       }) {
    EXPECT_EQ(ParseStylesJson(json).status().code(),
              absl::StatusCode::kInvalidArgument)
        << json;
  }
}

TEST(ParseStylesJsonTest, RejectsMalformedJson) {
  for (const char* json :
       {"", "[", "[{", R"([{"index": 0, "name": "a"})", R"([{"index": 0 "name": "a"}])",
        R"([{"index": 0, "name": "a}])", R"([{"index": 0, "name": "\x"}])",
        R"([{"index": 0, "name": "\u12"}])", "[] []", "[nul]", "[1e999]",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}) {
    auto names = ParseStylesJson(json);
    EXPECT_EQ(names.status().code(), absl::StatusCode::kInvalidArgument) << json;
  }
}

// Numbers outside JSON's grammar were read (SimpleAtod takes them), so the
// server served archives that Python's json, and the training tools, refuse.
TEST(ParseStylesJsonTest, NumbersFollowJsonsGrammar) {
  for (const char* index : {"+0", "01", "00", ".5", "1.", "1e", "1e+", "-",
                            "--1", "0x1", "1.5.5", "-01"}) {
    const std::string json =
        absl::StrCat(R"([{"index": )", index, R"(, "name": "a"}])");
    EXPECT_EQ(ParseStylesJson(json).status().code(),
              absl::StatusCode::kInvalidArgument)
        << json;
  }
  for (const char* index : {"0", "0.0", "-0", "0e0", "0E+0", "0.0e-1"}) {
    const std::string json =
        absl::StrCat(R"([{"index": )", index, R"(, "name": "a"}])");
    EXPECT_TRUE(ParseStylesJson(json).ok()) << json;
  }
}

// Python's json takes the last of a repeated key and this reader took the
// first: the server and the training tools named the styles differently.
TEST(ParseStylesJsonTest, ARepeatedKeyIsRefused) {
  const absl::StatusOr<std::vector<std::string>> names =
      ParseStylesJson(R"([{"index": 0, "name": "klimt", "index": 1},)"
                      R"( {"index": 1, "name": "mosaic", "index": 0}])");
  EXPECT_EQ(names.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(names.status().message()),
              HasSubstr("\"index\" appears twice"));
}

// Python's json.dumps (the exporter's) writes a character past U+FFFF as a
// surrogate pair. Each half became three bytes of its own, invalid UTF-8:
// the names went into GetModelInfo's proto3 strings, and every client's
// GetModelInfo failed ("Exception deserializing response").
TEST(ParseStylesJsonTest, SurrogatePairsAreOneCharacter) {
  auto names = ParseStylesJson(
      R"([{"index": 0, "name": "\ud83c\udfa8art"}, {"index": 1, "name": "\u00e9"}])");
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_THAT(*names, ElementsAre("\xf0\x9f\x8e\xa8"
                                  "art",
                                  "\xc3\xa9"));
  // Raw UTF-8 reads the same.
  names = ParseStylesJson("[{\"index\": 0, \"name\": \"\xf0\x9f\x8e\xa8\"}]");
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_THAT(*names, ElementsAre("\xf0\x9f\x8e\xa8"));
}

TEST(ParseStylesJsonTest, RejectsWhatIsNotUtf8) {
  for (const char* json : {
           R"([{"index": 0, "name": "\ud83c"}])",           // high half alone
           R"([{"index": 0, "name": "\ud83cx"}])",          // followed by text
           R"([{"index": 0, "name": "\ud83c\u0041"}])",     // not a low half
           R"([{"index": 0, "name": "\udfa8"}])",           // low half alone
           "[{\"index\": 0, \"name\": \"\xff\"}]",          // not UTF-8
           "[{\"index\": 0, \"name\": \"\xc0\xaf\"}]",      // overlong
           "[{\"index\": 0, \"name\": \"\xed\xa0\x80\"}]",  // raw surrogate
           "[{\"index\": 0, \"name\": \"\xf4\x90\x80\x80\"}]",  // > U+10FFFF
           "[{\"index\": 0, \"name\": \"\xe2\x82\"}]",          // cut short
       }) {
    EXPECT_EQ(ParseStylesJson(json).status().code(),
              absl::StatusCode::kInvalidArgument)
        << json;
  }
  // The model's own name and its whole text too (it is sent as it is).
  EXPECT_EQ(ParseModelName("{\"name\": \"a\", \"note\": \"\xff\"}", "x")
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ParseModelNameTest, ReadsNameOrFallsBack) {
  EXPECT_EQ(*ParseModelName(R"({"name": "seed8", "num_styles": 8})", "x"), "seed8");
  EXPECT_EQ(*ParseModelName(R"({"architecture": "a"})", "stem"), "stem");
  EXPECT_EQ(*ParseModelName(R"({"name": 3})", "stem"), "stem");
  EXPECT_EQ(ParseModelName("[]", "stem").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseModelName("{", "stem").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace stylizer
