// Bearer-token authentication: every Stylizer call must carry the metadata
// "authorization: Bearer <token>" with the token read from a file at startup.
// The comparison takes the same time wherever the tokens differ.
#ifndef STYLIZER_SERVER_SERVICE_TOKEN_AUTH_H_
#define STYLIZER_SERVER_SERVICE_TOKEN_AUTH_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace stylizer {

class TokenAuth {
 public:
  // Reads the token from `path` (surrounding whitespace and newlines
  // trimmed). NOT_FOUND / PERMISSION_DENIED if unreadable, INVALID_ARGUMENT if
  // empty, shorter than 16 characters or not one line of visible ASCII
  // (CheckTokenText).
  static absl::StatusOr<std::unique_ptr<TokenAuth>> FromFile(
      const std::string& path);
  // Uses `token` directly (same checks as FromFile).
  static absl::StatusOr<std::unique_ptr<TokenAuth>> FromToken(
      std::string token);

  // Checks one "authorization" metadata value (absent = empty). Returns OK or
  // UNAUTHENTICATED with a message that never reveals the expected token.
  absl::Status Check(absl::string_view authorization) const;

 private:
  explicit TokenAuth(std::string token) : token_(std::move(token)) {}
  const std::string token_;
};

// True when a and b are equal; the time taken depends only on their lengths,
// not on where they differ.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVICE_TOKEN_AUTH_H_
