// Bearer-token check; see token_auth.h.
#include "server/service/token_auth.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/service/file_read.h"
#include "server/service/token_text.h"

namespace stylizer {
namespace {

constexpr size_t kMinTokenChars = 16;

// How messages name the file.
constexpr char kWhat[] = "auth token file";

// One token's checks; the message never holds the token.
absl::Status CheckToken(absl::string_view token) {
  if (token.size() < kMinTokenChars) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the auth token has ", token.size(), " characters; use at least ",
        kMinTokenChars, " (e.g. `openssl rand -hex 32`)"));
  }
  return CheckTokenText(token);
}

}  // namespace

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  // Walk the longer string fully so the time depends on lengths only.
  const size_t n = std::max(a.size(), b.size());
  volatile unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? a[i] : 0;
    const unsigned char y = i < b.size() ? b[i] : 0;
    diff = diff | (x ^ y);
  }
  return diff == 0;
}

absl::StatusOr<std::vector<std::string>> TokenAuth::ParseTokens(
    absl::string_view contents) {
  std::vector<std::string> tokens;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(contents, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || absl::StartsWith(line, "#")) continue;
    if (absl::Status s = CheckToken(line); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line_number, ": ", s.message()));
    }
    if (static_cast<int>(tokens.size()) == kMaxTokens) {
      return absl::InvalidArgumentError(
          absl::StrCat("more than ", kMaxTokens, " tokens"));
    }
    tokens.emplace_back(line);
  }
  if (tokens.empty()) {
    return absl::InvalidArgumentError(
        "no token (one per line; blank lines and lines starting with # are "
        "skipped)");
  }
  return tokens;
}

absl::StatusOr<std::unique_ptr<TokenAuth>> TokenAuth::FromToken(
    std::string token) {
  token = std::string(absl::StripAsciiWhitespace(token));
  if (absl::Status s = CheckToken(token); !s.ok()) return s;
  return std::unique_ptr<TokenAuth>(
      new TokenAuth("", "", std::vector<std::string>{std::move(token)}));
}

absl::StatusOr<std::unique_ptr<TokenAuth>> TokenAuth::FromFile(
    const std::string& path) {
  absl::StatusOr<std::string> contents = ReadWholeFile(path, kWhat);
  if (!contents.ok()) return contents.status();
  absl::StatusOr<std::vector<std::string>> tokens = ParseTokens(*contents);
  if (!tokens.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", tokens.status().message()));
  }
  return std::unique_ptr<TokenAuth>(
      new TokenAuth(path, *std::move(contents), *std::move(tokens)));
}

absl::StatusOr<TokenAuth::Reload> TokenAuth::ReloadIfChanged() {
  if (path_.empty()) return Reload::kUnchanged;
  absl::StatusOr<std::string> contents = ReadWholeFile(path_, kWhat);
  bool changed = false;
  if (contents.ok()) {
    absl::MutexLock lock(&mu_);
    changed = *contents != contents_;
  }
  if (changed) {
    if (settle_) {
      settle_();
    } else {
      absl::SleepFor(kSettleTime);
    }
    const absl::StatusOr<std::string> again = ReadWholeFile(path_, kWhat);
    // Still being written (or gone meanwhile): the next reload looks again,
    // and a file that never holds still is reported, once a streak.
    if (!again.ok() || *again != *contents) {
      absl::MutexLock lock(&mu_);
      if (++unsettled_reloads_ != kUnsettledReloadsReported) {
        return Reload::kUnchanged;
      }
      return absl::UnavailableError(absl::StrCat(
          path_, " changed between two reads ",
          absl::FormatDuration(kSettleTime), " apart at each of the last ",
          kUnsettledReloadsReported,
          " reloads; the tokens in use stay until it holds still (write it "
          "under another name and rename it over the file)"));
    }
  }
  absl::MutexLock lock(&mu_);
  unsettled_reloads_ = 0;
  if (!contents.ok()) {
    const std::string error = contents.status().ToString();
    if (error == read_error_) return Reload::kUnchanged;  // reported once
    read_error_ = error;
    return contents.status();
  }
  read_error_.clear();
  if (*contents == contents_) return Reload::kUnchanged;
  // Remembered even when unusable: the error is reported once per change.
  contents_ = *contents;
  absl::StatusOr<std::vector<std::string>> tokens = ParseTokens(*contents);
  if (!tokens.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ": ", tokens.status().message()));
  }
  tokens_ = *std::move(tokens);
  return Reload::kReloaded;
}

int TokenAuth::token_count() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(tokens_.size());
}

absl::Status TokenAuth::Check(absl::string_view authorization) const {
  constexpr absl::string_view kPrefix = "Bearer ";
  if (authorization.empty()) {
    return absl::UnauthenticatedError(
        "missing credentials: send the metadata `authorization: Bearer "
        "<token>`");
  }
  if (!absl::StartsWithIgnoreCase(authorization, kPrefix)) {
    return absl::UnauthenticatedError(
        "the authorization metadata must read `Bearer <token>`");
  }
  authorization.remove_prefix(kPrefix.size());
  const absl::string_view sent = absl::StripAsciiWhitespace(authorization);
  bool match = false;
  {
    absl::ReaderMutexLock lock(&mu_);
    // Every token is compared: the time does not tell which one matched.
    for (const std::string& token : tokens_) {
      match = ConstantTimeEquals(sent, token) || match;
    }
  }
  if (!match) return absl::UnauthenticatedError("invalid bearer token");
  return absl::OkStatus();
}

}  // namespace stylizer
