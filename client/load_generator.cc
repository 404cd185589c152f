// Workers, latency percentiles and reports of the load generator; see
// load_generator.h.
#include "client/load_generator.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "client/retry.h"
#include "client/terminal_text.h"
#include "server/service/retry_info.h"

namespace stylizer::client {
namespace {

// Overload goes on being measured; anything else ends the run. A
// RESOURCE_EXHAUSTED without the server's retry hint is not overload: the
// input is too large for the server, and every later request would be too
// (the movie was uploaded again thousands of times).
bool StopsTheRun(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kResourceExhausted:
      return !RetryDelay(status).has_value();
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kAborted:
      return false;
    default:
      return true;
  }
}

std::string JsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += absl::StrFormat("\\u%04x", c);
        } else {
          out.push_back(c);
        }
    }
  }
  return out;
}

// How long a worker waits before its next request after `status`: the
// server's retry hint after a busy refusal (at most kMaxServerRetryDelay),
// else nothing. Without it each worker re-sent its refused request at once,
// flooding a busy server with uploads it could only refuse again.
absl::Duration PauseAfter(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kResourceExhausted) {
    return absl::ZeroDuration();
  }
  return std::min(RetryDelay(status).value_or(absl::ZeroDuration()),
                  kMaxServerRetryDelay);
}

}  // namespace

double Percentile(std::vector<double>* values, double p) {
  if (values->empty()) return 0;
  std::sort(values->begin(), values->end());
  const double rank = std::clamp(p, 0.0, 100.0) / 100.0 * (values->size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(rank));
  const size_t hi = std::min(lo + 1, values->size() - 1);
  return (*values)[lo] + (rank - lo) * ((*values)[hi] - (*values)[lo]);
}

void Summarize(std::vector<double> latencies_ms, LoadReport* r) {
  if (r->elapsed_seconds > 0) {
    r->requests_per_second = r->requests / r->elapsed_seconds;
    r->frames_per_second = r->frames / r->elapsed_seconds;
  }
  if (latencies_ms.empty()) return;
  double sum = 0;
  for (double v : latencies_ms) sum += v;
  r->latency_mean_ms = sum / latencies_ms.size();
  r->latency_p50_ms = Percentile(&latencies_ms, 50);
  r->latency_p90_ms = Percentile(&latencies_ms, 90);
  r->latency_p99_ms = Percentile(&latencies_ms, 99);
  r->latency_max_ms = latencies_ms.back();
}

LoadReport RunLoad(const LoadOptions& options, const LoadRequest& request) {
  const int workers = std::max(1, options.concurrency);
  std::atomic<int64_t> issued{0};
  std::atomic<bool> stop{false};
  absl::Mutex mu;
  LoadReport report;
  std::vector<double> latencies;
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + options.duration;
  const auto stopped_early = [&options] {
    return options.stop_early != nullptr && options.stop_early->load();
  };
  auto work = [&](int worker) {
    while (!stop.load() && !stopped_early()) {
      if (options.count > 0) {
        if (issued.fetch_add(1) >= options.count) return;
      } else if (absl::Now() >= deadline) {
        return;
      }
      const absl::Time t0 = absl::Now();
      absl::StatusOr<int64_t> frames = request(worker);
      const double ms = absl::ToDoubleMilliseconds(absl::Now() - t0);
      if (stopped_early()) return;  // cut short: not counted
      {
        absl::MutexLock lock(&mu);
        if (frames.ok()) {
          ++report.requests;
          report.frames += *frames;
          latencies.push_back(ms);
        } else {
          ++report.errors;
          ++report.errors_by_code[absl::StatusCodeToString(
              frames.status().code())];
          if (report.first_error.empty()) {
            report.first_error = std::string(frames.status().message());
          }
          if (StopsTheRun(frames.status())) stop.store(true);
        }
      }
      if (!frames.ok()) {
        // In short steps, so that the run's end or a stop is not delayed.
        const absl::Time resume = absl::Now() + PauseAfter(frames.status());
        while (!stop.load() && !stopped_early() && absl::Now() < resume &&
               (options.count > 0 || absl::Now() < deadline)) {
          absl::SleepFor(
              std::min(resume - absl::Now(), absl::Milliseconds(20)));
        }
      }
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < workers; ++i) threads.emplace_back(work, i);
  for (auto& t : threads) t.join();
  report.stopped_early = stopped_early();
  report.elapsed_seconds = absl::ToDoubleSeconds(absl::Now() - start);
  Summarize(std::move(latencies), &report);
  return report;
}

std::string ReportText(const LoadReport& r, const std::string& title) {
  std::string text = absl::StrCat(title, "\n");
  absl::StrAppendFormat(&text,
                        "  requests    %d ok, %d failed in %.2f s\n"
                        "  throughput  %.2f requests/s, %.2f stylized frames/s\n"
                        "  latency ms  mean %.1f  p50 %.1f  p90 %.1f  p99 %.1f  "
                        "max %.1f\n",
                        r.requests, r.errors, r.elapsed_seconds,
                        r.requests_per_second, r.frames_per_second,
                        r.latency_mean_ms, r.latency_p50_ms, r.latency_p90_ms,
                        r.latency_p99_ms, r.latency_max_ms);
  for (const auto& [code, n] : r.errors_by_code) {
    absl::StrAppend(&text, "  errors      ", n, " x ", code, "\n");
  }
  if (r.stopped_early) {
    absl::StrAppend(&text,
                    "  interrupted the run so far; the requests cut short "
                    "are not counted\n");
  }
  if (!r.first_error.empty()) {
    // The server's words: no escape sequences of its own on the terminal.
    absl::StrAppend(&text, "  first error ", TerminalSafe(r.first_error), "\n");
  }
  return text;
}

std::string ReportJson(const LoadReport& r,
                       const std::map<std::string, std::string>& context,
                       const std::map<std::string, int64_t>& numbers) {
  std::string json = "{";
  for (const auto& [k, v] : context) {
    absl::StrAppend(&json, "\"", JsonEscape(k), "\":\"", JsonEscape(v), "\",");
  }
  for (const auto& [k, v] : numbers) {
    absl::StrAppend(&json, "\"", JsonEscape(k), "\":", v, ",");
  }
  absl::StrAppendFormat(
      &json,
      "\"requests\":%d,\"errors\":%d,\"frames\":%d,\"elapsed_seconds\":%.6f,"
      "\"requests_per_second\":%.6f,\"frames_per_second\":%.6f,"
      "\"latency_ms\":{\"mean\":%.3f,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,"
      "\"max\":%.3f},\"errors_by_code\":{",
      r.requests, r.errors, r.frames, r.elapsed_seconds, r.requests_per_second,
      r.frames_per_second, r.latency_mean_ms, r.latency_p50_ms,
      r.latency_p90_ms, r.latency_p99_ms, r.latency_max_ms);
  bool first = true;
  for (const auto& [code, n] : r.errors_by_code) {
    absl::StrAppend(&json, first ? "" : ",", "\"", code, "\":", n);
    first = false;
  }
  absl::StrAppend(&json, "},\"first_error\":\"", JsonEscape(r.first_error),
                  "\",\"interrupted\":", r.stopped_early ? "true" : "false",
                  "}");
  return json;
}

}  // namespace stylizer::client
