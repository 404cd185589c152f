// Structured one-line logging: formats a LogEvent as logfmt text or JSON and
// writes it whole to the sink (stderr unless a test replaced it).
#include "server/metrics/log.h"

#include <atomic>
#include <cmath>
#include <cstdio>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "server/common/utf8.h"

namespace stylizer {
namespace {

std::atomic<LogFormat> g_format{LogFormat::kText};

absl::Mutex g_sink_mu(absl::kConstInit);
std::function<void(absl::string_view)>* g_sink ABSL_GUARDED_BY(g_sink_mu) =
    nullptr;

absl::string_view LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

// Appends `text` as the body of a JSON string (without the quotes). Bytes
// that are not UTF-8 become U+FFFD: JSON is UTF-8, and FFmpeg's messages
// quote bytes of the uploaded file, or are cut inside a character.
void AppendJsonEscaped(std::string* out, absl::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      const size_t n = Utf8SequenceLength(text, i);
      if (n == 0) {
        out->append("\xef\xbf\xbd");  // U+FFFD
        ++i;
      } else {
        out->append(text.data() + i, n);
        i += n;
      }
      continue;
    }
    ++i;
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          absl::StrAppendFormat(out, "\\u%04x", c);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
}

// logfmt: bare when the value is a simple token, else double-quoted with
// JSON-style escapes (so a line never breaks and never becomes ambiguous).
void AppendTextValue(std::string* out, absl::string_view value) {
  bool bare = !value.empty();
  for (unsigned char c : value) {
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f) {
      bare = false;
      break;
    }
  }
  if (bare) {
    out->append(value.data(), value.size());
    return;
  }
  out->push_back('"');
  AppendJsonEscaped(out, value);
  out->push_back('"');
}

void WriteLine(std::string line) {
  absl::MutexLock lock(&g_sink_mu);
  if (g_sink != nullptr) {
    (*g_sink)(line);
    return;
  }
  line.push_back('\n');
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace

bool AbslParseFlag(absl::string_view text, LogFormat* format,
                   std::string* error) {
  std::string lower = absl::AsciiStrToLower(text);
  if (lower == "text") {
    *format = LogFormat::kText;
    return true;
  }
  if (lower == "json") {
    *format = LogFormat::kJson;
    return true;
  }
  *error = absl::StrCat("unknown log format '", text,
                        "'; expected 'text' or 'json'");
  return false;
}

std::string AbslUnparseFlag(LogFormat format) {
  return format == LogFormat::kJson ? "json" : "text";
}

void SetLogFormat(LogFormat format) { g_format.store(format); }

LogFormat GetLogFormat() { return g_format.load(); }

void SetLogSink(std::function<void(absl::string_view line)> sink) {
  absl::MutexLock lock(&g_sink_mu);
  delete g_sink;
  g_sink = sink ? new std::function<void(absl::string_view)>(std::move(sink))
                : nullptr;
}

LogEvent::LogEvent(LogLevel level, absl::string_view event)
    : level_(level), event_(event) {}

LogEvent& LogEvent::Str(absl::string_view key, absl::string_view value) {
  fields_.push_back({std::string(key), std::string(value), true});
  return *this;
}

LogEvent& LogEvent::Int(absl::string_view key, int64_t value) {
  fields_.push_back({std::string(key), absl::StrCat(value), false});
  return *this;
}

LogEvent& LogEvent::Num(absl::string_view key, double value) {
  // JSON has no NaN/Inf: write them as strings in both formats.
  if (!std::isfinite(value)) {
    fields_.push_back({std::string(key), absl::StrCat(value), true});
  } else {
    fields_.push_back(
        {std::string(key), absl::StrFormat("%.6g", value), false});
  }
  return *this;
}

LogEvent& LogEvent::Seconds(absl::string_view key, absl::Duration value) {
  return Num(key, absl::ToDoubleSeconds(value));
}

LogEvent& LogEvent::Bool(absl::string_view key, bool value) {
  fields_.push_back({std::string(key), value ? "true" : "false", false});
  return *this;
}

LogEvent::~LogEvent() {
  const std::string ts = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(),
                                          absl::UTCTimeZone());
  std::string line;
  if (GetLogFormat() == LogFormat::kJson) {
    absl::StrAppend(&line, "{\"ts\":\"", ts, "\",\"level\":\"",
                    LevelName(level_), "\",\"event\":\"");
    AppendJsonEscaped(&line, event_);
    line.push_back('"');
    for (const Field& field : fields_) {
      line.append(",\"");
      AppendJsonEscaped(&line, field.key);
      line.append("\":");
      if (field.quoted) {
        line.push_back('"');
        AppendJsonEscaped(&line, field.value);
        line.push_back('"');
      } else {
        line.append(field.value);
      }
    }
    line.push_back('}');
  } else {
    absl::StrAppend(&line, ts, " ", LevelName(level_), " ");
    AppendTextValue(&line, event_);
    for (const Field& field : fields_) {
      line.push_back(' ');
      line.append(field.key);
      line.push_back('=');
      AppendTextValue(&line, field.value);
    }
  }
  WriteLine(std::move(line));
}

}  // namespace stylizer
