// Tests of the bearer-token check and the constant-time comparison.
#include "server/service/token_auth.h"

#include <cstdio>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stylizer {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kToken[] = "0123456789abcdef0123";

TEST(ConstantTimeEqualsTest, ComparesWholeStrings) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
  EXPECT_FALSE(ConstantTimeEquals("abcd", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("", "a"));
}

TEST(TokenAuthTest, AcceptsOnlyTheRightBearerToken) {
  auto auth = TokenAuth::FromToken(kToken);
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_TRUE((*auth)->Check(std::string("Bearer ") + kToken).ok());
  EXPECT_TRUE((*auth)->Check(std::string("bearer ") + kToken).ok());
  for (const std::string& bad :
       {std::string(""), std::string(kToken), std::string("Bearer "),
        std::string("Bearer 0123456789abcdef0124"),
        std::string("Basic ") + kToken}) {
    absl::Status s = (*auth)->Check(bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated) << bad;
    EXPECT_EQ(std::string(s.message()).find(kToken), std::string::npos);
  }
}

TEST(TokenAuthTest, ReadsAndTrimsTheFile) {
  const std::string path = ::testing::TempDir() + "/token";
  { std::ofstream(path) << "  " << kToken << "\n"; }
  auto auth = TokenAuth::FromFile(path);
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_TRUE((*auth)->Check(std::string("Bearer ") + kToken).ok());
  std::remove(path.c_str());
}

TEST(TokenAuthTest, RefusesMissingFileAndShortToken) {
  EXPECT_EQ(TokenAuth::FromFile("/nonexistent/token").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(TokenAuth::FromToken("short\n").status().code(),
            absl::StatusCode::kInvalidArgument);
}

// A token no client can send (it cannot go in a header) is refused at start,
// without echoing it.
TEST(TokenAuthTest, RefusesATokenOfTwoLines) {
  const absl::Status status =
      TokenAuth::FromToken("secret-token-0123456789\nsecond-line\n").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("0x0a"));
  EXPECT_THAT(std::string(status.message()), Not(HasSubstr("secret")));
}

}  // namespace
}  // namespace stylizer
