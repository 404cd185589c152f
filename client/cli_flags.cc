// Flag definitions and the usage-error-safe parser of `stylizer`.
#include "client/cli_flags.h"

#include <map>
#include <set>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/rpc_errors.h"

// Global flags.
ABSL_FLAG(std::string, server, "localhost:50051",
          "stylizer-server as a gRPC target: host:port, dns:///name:port or "
          "ipv4:addr:port,addr:port,...; calls are balanced round-robin over "
          "every address the name resolves to, skipping replicas that are not "
          "SERVING");
ABSL_FLAG(bool, tls, false, "connect with TLS (implied by --ca and --cert)");
ABSL_FLAG(std::string, ca, "",
          "PEM file of the CA that signed the server's certificate (empty: "
          "the system's roots)");
ABSL_FLAG(std::string, tls_server_name, "",
          "the name the server's certificate must carry when it is not the "
          "host of --server, e.g. --server=127.0.0.1:50051 in the server's "
          "pod, certificate for stylizer.stylizer.svc (implies TLS)");
ABSL_FLAG(std::string, cert, "", "PEM client certificate for mutual TLS");
ABSL_FLAG(std::string, key, "", "PEM private key of --cert");
ABSL_FLAG(std::string, token_file, "",
          "file with a bearer token for servers that require one");
ABSL_FLAG(absl::Duration, timeout, absl::ZeroDuration(),
          "deadline of each call, e.g. 30s or 10m; for a video job it covers "
          "the whole job (0: none; health uses 5s)");
ABSL_FLAG(int32_t, retries, 3,
          "retries of a call that failed before any output arrived because "
          "the server was unavailable, or busy (then no sooner than it asks); "
          "with backoff");
ABSL_FLAG(std::string, request_id, "",
          "sent as x-request-id with every call of this command, logged by "
          "the server, and named in its error line (empty: a new random id "
          "per command)");
ABSL_FLAG(std::string, progress, "auto",
          "progress display: auto (bars on a terminal, else plain lines), "
          "bars, plain, or none");
// image and video.
ABSL_FLAG(std::string, styles, "",
          "SPEC: 'all', indices, names, or blends like klimt:0.7+mosaic:0.3, "
          "comma-separated (image/video default: all; bench default: the "
          "first style)");
ABSL_FLAG(std::string, out, "",
          "image: output file, or directory for several styles (default: .); "
          "video: output directory (default: .); -: standard output (one "
          "output)");
ABSL_FLAG(std::string, format, "",
          "image: png or jpg, for outputs in a directory or on standard "
          "output (default png; a --out file's extension decides for it)");
ABSL_FLAG(bool, preserve_color, false,
          "image/video: keep the input's colours; the outputs take only the "
          "stylized luminance (done by the server)");
// video.
ABSL_FLAG(int32_t, max_side, 0,
          "image/video: downscale so the longer side is at most N pixels "
          "(0 = keep; done by the server)");
ABSL_FLAG(int32_t, crf, 0,
          "video: encoder quality 1-51, lower is better (default: 0, the "
          "server's)");
ABSL_FLAG(std::string, container, "mp4", "video: output container, mp4 or mkv");
ABSL_FLAG(bool, drop_audio, false, "video: leave the sound out of the outputs");
ABSL_FLAG(std::string, contact_sheet, "",
          "video: also write FILE.png with a frame of the input and of every "
          "output side by side");
ABSL_FLAG(std::string, split, "",
          "video: cut the movie at keyframes into segments sent at once, "
          "spread over the replicas of --server, and join the results: auto "
          "(one segment per address, each at least 10 s) or N (default: no "
          "split)");
ABSL_FLAG(
    bool, verbose, false,
    "video: more notes (with --split: each segment's replica, per-replica "
    "counts); any command: FFmpeg's warnings about the files it reads");
// bench.
ABSL_FLAG(std::string, mode, "image",
          "bench: image (StylizeImage calls), frames (StylizeFrames streams) "
          "or video (StylizeVideo jobs of --input)");
ABSL_FLAG(int32_t, concurrency, 0,
          "calls (or streams) in flight: bench workers (default 1); images "
          "at once for image with several inputs (default 4); frames in "
          "flight for frames (default 4)");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10),
          "bench: how long to run (ignored when --count is set)");
ABSL_FLAG(int64_t, count, 0,
          "bench: stop after this many requests (0 = use --duration)");
ABSL_FLAG(std::string, size, "",
          "bench: frame size WxH for image/frames modes (default 640x360); "
          "frames: the size of the raw frames read (required)");
ABSL_FLAG(std::string, input, "", "bench: movie file for --mode=video");
ABSL_FLAG(bool, json, false,
          "bench: print the report as one JSON object; styles: print the "
          "model info as JSON (protobuf's mapping, the .proto's field names)");
// health.
ABSL_FLAG(absl::Duration, wait, absl::ZeroDuration(),
          "health: keep asking until SERVING or this much time has passed");
ABSL_FLAG(std::string, service, "",
          "health: the service to ask about (default: the whole server)");

namespace stylizer::client {
namespace {

const std::set<std::string>& Commands() {
  static const auto* commands = new std::set<std::string>{
      "styles", "image", "video", "frames", "bench", "health", "help"};
  return *commands;
}

// Flags every command takes.
const std::set<std::string>& GlobalFlags() {
  static const auto* flags = new std::set<std::string>{
      "server",  "tls",        "ca",         "tls_server_name",
      "cert",    "key",        "token_file", "timeout",
      "retries", "request_id", "progress",   "verbose"};
  return *flags;
}

// The commands that take each of the other flags: given to another command,
// a flag is a usage error, not ignored (`image --contact_sheet=x.png` wrote
// no sheet, `video --size=320x180` kept the input's size, both exit 0).
const std::map<std::string, std::set<std::string>>& FlagCommands() {
  static const auto* commands =
      new std::map<std::string, std::set<std::string>>{
          {"styles", {"image", "video", "frames", "bench"}},
          {"out", {"image", "video"}},
          {"format", {"image"}},
          {"preserve_color", {"image", "video"}},
          {"max_side", {"image", "video"}},
          {"crf", {"video"}},
          {"container", {"video"}},
          {"drop_audio", {"video"}},
          {"contact_sheet", {"video"}},
          {"split", {"video"}},
          {"mode", {"bench"}},
          {"concurrency", {"image", "frames", "bench"}},
          {"duration", {"bench"}},
          {"count", {"bench"}},
          {"size", {"frames", "bench"}},
          {"input", {"bench"}},
          {"json", {"styles", "bench"}},
          {"wait", {"health"}},
          {"service", {"health"}}};
  return *commands;
}

absl::Status CheckFlagsApply(const std::string& command,
                             const std::vector<std::string>& given) {
  for (const std::string& name : given) {
    if (GlobalFlags().count(name) != 0) continue;
    const auto it = FlagCommands().find(name);
    if (it == FlagCommands().end() || it->second.count(command) != 0) continue;
    return UsageError(absl::StrCat(
        "--", name, " does not apply to ", command, " (it is for ",
        absl::StrJoin(it->second, " and "), "; see stylizer --help)"));
  }
  return absl::OkStatus();
}

bool IsBoolWord(absl::string_view word) {
  return absl::EqualsIgnoreCase(word, "true") ||
         absl::EqualsIgnoreCase(word, "false");
}

}  // namespace

std::string CommandList() {
  return "styles, image, video, frames, bench, health";
}

std::vector<std::string> CommandsOfFlag(absl::string_view name) {
  const std::string key(name);
  if (GlobalFlags().count(key) != 0) return {"every command"};
  const auto it = FlagCommands().find(key);
  if (it == FlagCommands().end()) return {};
  return std::vector<std::string>(it->second.begin(), it->second.end());
}

absl::StatusOr<Invocation> ParseCommandLine(int argc, char** argv) {
  Invocation inv;
  std::vector<std::string> positional;
  std::vector<std::string> given;  // flag names, as set
  bool flags_done = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (flags_done || arg.size() < 2 || arg[0] != '-') {
      positional.push_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_done = true;
      continue;
    }
    std::string body = arg.substr(arg[1] == '-' ? 2 : 1);
    std::string name = body, value;
    const size_t eq = body.find('=');
    const bool has_value = eq != std::string::npos;
    if (has_value) {
      name = body.substr(0, eq);
      value = body.substr(eq + 1);
    }
    if (name == "help" || name == "h" || name == "helpfull") {
      // `stylizer video --help`: that command's help.
      inv.command = "help";
      if (!positional.empty() && Commands().count(positional[0]) != 0 &&
          positional[0] != "help") {
        inv.args = {positional[0]};
      }
      return inv;
    }
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag == nullptr && !has_value && absl::StartsWith(name, "no")) {
      absl::CommandLineFlag* neg = absl::FindCommandLineFlag(name.substr(2));
      if (neg != nullptr && neg->IsOfType<bool>()) {
        flag = neg;
        value = "false";
        name = name.substr(2);
      }
    } else if (flag != nullptr && !has_value) {
      if (flag->IsOfType<bool>()) {
        // Abseil reads `--preserve_color false` as the flag set and an
        // input named "false": the photo was stylized with it on.
        if (i + 1 < argc && IsBoolWord(argv[i + 1])) {
          return UsageError(absl::StrCat("write --", name, "=", argv[i + 1],
                                         ": a true/false flag takes its "
                                         "value after '='"));
        }
        value = "true";
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        return UsageError(absl::StrCat("flag --", name, " needs a value"));
      }
    }
    if (flag == nullptr) {
      return UsageError(
          absl::StrCat("unknown flag ", arg, " (see stylizer --help)"));
    }
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      if (flag->IsOfType<absl::Duration>()) {
        absl::StrAppend(&error, " (a duration has a unit: 30s, 5m, 1h)");
      }
      return UsageError(absl::StrCat("bad value for --", name, ": ", error));
    }
    if (name == "styles" && value.empty()) {
      // An unset shell variable (--styles="$STYLE") ran every style.
      return UsageError(
          "--styles is empty; name the styles, or 'all' (see stylizer styles)");
    }
    given.push_back(name);
  }
  // One list for both messages (the second one had lost `frames`).
  const std::string kCommandList =
      absl::StrCat("one of: ", CommandList(), " (see stylizer --help)");
  if (positional.empty()) {
    return UsageError(absl::StrCat("no command given; ", kCommandList));
  }
  inv.command = positional[0];
  if (Commands().count(inv.command) == 0) {
    return UsageError(
        absl::StrCat("unknown command '", inv.command, "'; ", kCommandList));
  }
  inv.args.assign(positional.begin() + 1, positional.end());
  if (inv.command != "help") {
    if (absl::Status s = CheckFlagsApply(inv.command, given); !s.ok()) return s;
  }
  // Checked for every command (only video checked it: `image --progress=x`
  // ran with exit 0).
  const std::string progress = absl::GetFlag(FLAGS_progress);
  if (progress != "auto" && progress != "bars" && progress != "plain" &&
      progress != "none") {
    return UsageError("--progress must be auto, bars, plain or none");
  }
  return inv;
}

namespace {

// The order of the flags in the help: global ones first, then by command.
const std::vector<std::string>& FlagOrder() {
  static const auto* order = new std::vector<std::string>{"server",
                                                          "tls",
                                                          "ca",
                                                          "tls_server_name",
                                                          "cert",
                                                          "key",
                                                          "token_file",
                                                          "timeout",
                                                          "retries",
                                                          "request_id",
                                                          "progress",
                                                          "styles",
                                                          "out",
                                                          "format",
                                                          "preserve_color",
                                                          "max_side",
                                                          "crf",
                                                          "container",
                                                          "drop_audio",
                                                          "contact_sheet",
                                                          "split",
                                                          "verbose",
                                                          "mode",
                                                          "concurrency",
                                                          "duration",
                                                          "count",
                                                          "size",
                                                          "input",
                                                          "json",
                                                          "wait",
                                                          "service"};
  return *order;
}

std::string FlagLine(absl::string_view name) {
  absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
  if (flag == nullptr) return "";
  const std::string help = flag->Help();
  std::string line = absl::StrCat("  --", name, "  ", help);
  // A flag whose default depends on the command says so in its help; its
  // stored default ("" or 0) would only contradict that.
  if (!absl::StrContains(help, "default")) {
    absl::StrAppend(
        &line, " (default: ",
        flag->DefaultValue().empty() ? "\"\"" : flag->DefaultValue(), ")");
  }
  return absl::StrCat(line, "\n");
}

// The lines of the full help's command list that describe `command`.
std::string CommandBlock(const std::string& full, const std::string& command) {
  std::string block;
  bool in_block = false;
  for (absl::string_view line : absl::StrSplit(full, '\n')) {
    if (line.empty()) {
      if (in_block) break;
      continue;
    }
    if (absl::StartsWith(line, "  ") && line.size() > 2 && line[2] != ' ') {
      in_block = absl::StartsWith(line.substr(2), command + " ") ||
                 line.substr(2) == command;
    }
    if (in_block) absl::StrAppend(&block, line, "\n");
  }
  return block;
}

}  // namespace

std::string HelpText(const std::string& command) {
  const std::string full = HelpText();
  if (command.empty() || Commands().count(command) == 0 || command == "help") {
    return full;
  }
  std::string text = absl::StrCat("usage: stylizer [GLOBAL FLAGS] ",
                                  CommandBlock(full, command).substr(2));
  std::string own, global;
  for (const std::string& name : FlagOrder()) {
    const auto it = FlagCommands().find(name);
    if (GlobalFlags().count(name) != 0) {
      absl::StrAppend(&global, FlagLine(name));
    } else if (it != FlagCommands().end() && it->second.count(command) != 0) {
      absl::StrAppend(&own, FlagLine(name));
    }
  }
  if (!own.empty()) absl::StrAppend(&text, "\nflags of ", command, ":\n", own);
  absl::StrAppend(&text, "\nglobal flags:\n", global);
  absl::StrAppend(&text,
                  "\nexit codes: 0 success, 1 failure (one line says why), 2 "
                  "usage error. Every command: stylizer --help\n");
  return text;
}

std::string HelpText() {
  std::string text = R"(stylizer: the command-line client of stylizer-server.

usage: stylizer [GLOBAL FLAGS] COMMAND [ARGS] [FLAGS]
       stylizer COMMAND --help     one command's usage and flags

commands:
  styles [--json]             the model's styles (index and name), device,
                              precision, archive digest
  image INPUT... [--styles=SPEC] [--out=PATH|-] [--format=png|jpg]
        [--max_side=N] [--preserve_color] [--concurrency=N]
                              stylize PNG or JPEG files; one file per input
                              and style (<stem>.<style>.png when several);
                              several inputs go N at a time (default 4)
  video INPUT... [--styles=SPEC] [--out=DIR|-] [--max_side=N] [--crf=N]
        [--container=mp4|mkv] [--drop_audio] [--contact_sheet=FILE.png]
        [--preserve_color] [--split=auto|N] [--verbose]
                              stylize movies, one after another; writes
                              DIR/<stem>.<style>.<ext>
  frames --size=WxH --styles=NAME [--concurrency=N]
                              raw RGB24 frames from standard input, stylized
                              one by one (N in flight, default 4), to standard
                              output: live video through ffmpeg
  bench [--mode=image|frames|video] [--concurrency=N] [--duration=D | --count=N]
        [--size=WxH] [--input=MOVIE] [--styles=SPEC] [--json]
                              load generator: throughput and latency percentiles
  health [--wait=D] [--service=NAME]
                              exit 0 if the server's health is SERVING, else 1

INPUT '-' reads standard input; --out=- writes the one output (one style) to
standard output, e.g. stylizer image - --styles=klimt --out=- <in.jpg >out.png

SPEC: 'all', style indices, style names, or blends such as klimt:0.7+mosaic:0.3,
separated by commas, e.g. --styles=all or --styles=0,mosaic,klimt:0.5+outcry:0.5

exit codes: 0 success, 1 failure (one line says why), 2 usage error.

flags:
)";
  for (const std::string& name : FlagOrder()) {
    absl::StrAppend(&text, FlagLine(name));
  }
  return text;
}

}  // namespace stylizer::client
