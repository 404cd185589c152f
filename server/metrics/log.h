// Structured, one-line-per-event logging for the server: RPCs, jobs, startup
// and shutdown. Two formats: "text" (logfmt: `ts level event key=value ...`,
// for people) and "json" (one JSON object per line, for Kubernetes log
// pipelines). Lines go to stderr by default, each written whole.
//
//   LogEvent(LogLevel::kInfo, "startup")
//       .Str("model", name).Int("port", 50051).Num("warmup_seconds", 1.2);
//
// The line is written when the temporary LogEvent is destroyed (end of the
// full expression).
#ifndef STYLIZER_SERVER_METRICS_LOG_H_
#define STYLIZER_SERVER_METRICS_LOG_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace stylizer {

enum class LogFormat { kText, kJson };
enum class LogLevel { kInfo, kWarning, kError };

// Abseil flag support: ABSL_FLAG(stylizer::LogFormat, log_format,
// stylizer::LogFormat::kText, "text or json"). Accepts "text" and "json".
bool AbslParseFlag(absl::string_view text, LogFormat* format,
                   std::string* error);
std::string AbslUnparseFlag(LogFormat format);

// Process-wide format; default kText. Thread-safe.
void SetLogFormat(LogFormat format);
LogFormat GetLogFormat();

// Replaces where lines go (each call gets one complete line without the
// trailing newline); nullptr restores stderr. For tests.
void SetLogSink(std::function<void(absl::string_view line)> sink);

// One log line under construction. Fields keep their insertion order.
class LogEvent {
 public:
  LogEvent(LogLevel level, absl::string_view event);
  // Writes the line.
  ~LogEvent();
  LogEvent(const LogEvent&) = delete;
  LogEvent& operator=(const LogEvent&) = delete;

  // A string field (quoted/escaped as the format needs).
  LogEvent& Str(absl::string_view key, absl::string_view value);
  // An integer field.
  LogEvent& Int(absl::string_view key, int64_t value);
  // A floating-point field (6 significant digits).
  LogEvent& Num(absl::string_view key, double value);
  // A duration field in seconds.
  LogEvent& Seconds(absl::string_view key, absl::Duration value);
  // A boolean field.
  LogEvent& Bool(absl::string_view key, bool value);

 private:
  struct Field {
    std::string key;
    std::string value;  // already formatted: raw for numbers, unescaped text
    bool quoted;        // string value (escaped per format)
  };
  LogLevel level_;
  std::string event_;
  std::vector<Field> fields_;
};

}  // namespace stylizer

#endif  // STYLIZER_SERVER_METRICS_LOG_H_
