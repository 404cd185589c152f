// gRPC status -> clear one-line absl::Status, and exit codes; see rpc_errors.h.
#include "client/rpc_errors.h"

#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "client/retry.h"
#include "client/terminal_text.h"
#include "server/service/retry_info.h"

namespace stylizer::client {
namespace {

constexpr char kUsagePayload[] = "type.stylizer.dev/cli.usage";

// How gRPC reports a stream the server reset with ENHANCE_YOUR_CALM (its
// resource quota is spent: docs/server.md, "Memory budget"), and the wait
// the client then takes as the hint.
constexpr char kGrpcQuotaRefusal[] = "RST_STREAM with error code 11";
constexpr absl::Duration kGrpcQuotaRetryDelay = absl::Seconds(1);

// How gRPC reports a call whose headers are over the receiver's limit
// (stylizer-server's is 64 KiB; gRPC's default 8 KiB).
constexpr char kGrpcHeadersTooLarge[] =
    "received initial metadata size exceeds limit";

}  // namespace

absl::Status FromRpcStatus(const grpc::Status& status, absl::string_view server,
                           absl::string_view request_id, uint64_t token_bytes) {
  if (status.ok()) return absl::OkStatus();
  const auto code = static_cast<absl::StatusCode>(status.error_code());
  // The server's words name its request fields; the CLI's user knows the
  // flags.
  const std::string detail = status.error_message().empty()
                                 ? std::string("no detail given")
                                 : InFlagTerms(status.error_message());
  std::string text;
  bool reached = true;  // whether the call reached a server that logs it
  // The server marks a refusal that clears by itself with a retry hint.
  std::optional<absl::Duration> delay = RetryDelayIn(status.error_details());
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      // gRPC's words for a channel that never connected (the last error
      // varies: a retried call may end on an attempt it cut short). A
      // server whose health says NOT_SERVING ("backend unhealthy"), or that
      // answers UNAVAILABLE itself, is there, only not ready.
      if (!absl::StrContains(detail, "backend unhealthy") &&
          (absl::StrContains(detail, "failed to connect") ||
           absl::StrContains(detail, "connections to all backends failing") ||
           absl::StrContains(detail, "Connection refused") ||
           absl::StrContains(detail, "DNS resolution failed"))) {
        // A failed TLS handshake reads the same (gRPC's last error varies
        // with the attempt its retries cut short): the CLI looks whether
        // the address takes connections (TlsHint).
        text = absl::StrCat(kCannotReach, server,
                            " (is it running there?): ", detail);
        reached = false;
      } else {
        text = absl::StrCat("the server at ", server,
                            " is unavailable (starting up or shutting down; "
                            "try again): ",
                            detail);
        // Refused by the client's own health check: no server saw the call.
        if (absl::StrContains(detail, "backend unhealthy")) reached = false;
      }
      break;
    case grpc::StatusCode::UNAUTHENTICATED:
      text = absl::StrCat("the server at ", server,
                          " refused our credentials (check --token_file and "
                          "the TLS flags): ",
                          detail);
      break;
    case grpc::StatusCode::PERMISSION_DENIED:
      text = absl::StrCat("permission denied by the server: ", detail);
      break;
    case grpc::StatusCode::INVALID_ARGUMENT:
      text = absl::StrCat("the server rejected the input: ", detail);
      break;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      // gRPC's own refusal when the server's buffer quota is spent (HTTP/2
      // ENHANCE_YOUR_CALM) carries no hint but is busy too: it gets one.
      if (!delay.has_value() && absl::StrContains(detail, kGrpcQuotaRefusal)) {
        delay = kGrpcQuotaRetryDelay;
      }
      if (delay.has_value()) {
        // A hint past the longest wait obeyed is said as that: a broken
        // server's "retry in 1281023894007607h45m4.999s" says nothing.
        text = absl::StrCat(
            "the server at ", server, " is busy (it asks to retry in ",
            *delay > kMaxServerRetryDelay
                ? absl::StrCat("more than ",
                               absl::FormatDuration(kMaxServerRetryDelay))
                : absl::FormatDuration(*delay),
            kRetriesNote, "): ", detail);
      } else if (absl::StrContains(detail, kGrpcHeadersTooLarge)) {
        // Not the input: the request's headers, of which only the token
        // can be long (--request_id has at most 128 characters). The
        // token itself is not said.
        text = token_bytes > 0
                   ? absl::StrCat(
                         "the request's headers are larger than the server "
                         "accepts (the token from --token_file is ",
                         token_bytes, " bytes): ", detail)
                   : absl::StrCat(
                         "the call's headers are larger than gRPC accepts: ",
                         detail);
      } else {
        text = absl::StrCat(
            "the input is too large for the server (send a smaller one): ",
            detail);
      }
      break;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      // The server's idle timeout or upload pace: --timeout has nothing to
      // do with them.
      if (absl::StrContains(detail, "--stream_idle_timeout") ||
          absl::StrContains(detail, "--upload_min_rate")) {
        text = absl::StrCat("the server ended the stream: ", detail);
      } else {
        text = absl::StrCat(
            "the request took longer than allowed (raise --timeout): ", detail);
      }
      break;
    case grpc::StatusCode::CANCELLED:
      text = absl::StrCat("the request was cancelled: ", detail);
      break;
    case grpc::StatusCode::UNIMPLEMENTED:
      text = absl::StrCat("the server at ", server,
                          " does not offer this call (is it a stylizer "
                          "server?): ",
                          detail);
      break;
    case grpc::StatusCode::INTERNAL:
      text = absl::StrCat("the server failed (see its log): ", detail);
      break;
    default:
      text = absl::StrCat("the server answered ",
                          absl::StatusCodeToString(code), ": ", detail);
      break;
  }
  // The id an operator finds the call by in the server's log.
  if (reached && !request_id.empty()) {
    absl::StrAppend(&text, " (request id ", request_id, ")");
  }
  // The hint travels on, for the retry policy (retry.h).
  absl::Status converted(code, text);
  return delay.has_value() ? WithRetryDelay(std::move(converted), *delay)
                           : converted;
}

absl::Status UsageError(absl::string_view message) {
  absl::Status s = absl::InvalidArgumentError(message);
  s.SetPayload(kUsagePayload, absl::Cord("1"));
  return s;
}

bool IsUsageError(const absl::Status& status) {
  return status.GetPayload(kUsagePayload).has_value();
}

int ExitCodeFor(const absl::Status& status) {
  if (status.ok()) return kExitOk;
  return IsUsageError(status) ? kExitUsage : kExitFailure;
}

std::string InFlagTerms(absl::string_view text) {
  constexpr absl::string_view kField = "max_side";
  // A part of a longer name (a file max_side.png, a path a/max_side) is not
  // the field.
  auto word_char = [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' ||
           c == '.' || c == '/' || c == '-';
  };
  std::string out;
  size_t from = 0;
  for (size_t at = text.find(kField); at != absl::string_view::npos;
       at = text.find(kField, at + kField.size())) {
    const size_t end = at + kField.size();
    // A sentence's full stop may follow the field.
    const bool ends_word =
        end == text.size() || !word_char(text[end]) ||
        (text[end] == '.' && (end + 1 == text.size() || text[end + 1] == ' '));
    const bool whole = (at == 0 || !word_char(text[at - 1])) && ends_word;
    if (!whole) continue;
    absl::StrAppend(&out, text.substr(from, at - from), "--");
    from = at;
  }
  absl::StrAppend(&out, text.substr(from));
  return out;
}

std::string ErrorLine(const absl::Status& status) {
  std::string line = absl::StrReplaceAll(status.message(),
                                         {{"\r\n", " "}, {"\n", " "}, {"\r", " "}});
  absl::StripTrailingAsciiWhitespace(&line);
  // The message may be the server's: no escape sequences of its own.
  line = TerminalSafe(line);
  if (line.empty()) line = absl::StatusCodeToString(status.code());
  return line;
}

std::string UnreachableHint(absl::string_view message, absl::string_view server,
                            bool (*accepts_now)(absl::string_view),
                            bool names_no_port) {
  if (!absl::StartsWith(message, kCannotReach)) return "";
  // Refused at the time: nothing listened then. A server that binds its port
  // by the time we look again (one restarting) has not changed its TLS.
  const bool refused = absl::StrContains(message, "Connection refused");
  if (accepts_now(server)) {
    if (refused) {
      return " [it takes connections now, but refused them when we called: "
             "the server may have been starting or restarting; try again]";
    }
    // A person went looking for a server that was running all along.
    return " [something takes connections there: if it is stylizer-server, "
           "its TLS setup and ours differ; check --tls, --ca and "
           "--tls_server_name]";
  }
  if (names_no_port) {
    // gRPC's default port is not the server's: `--server=localhost` looked
    // for a server that was running on 50051 all along.
    return absl::StrCat(
        " [--server names no port, so gRPC dialled 443; stylizer-server "
        "listens on 50051 unless told otherwise: add the port, e.g. "
        "--server=",
        TerminalSafe(server), ":50051]");
  }
  return "";
}

}  // namespace stylizer::client
