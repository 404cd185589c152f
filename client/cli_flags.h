// The `stylizer` command's flags (Abseil flags) and its command-line parser:
// any unknown flag, bad value or missing command is a usage error (exit 2)
// with one clear line, not Abseil's default exit(1).
#ifndef STYLIZER_CLIENT_CLI_FLAGS_H_
#define STYLIZER_CLIENT_CLI_FLAGS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

ABSL_DECLARE_FLAG(std::string, server);
ABSL_DECLARE_FLAG(bool, tls);
ABSL_DECLARE_FLAG(std::string, ca);
ABSL_DECLARE_FLAG(std::string, tls_server_name);
ABSL_DECLARE_FLAG(std::string, cert);
ABSL_DECLARE_FLAG(std::string, key);
ABSL_DECLARE_FLAG(std::string, token_file);
ABSL_DECLARE_FLAG(absl::Duration, timeout);
ABSL_DECLARE_FLAG(int32_t, retries);
ABSL_DECLARE_FLAG(std::string, request_id);
ABSL_DECLARE_FLAG(std::string, progress);
ABSL_DECLARE_FLAG(std::string, styles);
ABSL_DECLARE_FLAG(std::string, out);
ABSL_DECLARE_FLAG(std::string, format);
ABSL_DECLARE_FLAG(bool, preserve_color);
ABSL_DECLARE_FLAG(int32_t, max_side);
ABSL_DECLARE_FLAG(int32_t, crf);
ABSL_DECLARE_FLAG(std::string, container);
ABSL_DECLARE_FLAG(bool, drop_audio);
ABSL_DECLARE_FLAG(std::string, contact_sheet);
ABSL_DECLARE_FLAG(std::string, split);
ABSL_DECLARE_FLAG(bool, verbose);
ABSL_DECLARE_FLAG(std::string, mode);
ABSL_DECLARE_FLAG(int32_t, concurrency);
ABSL_DECLARE_FLAG(absl::Duration, duration);
ABSL_DECLARE_FLAG(int64_t, count);
ABSL_DECLARE_FLAG(std::string, size);
ABSL_DECLARE_FLAG(std::string, input);
ABSL_DECLARE_FLAG(bool, json);
ABSL_DECLARE_FLAG(absl::Duration, wait);
ABSL_DECLARE_FLAG(std::string, service);

namespace stylizer::client {

// What the command line asked for.
struct Invocation {
  // "styles", "image", "video", "bench", "health", or "help".
  std::string command;
  // Positional arguments after the command.
  std::vector<std::string> args;
};

// Parses argv, setting the flags above. Flags may come before or after the
// command; "--" ends flags. Usage errors are marked with UsageError().
absl::StatusOr<Invocation> ParseCommandLine(int argc, char** argv);

// "styles, image, video, ...": the commands, for the messages that list them.
std::string CommandList();

// The commands that take flag `name` ({"every command"} for a global one);
// none for a flag the CLI does not have.
std::vector<std::string> CommandsOfFlag(absl::string_view name);

// The --help text: usage, commands, and every flag with its help and default.
std::string HelpText();
// `command`'s help: its usage, its own flags, the global flags. The full
// help for "" or a name that is not a command.
std::string HelpText(const std::string& command);

}  // namespace stylizer::client

#endif  // STYLIZER_CLIENT_CLI_FLAGS_H_
