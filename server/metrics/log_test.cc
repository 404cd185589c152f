// Tests of the structured logger: both formats, escaping, flag parsing.
#include "server/metrics/log.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stylizer {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetLogSink([this](absl::string_view line) { lines_.emplace_back(line); });
  }
  void TearDown() override {
    SetLogSink(nullptr);
    SetLogFormat(LogFormat::kText);
  }
  std::vector<std::string> lines_;
};

TEST_F(LogTest, TextIsOneLogfmtLine) {
  SetLogFormat(LogFormat::kText);
  LogEvent(LogLevel::kInfo, "rpc")
      .Str("method", "StylizeImage")
      .Str("peer", "ipv4:127.0.0.1:5000")
      .Int("frames", 3)
      .Seconds("seconds", absl::Milliseconds(250))
      .Bool("ok", true);
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_THAT(lines_[0],
              MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z info rpc "
                           "method=StylizeImage peer=ipv4:127.0.0.1:5000 "
                           "frames=3 seconds=0.25 ok=true"));
}

TEST_F(LogTest, TextQuotesValuesThatNeedIt) {
  SetLogFormat(LogFormat::kText);
  LogEvent(LogLevel::kWarning, "rpc")
      .Str("message", "bad \"style\" index\nsecond line")
      .Str("empty", "")
      .Str("eq", "a=b");
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_THAT(lines_[0], HasSubstr(" warning rpc "));
  EXPECT_THAT(lines_[0],
              HasSubstr("message=\"bad \\\"style\\\" index\\nsecond line\""));
  EXPECT_THAT(lines_[0], HasSubstr("empty=\"\""));
  EXPECT_THAT(lines_[0], HasSubstr("eq=\"a=b\""));
  EXPECT_THAT(lines_[0], Not(HasSubstr("\n")));
}

TEST_F(LogTest, JsonIsOneObjectPerLine) {
  SetLogFormat(LogFormat::kJson);
  LogEvent(LogLevel::kError, "job")
      .Str("job_id", "j-1")
      .Str("message", "tab\there \"quoted\" \\ back\x01")
      .Int("frames", -2)
      .Num("fps", 29.97)
      .Num("nan", std::nan(""))
      .Bool("audio", false);
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_THAT(lines_[0], MatchesRegex("\\{\"ts\":\"[0-9T:.Z-]+\",.*\\}"));
  EXPECT_THAT(lines_[0], HasSubstr("\"level\":\"error\",\"event\":\"job\""));
  EXPECT_THAT(lines_[0], HasSubstr("\"job_id\":\"j-1\""));
  EXPECT_THAT(lines_[0],
              HasSubstr("\"message\":\"tab\\there \\\"quoted\\\" \\\\ "
                        "back\\u0001\""));
  EXPECT_THAT(lines_[0], HasSubstr("\"frames\":-2"));
  EXPECT_THAT(lines_[0], HasSubstr("\"fps\":29.97"));
  EXPECT_THAT(lines_[0], HasSubstr("\"nan\":\"nan\""));
  EXPECT_THAT(lines_[0], HasSubstr("\"audio\":false}"));
}

// FFmpeg's error lines quote bytes of the uploaded file ("Unexpected
// Content-type : \xff\xfe/jpeg"), or are cut inside a character: they were
// written as they were, and the line was not UTF-8, so not JSON.
TEST_F(LogTest, BytesThatAreNotUtf8BecomeReplacementCharacters) {
  SetLogFormat(LogFormat::kJson);
  LogEvent(LogLevel::kError, "ffmpeg")
      .Str("quoted", "type : \xff\xfe/jpeg")
      .Str("cut", "caf\xc3")
      .Str("overlong", "\xc0\xaf")
      .Str("surrogate", "\xed\xa0\x80")
      .Str("fine", "caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x8e\xa8");
  SetLogFormat(LogFormat::kText);
  LogEvent(LogLevel::kError, "ffmpeg").Str("quoted", "\xff");
  ASSERT_EQ(lines_.size(), 2u);
  EXPECT_THAT(lines_[0],
              HasSubstr("\"quoted\":\"type : \xef\xbf\xbd\xef\xbf\xbd/jpeg\""));
  EXPECT_THAT(lines_[0], HasSubstr("\"cut\":\"caf\xef\xbf\xbd\""));
  EXPECT_THAT(lines_[0],
              HasSubstr("\"overlong\":\"\xef\xbf\xbd\xef\xbf\xbd\""));
  EXPECT_THAT(
      lines_[0],
      HasSubstr("\"surrogate\":\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""));
  EXPECT_THAT(lines_[0], HasSubstr("\"fine\":\"caf\xc3\xa9 \xe2\x9c\x93 "
                                   "\xf0\x9f\x8e\xa8\""));
  EXPECT_THAT(lines_[1], HasSubstr("quoted=\"\xef\xbf\xbd\""));
}

TEST(LogFormatFlagTest, ParsesAndUnparses) {
  LogFormat format = LogFormat::kText;
  std::string error;
  EXPECT_TRUE(AbslParseFlag("json", &format, &error));
  EXPECT_EQ(format, LogFormat::kJson);
  EXPECT_EQ(AbslUnparseFlag(format), "json");
  EXPECT_TRUE(AbslParseFlag("TEXT", &format, &error));
  EXPECT_EQ(format, LogFormat::kText);
  EXPECT_EQ(AbslUnparseFlag(format), "text");
  EXPECT_FALSE(AbslParseFlag("xml", &format, &error));
  EXPECT_THAT(error, HasSubstr("'text' or 'json'"));
}

}  // namespace
}  // namespace stylizer
