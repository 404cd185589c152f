// The `stylizer` commands. Each reads its flags (cli_flags.h), prints results
// on `out` and progress/notes on `err`, and returns a Status whose message is
// the one line printed on failure (UsageError() for exit code 2).
#ifndef STYLIZER_CLIENT_COMMANDS_H_
#define STYLIZER_CLIENT_COMMANDS_H_

#include <istream>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/cli_flags.h"
#include "client/style_spec.h"
#include "client/stylizer_client.h"

namespace stylizer::client {

// Where a command writes.
struct CommandIo {
  std::ostream* out;  // results (paths, listings, reports; or, with --out=-,
                      // the stylized image or movie)
  std::ostream* err;  // progress and notes
  bool err_is_tty = false;
  std::istream* in = nullptr;  // the input named "-"
  bool out_is_tty = false;     // --out=- is refused on a terminal
  bool in_is_tty = false;      // and so is the input "-"
  // Standard input's descriptor when `in` reads it, else -1. A command that
  // waits on a live source (frames) reads it directly, so that it can stop
  // waiting when its call ends while the source sends nothing.
  int in_fd = -1;
};

// The input argument that names standard input, and the output stem it
// gets in a directory (stdin.<style>.<ext>).
inline constexpr char kStdioName[] = "-";
inline constexpr char kStdinStem[] = "stdin";

// The stem of an input's outputs: its file name's, or kStdinStem for "-".
std::string InputStem(const std::string& input);

// Every input's output paths (`paths[k]` for `inputs[k]`) in one list; a
// usage error naming both when two inputs would write one file (a/x.png and
// b/x.jpg), or when an input's output is another input (a.mp4 and
// a.klimt.mp4 with --styles=klimt).
absl::StatusOr<std::vector<std::string>> DistinctOutputPaths(
    const std::vector<std::string>& inputs,
    const std::vector<std::vector<std::string>>& paths);

// Parses --size: "WxH", each side within 4..8192; else a usage error.
absl::Status ParseSize(const std::string& text, int* w, int* h);

// Whether a failure of one input's call is that input's own (the next input
// may well work: not an image or movie, missing, rejected, too large), or
// ends a command of several inputs (no server, refused credentials, a busy
// server after its retries, interrupted).
bool IsThisInputsFault(const absl::Status& s);

// One input's outcome in a command of several: its paths on io.out, or its
// own failure (IsThisInputsFault) as "stylizer: INPUT: reason" on io.err,
// counted in *failed. Returns any other failure, which ends the command.
absl::Status ReportInputOutcome(
    const std::string& input,
    const absl::StatusOr<std::vector<std::string>>& paths,
    const CommandIo& io, int* failed);

// OK if the input "-" can be read: a usage error when there is no standard
// input, or when it is a terminal (the command would wait for typing).
absl::Status CheckStdinUsable(const CommandIo& io);

// A new random request id: 16 hex digits.
std::string NewRequestId();

// The client options from the global flags (and $STYLIZER_SERVER); the
// request id is --request_id, or a new one.
ClientOptions ClientOptionsFromFlags();

// Connects with the global flags; `retry_busy` as in RetryPolicy.
absl::StatusOr<std::unique_ptr<StylizerClient>> ConnectFromFlags(
    bool retry_busy = true);

// Fetches the model's styles and parses --styles (or `default_spec` when the
// flag is empty). A bad SPEC is a usage error. `notice` (if any) hears the
// retries of the fetch.
absl::StatusOr<std::vector<ResolvedStyle>> ResolveStyles(
    StylizerClient& client, const std::string& default_spec,
    const RetryNotice& notice = nullptr);

// `stylizer styles`
absl::Status RunStyles(const Invocation& inv, const CommandIo& io);
// `stylizer image INPUT`
absl::Status RunImage(const Invocation& inv, const CommandIo& io);
// `stylizer video INPUT`
absl::Status RunVideo(const Invocation& inv, const CommandIo& io);
// `stylizer bench`
absl::Status RunBench(const Invocation& inv, const CommandIo& io);
// `frames`: raw RGB24 frames from standard input, stylized in one style, to
// standard output (cmd_frames.cc).
absl::Status RunFrames(const Invocation& inv, const CommandIo& io);
// `stylizer health`
absl::Status RunHealth(const Invocation& inv, const CommandIo& io);

// Runs the command of `inv`.
absl::Status RunCommand(const Invocation& inv, const CommandIo& io);

}  // namespace stylizer::client

#endif  // STYLIZER_CLIENT_COMMANDS_H_
