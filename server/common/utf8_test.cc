// Tests of the UTF-8 check.
#include "server/common/utf8.h"

#include <gtest/gtest.h>

#include "absl/strings/escaping.h"

namespace stylizer {
namespace {

TEST(Utf8Test, WellFormedSequences) {
  EXPECT_EQ(Utf8SequenceLength("a", 0), 1u);
  EXPECT_EQ(Utf8SequenceLength("\xc3\xa9", 0), 2u);           // é
  EXPECT_EQ(Utf8SequenceLength("\xe2\x9c\x93", 0), 3u);       // ✓
  EXPECT_EQ(Utf8SequenceLength("\xf0\x9f\x8e\xa8", 0), 4u);   // 🎨
  EXPECT_EQ(Utf8SequenceLength("x\xf4\x8f\xbf\xbf", 1), 4u);  // U+10FFFF
}

TEST(Utf8Test, MalformedSequences) {
  for (absl::string_view bad :
       {"\xff", "\x80", "\xc3", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80",
        "\xf4\x90\x80\x80", "\xf0\x9f\x8e", "\xc3\x28"}) {
    EXPECT_EQ(Utf8SequenceLength(bad, 0), 0u) << absl::CHexEscape(bad);
  }
}

}  // namespace
}  // namespace stylizer
