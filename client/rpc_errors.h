// Turns a gRPC status from the server into an absl::Status whose message is
// one line a person can act on ("cannot reach the server at ...", "the server
// rejected the input: ..."), and maps statuses to the CLI's exit codes.
#ifndef STYLIZER_CLIENT_RPC_ERRORS_H_
#define STYLIZER_CLIENT_RPC_ERRORS_H_

#include <grpcpp/support/status.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace stylizer::client {

// Exit codes of the `stylizer` command.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// Ends a busy refusal's message: the commands that retry say so.
inline constexpr char kRetriesNote[] = "; --retries sets how often we do";

// Converts the status of an RPC to `server` into an absl::Status with the same
// code and a clear one-line message, ending "(request id ID)" when the call
// carried `request_id`. OK stays OK. `token_bytes`: the length of the bearer
// token the call carried (0: none), named when the call's headers were too
// large.
absl::Status FromRpcStatus(const grpc::Status& status, absl::string_view server,
                           absl::string_view request_id = "",
                           uint64_t token_bytes = 0);

// Marks `status` as a usage error (bad flags or arguments): exit code 2.
absl::Status UsageError(absl::string_view message);

// Whether `status` was made by UsageError.
bool IsUsageError(const absl::Status& status);

// Exit code for a final status: 0 for OK, 2 for usage errors, 1 otherwise.
int ExitCodeFor(const absl::Status& status);

// The single line the CLI prints for a failed status (no trailing newline):
// the message, with newlines folded into spaces, terminal-safe.
std::string ErrorLine(const absl::Status& status);

// `text` with the request fields a server's message names spelled as the
// CLI's flags: "set max_side to 640" reads "set --max_side to 640" (the
// flag of `image` and `video` that sets the field). FromRpcStatus applies it
// to the server's words.
std::string InFlagTerms(absl::string_view text);

// How the message of a call that reached no server begins.
inline constexpr char kCannotReach[] = "cannot reach stylizer-server at ";

// What to add to the error line of a call that reached no server (`message`
// starts with kCannotReach; "" for any other), in brackets: gRPC says the
// same of an address where nothing listens and of a TLS handshake that
// failed. `accepts_now` asks whether `server` takes a TCP connection now;
// `names_no_port` whether it names a host without a port.
std::string UnreachableHint(absl::string_view message, absl::string_view server,
                            bool (*accepts_now)(absl::string_view),
                            bool names_no_port);

}  // namespace stylizer::client

#endif  // STYLIZER_CLIENT_RPC_ERRORS_H_
