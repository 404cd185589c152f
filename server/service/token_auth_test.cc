// Tests of the bearer-token check and the constant-time comparison.
#include "server/service/token_auth.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"
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
  const std::string path =
      absl::StrCat(::testing::TempDir(), "/token.", getpid());
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

constexpr char kOther[] = "fedcba9876543210fedcba";

absl::Status CheckBearer(const TokenAuth& auth, const std::string& token) {
  return auth.Check("Bearer " + token);
}

// "reloaded", "unchanged", or the error.
std::string ReloadOutcome(TokenAuth& auth) {
  const absl::StatusOr<TokenAuth::Reload> r = auth.ReloadIfChanged();
  if (!r.ok()) return r.status().ToString();
  return *r == TokenAuth::Reload::kReloaded ? "reloaded" : "unchanged";
}

// One token per line, blank lines and comments skipped: during a rotation
// both the old and the new token are accepted.
TEST(TokenAuthTest, AFileMayHoldSeveralTokens) {
  const std::string path =
      absl::StrCat(::testing::TempDir(), "/tokens.", getpid());
  {
    std::ofstream(path) << "# rotation: new token first\n"
                        << kOther << "\n\n   " << kToken << "  \n";
  }
  auto auth = TokenAuth::FromFile(path);
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_EQ((*auth)->token_count(), 2);
  EXPECT_TRUE(CheckBearer(**auth, kToken).ok());
  EXPECT_TRUE(CheckBearer(**auth, kOther).ok());
  EXPECT_FALSE(CheckBearer(**auth, "# rotation: new token first").ok());
  std::remove(path.c_str());
}

TEST(TokenAuthTest, ParseNamesTheBadLineNeverTheToken) {
  auto short_line =
      TokenAuth::ParseTokens(std::string(kToken) + "\nsecret-short\n");
  EXPECT_EQ(short_line.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(short_line.status().message()),
              HasSubstr("line 2: the auth token has 12 characters"));
  EXPECT_THAT(std::string(short_line.status().message()),
              Not(HasSubstr("secret")));
  auto inner_space = TokenAuth::ParseTokens("secret-token 0123456789\n");
  EXPECT_THAT(std::string(inner_space.status().message()),
              HasSubstr("line 1: "));
  EXPECT_THAT(std::string(inner_space.status().message()),
              Not(HasSubstr("secret")));
  EXPECT_THAT(std::string(TokenAuth::ParseTokens("# only a comment\n\n")
                              .status()
                              .message()),
              HasSubstr("no token"));
  std::string many;
  for (int i = 0; i <= TokenAuth::kMaxTokens; ++i) {
    absl::StrAppend(&many, kToken, i, "\n");
  }
  EXPECT_THAT(std::string(TokenAuth::ParseTokens(many).status().message()),
              HasSubstr("more than 64 tokens"));
}

// The file is read again: a new token works and a removed one stops
// working, without a restart; a file with no usable token is refused once
// and the tokens in use stay.
TEST(TokenAuthTest, ReloadsAChangedFileAndKeepsTheOldTokensOnABadOne) {
  const std::string path =
      absl::StrCat(::testing::TempDir(), "/rotating.", getpid());
  { std::ofstream(path) << kToken << "\n"; }
  auto auth = TokenAuth::FromFile(path);
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_EQ(ReloadOutcome(**auth), "unchanged");

  { std::ofstream(path) << kToken << "\n" << kOther << "\n"; }
  EXPECT_EQ(ReloadOutcome(**auth), "reloaded");
  EXPECT_TRUE(CheckBearer(**auth, kOther).ok());
  EXPECT_TRUE(CheckBearer(**auth, kToken).ok());

  { std::ofstream(path) << kOther << "\n"; }
  EXPECT_EQ(ReloadOutcome(**auth), "reloaded");
  EXPECT_TRUE(CheckBearer(**auth, kOther).ok());
  EXPECT_EQ(CheckBearer(**auth, kToken).code(),
            absl::StatusCode::kUnauthenticated);

  { std::ofstream(path) << "short\n"; }  // a mistake while editing
  const auto bad = (*auth)->ReloadIfChanged();
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr(path));
  EXPECT_EQ(ReloadOutcome(**auth), "unchanged");  // reported once
  EXPECT_TRUE(CheckBearer(**auth, kOther).ok());

  std::remove(path.c_str());  // gone: an error, the tokens stay
  EXPECT_EQ((*auth)->ReloadIfChanged().status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(CheckBearer(**auth, kOther).ok());
  // Reported once too: it was logged at every reload while the file was
  // missing.
  EXPECT_EQ(ReloadOutcome(**auth), "unchanged");
  EXPECT_EQ(ReloadOutcome(**auth), "unchanged");
  // Back with new tokens: reloaded.
  { std::ofstream(path) << kToken << "\n"; }
  EXPECT_EQ(ReloadOutcome(**auth), "reloaded");
  EXPECT_TRUE(CheckBearer(**auth, kToken).ok());
  std::remove(path.c_str());
}

// A file written in place may be read half written: a token cut after its
// 16th character passes every check. A change is taken only when a second
// read agrees; here the writer finishes between the two reads.
TEST(TokenAuthTest, AHalfWrittenFileIsNotTaken) {
  const std::string path =
      absl::StrCat(::testing::TempDir(), "/half_written.", getpid());
  { std::ofstream(path) << kToken << "\n"; }
  auto auth = TokenAuth::FromFile(path);
  ASSERT_TRUE(auth.ok()) << auth.status();
  const std::string cut(kOther, 20);
  { std::ofstream(path) << kToken << "\n" << cut; }
  (*auth)->SetSettleForTest([&] {
    std::ofstream(path) << kToken << "\n" << kOther << "\n";
  });
  EXPECT_EQ(ReloadOutcome(**auth), "unchanged");
  EXPECT_EQ(CheckBearer(**auth, cut).code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(CheckBearer(**auth, kToken).ok());
  // Written whole: the next reload takes it.
  (*auth)->SetSettleForTest([] {});
  EXPECT_EQ(ReloadOutcome(**auth), "reloaded");
  EXPECT_TRUE(CheckBearer(**auth, kOther).ok());
  EXPECT_EQ(CheckBearer(**auth, cut).code(),
            absl::StatusCode::kUnauthenticated);
  std::remove(path.c_str());
}

// A file rewritten in place all the time was never taken, and nothing said
// why: a streak of reloads whose two reads differ is reported once.
TEST(TokenAuthTest, AFileThatNeverHoldsStillIsReportedOnce) {
  const std::string path =
      absl::StrCat(::testing::TempDir(), "/never_still.", getpid());
  { std::ofstream(path) << kToken << "\n"; }
  auto auth = TokenAuth::FromFile(path);
  ASSERT_TRUE(auth.ok()) << auth.status();
  int writes = 0;
  auto rewrite = [&] {
    std::ofstream(path) << kToken << "\n" << kOther << "\n# " << ++writes;
  };
  rewrite();
  (*auth)->SetSettleForTest(rewrite);
  for (int i = 1; i < TokenAuth::kUnsettledReloadsReported; ++i) {
    EXPECT_EQ(ReloadOutcome(**auth), "unchanged") << i;
  }
  const std::string report = ReloadOutcome(**auth);
  EXPECT_THAT(report, HasSubstr("UNAVAILABLE"));
  EXPECT_THAT(report, HasSubstr("changed between two reads 200ms apart"));
  EXPECT_THAT(report, HasSubstr("rename it over"));
  EXPECT_EQ(ReloadOutcome(**auth), "unchanged");  // reported once
  EXPECT_TRUE(CheckBearer(**auth, kToken).ok());
  EXPECT_EQ(CheckBearer(**auth, kOther).code(),
            absl::StatusCode::kUnauthenticated);
  (*auth)->SetSettleForTest([] {});
  EXPECT_EQ(ReloadOutcome(**auth), "reloaded");
  EXPECT_TRUE(CheckBearer(**auth, kOther).ok());
  std::remove(path.c_str());
}

}  // namespace
}  // namespace stylizer
