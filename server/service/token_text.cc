// Token characters; see token_text.h.
#include "server/service/token_text.h"

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"

namespace stylizer {

absl::Status CheckTokenText(absl::string_view token) {
  // The header's scheme copied with the token: the client sends it.
  if (absl::StartsWithIgnoreCase(token, "Bearer ")) {
    return absl::InvalidArgumentError(
        "the token starts with 'Bearer ', which the client adds itself; "
        "leave it out of the token file");
  }
  for (size_t i = 0; i < token.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(token[i]);
    if (c < 0x21 || c > 0x7e) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "the token holds byte 0x%02x at position %d, which cannot go in a "
          "request header; a token is one line of visible ASCII characters "
          "(e.g. from `openssl rand -hex 32`)",
          c, i + 1));
    }
  }
  return absl::OkStatus();
}

}  // namespace stylizer
