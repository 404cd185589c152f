// Tests of what the server logs of a caller's x-request-id.
#include "server/service/request_id.h"

#include <string>

#include "gtest/gtest.h"

namespace stylizer {
namespace {

TEST(LoggedRequestIdTest, VisibleAsciiStays) {
  EXPECT_EQ(LoggedRequestId("movie-7f3a"), "movie-7f3a");
  EXPECT_EQ(LoggedRequestId("a b~!"), "a b~!");
  EXPECT_EQ(LoggedRequestId(""), "");
}

// Bytes past ASCII, or a character cut at the limit, made JSON log lines
// that are not UTF-8; control bytes are turned too.
TEST(LoggedRequestIdTest, OtherBytesBecomeQuestionMarks) {
  EXPECT_EQ(LoggedRequestId("id-\xff\xfe\xc2"), "id-???");
  EXPECT_EQ(LoggedRequestId(std::string("a\0b\n\x7f", 5)), "a?b??");
  const std::string cut = std::string(127, 'x') + "\xc3\xa9";  // é at 127
  const std::string logged = LoggedRequestId(cut);
  EXPECT_EQ(logged.size(), kMaxRequestIdBytes);
  EXPECT_EQ(logged.back(), '?');
}

}  // namespace
}  // namespace stylizer
