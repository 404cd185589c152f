// Shared pieces of the commands (connection from flags, style resolution),
// `styles`, `health`, and the dispatcher.
#include "client/commands.h"

#include <filesystem>
#include <iostream>
#include <map>

#include "absl/flags/flag.h"
#include "absl/random/random.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "client/output_files.h"
#include "client/rpc_errors.h"
#include "client/target_addresses.h"
#include "client/terminal_text.h"
#include "google/protobuf/util/json_util.h"
#include "server/service/retry_info.h"

namespace stylizer::client {
namespace {

absl::Status ExpectArgs(const Invocation& inv, size_t n, const char* usage) {
  if (inv.args.size() != n) {
    return UsageError(absl::StrCat(
        n == 0 ? "no arguments expected" : "wrong number of arguments",
        "; usage: stylizer ", usage));
  }
  return absl::OkStatus();
}

}  // namespace

std::string NewRequestId() {
  absl::BitGen bits;
  return absl::StrFormat("%016x", absl::Uniform<uint64_t>(bits));
}

ClientOptions ClientOptionsFromFlags() {
  ClientOptions o;
  o.server = absl::GetFlag(FLAGS_server);
  o.tls = absl::GetFlag(FLAGS_tls);
  o.ca_file = absl::GetFlag(FLAGS_ca);
  o.tls_server_name = absl::GetFlag(FLAGS_tls_server_name);
  o.cert_file = absl::GetFlag(FLAGS_cert);
  o.key_file = absl::GetFlag(FLAGS_key);
  o.token_file = absl::GetFlag(FLAGS_token_file);
  o.timeout = absl::GetFlag(FLAGS_timeout);
  o.retry.max_retries = std::max(0, absl::GetFlag(FLAGS_retries));
  o.request_id = absl::GetFlag(FLAGS_request_id);
  if (o.request_id.empty()) o.request_id = NewRequestId();
  return o;
}

// gRPC refuses call credentials on a plaintext channel; the token goes as
// metadata, so the rule is kept here, as a warning.
void WarnOfATokenInPlaintext(const ClientOptions& options) {
  if (!options.token_file.empty() && !options.tls && options.ca_file.empty() &&
      options.cert_file.empty() && options.tls_server_name.empty() &&
      !TargetIsLocal(options.server)) {
    std::cerr << "stylizer: warning: --token_file without TLS: the token "
                 "crosses the network to "
              << TerminalSafe(options.server)
              << " unencrypted (add --tls or --ca)\n";
  }
}

absl::StatusOr<std::unique_ptr<StylizerClient>> ConnectFromFlags(
    bool retry_busy) {
  if (absl::GetFlag(FLAGS_timeout) < absl::ZeroDuration()) {
    return UsageError("--timeout must not be negative");
  }
  if (absl::GetFlag(FLAGS_retries) < 0) {
    return UsageError("--retries must not be negative");
  }
  if (absl::Status s = CheckTargetPorts(absl::GetFlag(FLAGS_server)); !s.ok()) {
    return UsageError(s.message());
  }
  ClientOptions options = ClientOptionsFromFlags();
  options.retry.retry_busy = retry_busy;
  WarnOfATokenInPlaintext(options);
  return StylizerClient::Create(options);
}

absl::StatusOr<std::vector<ResolvedStyle>> ResolveStyles(
    StylizerClient& client, const std::string& default_spec,
    const RetryNotice& notice) {
  auto info = client.GetModelInfo(notice);
  if (!info.ok()) return info.status();
  std::string spec = absl::GetFlag(FLAGS_styles);
  if (spec.empty()) spec = default_spec;
  auto styles = ParseStyleSpec(spec, *info);
  if (!styles.ok()) {
    if (absl::IsInvalidArgument(styles.status())) {
      return UsageError(absl::StrCat("--styles: ", styles.status().message()));
    }
    return styles.status();
  }
  return styles;
}

bool IsThisInputsFault(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kDeadlineExceeded:
      return true;
    case absl::StatusCode::kResourceExhausted:
      return !RetryDelay(s).has_value();  // too large, not busy
    default:
      return false;
  }
}

absl::Status ParseSize(const std::string& text, int* w, int* h) {
  std::vector<std::string> parts = absl::StrSplit(text, 'x');
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], w) ||
      !absl::SimpleAtoi(parts[1], h) || *w < 4 || *h < 4 || *w > 8192 ||
      *h > 8192) {
    return UsageError(absl::StrCat(
        "--size=", text, ": give WxH, each within 4..8192, e.g. 640x360"));
  }
  return absl::OkStatus();
}

absl::Status ReportInputOutcome(
    const std::string& input,
    const absl::StatusOr<std::vector<std::string>>& paths,
    const CommandIo& io, int* failed) {
  if (paths.ok()) {
    for (const std::string& p : *paths) *io.out << p << "\n";
    io.out->flush();
    return absl::OkStatus();
  }
  if (!IsThisInputsFault(paths.status())) return paths.status();
  ++*failed;
  // Named once: "stylizer: a.txt: a.txt is not a PNG or JPEG image" said it
  // twice.
  const std::string line = ErrorLine(paths.status());
  const bool names_it = absl::StartsWith(line, input + " ") ||
                        absl::StartsWith(line, "cannot open " + input + ":");
  *io.err << "stylizer: " << (names_it ? "" : input + ": ") << line << "\n";
  return absl::OkStatus();
}

std::string InputStem(const std::string& input) {
  return input == kStdioName ? kStdinStem : FileStem(input);
}

namespace {

// One spelling of a path for comparing: absolute, symbolic links of its
// existing part resolved, "." and ".." gone.
std::string SamePathKey(const std::string& path) {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::absolute(path, ec);
  if (ec) return path;
  std::filesystem::path resolved = std::filesystem::weakly_canonical(p, ec);
  return (ec ? p.lexically_normal() : resolved).string();
}

}  // namespace

absl::StatusOr<std::vector<std::string>> DistinctOutputPaths(
    const std::vector<std::string>& inputs,
    const std::vector<std::vector<std::string>>& paths) {
  std::map<std::string, size_t> writer;
  std::vector<std::string> all;
  for (size_t k = 0; k < inputs.size(); ++k) {
    for (const std::string& path : paths[k]) {
      const auto [it, fresh] = writer.emplace(path, k);
      if (!fresh) {
        return UsageError(absl::StrCat(inputs[it->second], " and ", inputs[k],
                                       " would both write ", path,
                                       "; rename one or stylize them apart"));
      }
      all.push_back(path);
    }
  }
  // Inputs are read in turn: an output that is another input would replace
  // it before it is read (a second run over `clips/*.mp4 --out=clips` finds
  // the first run's outputs among its inputs).
  std::map<std::string, size_t> input_at;
  for (size_t k = 0; k < inputs.size(); ++k) {
    if (inputs[k] != kStdioName) input_at.emplace(SamePathKey(inputs[k]), k);
  }
  for (size_t k = 0; k < inputs.size() && !input_at.empty(); ++k) {
    for (const std::string& path : paths[k]) {
      const auto it = input_at.find(SamePathKey(path));
      if (it != input_at.end() && it->second == k) {
        // As ffmpeg refuses its input as its output: a name typed after
        // --out by mistake replaced the photo for good.
        return UsageError(absl::StrCat(
            inputs[k], " would write ", path,
            ", which is that input itself; give --out another name"));
      }
      if (it != input_at.end()) {
        return UsageError(
            absl::StrCat(inputs[k], " would write ", path,
                         ", which is the input ", inputs[it->second],
                         "; leave it out of the inputs or give --out "
                         "another directory"));
      }
    }
  }
  return all;
}

absl::Status CheckStdinUsable(const CommandIo& io) {
  if (io.in == nullptr) {
    return UsageError("this command cannot read standard input (-)");
  }
  if (io.in_is_tty) {
    return UsageError(
        "the input - is standard input, which is a terminal; pipe the file "
        "into it (stylizer ... - < FILE) or name the file");
  }
  return absl::OkStatus();
}

absl::Status RunStyles(const Invocation& inv, const CommandIo& io) {
  if (absl::Status s = ExpectArgs(inv, 0, "styles"); !s.ok()) return s;
  auto client = ConnectFromFlags();
  if (!client.ok()) return client.status();
  auto info = (*client)->GetModelInfo();
  if (!info.ok()) return info.status();
  if (absl::GetFlag(FLAGS_json)) {
    // The ModelInfo message in protobuf's JSON mapping, field names as in
    // the .proto: for scripts.
    std::string json;
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    options.always_print_primitive_fields = true;
    if (!google::protobuf::util::MessageToJsonString(*info, &json, options)
             .ok()) {
      return absl::InternalError("cannot print the model info as JSON");
    }
    *io.out << json << "\n";
    return absl::OkStatus();
  }
  *io.out << absl::StrFormat(
      "model %s on %s (%s), %d styles, batches up to %d, frames up to %d "
      "pixels\n",
      info->name().empty() ? "(unnamed)" : TerminalSafe(info->name()),
      TerminalSafe(info->device()), TerminalSafe(info->precision()),
      info->styles_size(), info->max_batch_size(), info->max_frame_pixels());
  if (!info->archive_sha256().empty()) {
    *io.out << "archive sha256 " << TerminalSafe(info->archive_sha256())
            << "\n";
  }
  for (const auto& s : info->styles()) {
    *io.out << absl::StrFormat("%5d  %s\n", s.index(), TerminalSafe(s.name()));
  }
  return absl::OkStatus();
}

absl::Status RunHealth(const Invocation& inv, const CommandIo& io) {
  if (absl::Status s = ExpectArgs(inv, 0, "health"); !s.ok()) return s;
  const absl::Duration wait = absl::GetFlag(FLAGS_wait);
  if (wait < absl::ZeroDuration()) return UsageError("--wait must not be negative");
  if (absl::GetFlag(FLAGS_timeout) < absl::ZeroDuration()) {
    return UsageError("--timeout must not be negative");
  }
  if (absl::Status s = CheckTargetPorts(absl::GetFlag(FLAGS_server)); !s.ok()) {
    return UsageError(s.message());
  }
  ClientOptions options = ClientOptionsFromFlags();
  options.retry.max_retries = 0;  // a health check is itself a poll
  WarnOfATokenInPlaintext(options);
  auto client = StylizerClient::Create(options);
  if (!client.ok()) return client.status();
  const absl::Time deadline = absl::Now() + wait;
  const std::string service = absl::GetFlag(FLAGS_service);
  while (true) {
    absl::StatusOr<HealthState> state = (*client)->CheckHealth(service);
    if (state.ok() && *state == HealthState::kServing) {
      *io.out << "SERVING\n";
      return absl::OkStatus();
    }
    // A name the server does not know stays unknown: no use waiting, and
    // "is not serving" sent people to a server that was serving.
    if (state.ok() && *state == HealthState::kServiceUnknown) {
      *io.out << HealthStateName(*state) << "\n";
      return absl::NotFoundError(
          absl::StrCat("the server at ", options.server,
                       " has no health service named \"", TerminalSafe(service),
                       "\" (it answers for \"\", the whole server, and for "
                       "stylizer.v1.Stylizer)"));
    }
    if (absl::Now() >= deadline) {
      if (!state.ok()) return state.status();
      *io.out << HealthStateName(*state) << "\n";
      return absl::UnavailableError(absl::StrCat(
          "the server at ", options.server, " is not serving (health: ",
          HealthStateName(*state), ")"));
    }
    absl::SleepFor(absl::Milliseconds(250));
  }
}

absl::Status RunCommand(const Invocation& inv, const CommandIo& io) {
  if (inv.command == "styles") return RunStyles(inv, io);
  if (inv.command == "image") return RunImage(inv, io);
  if (inv.command == "video") return RunVideo(inv, io);
  if (inv.command == "bench") return RunBench(inv, io);
  if (inv.command == "frames") return RunFrames(inv, io);
  if (inv.command == "health") return RunHealth(inv, io);
  if (inv.command == "help") {
    // `stylizer help video`, `stylizer video --help`.
    if (!inv.args.empty() && inv.args[0] != "help" &&
        HelpText(inv.args[0]) == HelpText()) {
      return UsageError(absl::StrCat("no command '", inv.args[0],
                                     "'; one of: ", CommandList()));
    }
    *io.out << (inv.args.empty() ? HelpText() : HelpText(inv.args[0]));
    return absl::OkStatus();
  }
  return UsageError(absl::StrCat("unknown command '", inv.command, "'"));
}

}  // namespace stylizer::client
