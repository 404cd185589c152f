// Tests of TerminalSafe: control characters and bytes that are not UTF-8 are
// written out, everything printable stays.
#include "client/terminal_text.h"

#include "gtest/gtest.h"

namespace stylizer::client {
namespace {

TEST(TerminalSafeTest, PrintableTextStays) {
  EXPECT_EQ(TerminalSafe("klimt"), "klimt");
  EXPECT_EQ(
      TerminalSafe("caf\xc3\xa9 \xe6\xb0\xb4\xe5\xa2\xa8 \xf0\x9f\x8e\xa8"),
      "caf\xc3\xa9 \xe6\xb0\xb4\xe5\xa2\xa8 \xf0\x9f\x8e\xa8");
  EXPECT_EQ(TerminalSafe("\xc2\xa0\xc2\xbf"),
            "\xc2\xa0\xc2\xbf");  // U+00A0, U+00BF
  EXPECT_EQ(TerminalSafe(""), "");
}

TEST(TerminalSafeTest, ControlsAndBrokenBytesAreWrittenOut) {
  EXPECT_EQ(TerminalSafe("\x1b]0;PWNED\x07\x1b[31mred"),
            "\\x1b]0;PWNED\\x07\\x1b[31mred");
  EXPECT_EQ(TerminalSafe("a\r\x1b[2Kfake\nb\t\x7f"),
            "a\\x0d\\x1b[2Kfake\\x0ab\\x09\\x7f");
  EXPECT_EQ(TerminalSafe("\xc2\x9b"
                         "31m"),
            "\\u009b31m");  // C1 CSI
  EXPECT_EQ(TerminalSafe("\xc2\x80\xc2\x9f"), "\\u0080\\u009f");
  EXPECT_EQ(TerminalSafe("\xff\xc3"), "\\xff\\xc3");  // not UTF-8
  EXPECT_EQ(TerminalSafe(std::string("a\0b", 3)), "a\\x00b");
  // The characters that turn text around or hide.
  EXPECT_EQ(TerminalSafe("x\xe2\x80\xaegnp.exe"), "x\\u202egnp.exe");
  EXPECT_EQ(TerminalSafe("\xe2\x81\xa9\xd8\x9c\xe2\x80\x8f"),
            "\\u2069\\u061c\\u200f");
  EXPECT_EQ(TerminalSafe("\xe2\x80\x94\xe6\xb0\xb4"),
            "\xe2\x80\x94\xe6\xb0\xb4");
}

}  // namespace
}  // namespace stylizer::client
