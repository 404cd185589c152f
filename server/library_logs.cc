#include "server/library_logs.h"

#include <grpc/support/log.h>

#include <atomic>
#include <cstdarg>
#include <functional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "server/media/av_util.h"
#include "server/metrics/log.h"

extern "C" {
#include <libavutil/log.h>
}

namespace stylizer {
namespace {

// FFmpeg's own messages (decoder complaints about a broken upload, ...) go
// through the structured log, so that --log_format=json stays one object per
// line. The errors themselves reach callers as statuses; these lines are
// context for operators.
void FfmpegLog(void* avcl, int level, const char* format, va_list args) {
  if (level > av_log_get_level()) return;
  // An abandoned upload's demuxer, the probe's decoders (av_util.h).
  if (media::FfmpegLineQuietOnThisThread(avcl)) return;
  char line[1024];
  int print_prefix = 1;
  va_list copy;
  va_copy(copy, args);
  av_log_format_line2(avcl, level, format, copy, line, sizeof(line),
                      &print_prefix);
  va_end(copy);
  absl::string_view text(line);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
    text.remove_suffix(1);
  }
  if (text.empty()) return;
  LogEvent(level <= AV_LOG_ERROR ? LogLevel::kWarning : LogLevel::kInfo,
           "ffmpeg")
      .Str("message", text);
}

std::function<void()>* g_on_listener_failed = nullptr;  // set once
std::atomic<bool> g_listener_failed{false};

// gRPC's own lines (a TLS handshake that a plaintext client failed, a port
// it could not bind) go through the structured log too: written raw, they
// broke --log_format=json's one object per line. gRPC prints only errors.
void GrpcLog(gpr_log_func_args* args) {
  if (args->message != nullptr &&
      absl::StartsWith(args->message, "Failed accept4") &&
      g_on_listener_failed != nullptr && !g_listener_failed.exchange(true)) {
    (*g_on_listener_failed)();
  }
  LogEvent(args->severity == GPR_LOG_SEVERITY_ERROR ? LogLevel::kWarning
                                                    : LogLevel::kInfo,
           "grpc")
      .Str("message", args->message != nullptr ? args->message : "")
      .Str("source", absl::StrCat(args->file != nullptr ? args->file : "?", ":",
                                  args->line));
}

}  // namespace

void RouteLibraryLogs(std::function<void()> on_listener_failed) {
  if (on_listener_failed) {
    g_on_listener_failed =
        new std::function<void()>(std::move(on_listener_failed));  // for good
  }
  av_log_set_level(AV_LOG_ERROR);
  av_log_set_callback(&FfmpegLog);
  gpr_set_log_function(&GrpcLog);
}

}  // namespace stylizer
