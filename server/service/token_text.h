// What a bearer token may hold, for the server (--auth_token_file) and the
// CLI (--token_file) alike: it travels in an HTTP/2 header value, so one
// line of visible ASCII. A newline or control character in a token file
// would otherwise start a server no client can call, and make gRPC abort the
// CLI (printing the token).
#ifndef STYLIZER_SERVER_SERVICE_TOKEN_TEXT_H_
#define STYLIZER_SERVER_SERVICE_TOKEN_TEXT_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace stylizer {

// OK when every byte of `token` (already trimmed of surrounding whitespace)
// is visible ASCII (0x21-0x7E); else INVALID_ARGUMENT naming the first bad
// byte's value and position, never the token.
absl::Status CheckTokenText(absl::string_view token);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVICE_TOKEN_TEXT_H_
