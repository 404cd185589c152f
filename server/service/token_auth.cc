// Bearer-token check; see token_auth.h.
#include "server/service/token_auth.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/service/token_text.h"

namespace stylizer {

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

absl::StatusOr<std::unique_ptr<TokenAuth>> TokenAuth::FromToken(
    std::string token) {
  token = std::string(absl::StripAsciiWhitespace(token));
  if (token.size() < 16) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the auth token has ", token.size(),
        " characters; use at least 16 (e.g. `openssl rand -hex 32`)"));
  }
  if (absl::Status text = CheckTokenText(token); !text.ok()) return text;
  return std::unique_ptr<TokenAuth>(new TokenAuth(std::move(token)));
}

absl::StatusOr<std::unique_ptr<TokenAuth>> TokenAuth::FromFile(
    const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    const std::string what = absl::StrCat("cannot read the auth token file ",
                                          path, ": ", std::strerror(err));
    return err == EACCES ? absl::PermissionDeniedError(what)
                         : absl::NotFoundError(what);
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  absl::StatusOr<std::unique_ptr<TokenAuth>> auth = FromToken(buffer.str());
  if (!auth.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", auth.status().message()));
  }
  return auth;
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
  if (!ConstantTimeEquals(absl::StripAsciiWhitespace(authorization), token_)) {
    return absl::UnauthenticatedError("invalid bearer token");
  }
  return absl::OkStatus();
}

}  // namespace stylizer
