#include "server/service/token_text.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stylizer {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(TokenTextTest, VisibleAsciiIsATokenWhateverItsShape) {
  EXPECT_TRUE(CheckTokenText("0123456789abcdef").ok());
  EXPECT_TRUE(CheckTokenText("a-b.c_d~e+f/g==!#$%&'()*,:;<>?@[]^`{|}").ok());
}

TEST(TokenTextTest, SecondLinesSpacesAndControlBytesAreNamedNotEchoed) {
  const absl::Status newline =
      CheckTokenText("secret-token-0123456789\nsecond-line");
  EXPECT_EQ(newline.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(newline.message(), HasSubstr("byte 0x0a at position 24"));
  EXPECT_THAT(newline.message(), Not(HasSubstr("secret")));
  EXPECT_FALSE(CheckTokenText("two words-0123456789").ok());
  EXPECT_FALSE(CheckTokenText("ctl\x01-0123456789abcdef").ok());
  EXPECT_FALSE(CheckTokenText("caf\xc3\xa9-0123456789abcdef").ok());
  // The header's scheme, copied with the token, is named as such.
  const absl::Status bearer = CheckTokenText("Bearer 0123456789abcdef");
  EXPECT_THAT(bearer.message(), HasSubstr("starts with 'Bearer '"));
  EXPECT_THAT(bearer.message(), Not(HasSubstr("0123456789")));
}

}  // namespace
}  // namespace stylizer
