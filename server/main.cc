// stylizer-server: serves one multi-style network over gRPC (see
// docs/server.md). Flags configure the model, batching, limits, security and
// shutdown; SIGTERM or SIGINT drains gracefully and exits 0.
#include <arpa/inet.h>
#include <grpc/support/log.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/config.h"
#include "absl/flags/flag.h"
#include "absl/flags/internal/parse.h"
#include "absl/flags/internal/usage.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/archive_file.h"
#include "server/drain_watchdog.h"
#include "server/media/spool.h"
#include "server/memory_trimmer.h"
#include "server/metrics/log.h"
#include "server/metrics/metrics.h"
#include "server/model/torch_model.h"
#include "server/service/cpu_limit.h"
#include "server/service/memory_limit.h"
#include "server/service/server.h"
#include "server/service/stylize_video_reactor.h"

extern "C" {
#include <libavutil/log.h>
}

// --- network ---
ABSL_FLAG(std::string, host, "[::]",
          "Interface the gRPC server listens on ([::] = every IPv4 and IPv6 "
          "address; 127.0.0.1 = this machine only).");
ABSL_FLAG(int, port, 50051, "TCP port of the gRPC API.");
ABSL_FLAG(int, metrics_port, 9464,
          "TCP port of the Prometheus endpoint /metrics; 0 picks a free port, "
          "-1 turns the endpoint off (other negative values are refused).");
ABSL_FLAG(std::string, metrics_host, "0.0.0.0",
          "Interface /metrics listens on (0.0.0.0 = every IPv4 address, so a "
          "Prometheus on another host can scrape it; 127.0.0.1 = this machine "
          "only). /metrics needs no token: keep it off public networks.");

// --- model ---
ABSL_FLAG(std::string, model, "",
          "Serving archive to load (a TorchScript file made by "
          "training/export_seed.py or the trainer). Empty: $STYLIZER_MODEL "
          "when set (a missing file is an error), else the first that exists "
          "of <binary dir>/../share/stylizer/models/default.pt and <source "
          "dir>/models/default.pt.");
ABSL_FLAG(std::string, device, "auto",
          "auto (every visible CUDA device if any, else the CPU), cpu, cuda "
          "(every visible CUDA device: one model instance each, one queue) "
          "or cuda:N (that device only). "
          "A missing CUDA device (a CPU-only LibTorch, no driver, no visible "
          "GPU) fails at start saying which; never a silent fallback.");
ABSL_FLAG(std::string, precision, "auto",
          "auto (times fp32 and each lower precision the device runs "
          "natively, keeps the fastest within 35 dB PSNR of fp32; on a CPU "
          "without avx512_bf16/amx_bf16 only fp32), fp32, bf16 or fp16 (CUDA, "
          "or a CPU with avx512_fp16/amx_fp16 on LibTorch 2).");
ABSL_FLAG(bool, cudnn_benchmark, true,
          "CUDA: let cuDNN autotune the convolutions of each (batch, height, "
          "width) shape the first time it runs.");
ABSL_FLAG(int, cuda_max_chunk_frames, 0,
          "CUDA: most frames of one forward pass (a larger batch runs in "
          "chunks whose copies overlap the neighbouring forward); 0 = what "
          "fits in the device memory free at load.");
ABSL_FLAG(double, cuda_memory_fraction, 0.7,
          "CUDA: share of the device memory free at load that the chunk size "
          "plans for; out of memory still halves the chunk and retries.");
ABSL_FLAG(bool, channels_last, false,
          "CUDA: feed the model channels-last tensors (unmeasured; see "
          "docs/model-runtime.md).");
ABSL_FLAG(bool, cuda_graphs, false,
          "CUDA: capture each chunk shape's forward as a CUDA graph on first "
          "use and replay it (unmeasured; see docs/model-runtime.md).");
ABSL_FLAG(int, cuda_graph_shapes, 8,
          "CUDA: most captured graphs kept per device (each holds its own "
          "activation memory); the least recently used one goes first.");
ABSL_FLAG(int, threads, 0,
          "CPU threads of one forward pass (LibTorch intra-op); 0 = one per "
          "CPU this process may use (affinity and cgroup CPU quota).");

// --- batching and queue ---
ABSL_FLAG(int, max_batch_size, 8,
          "Most work items (frame x style) the model runs in one batch.");
ABSL_FLAG(absl::Duration, batch_timeout, absl::Milliseconds(5),
          "Longest time the oldest item of an unfilled batch waits for more "
          "items of its size (e.g. 5ms; 0 = send at once).");
ABSL_FLAG(int64_t, max_queued_items, 512,
          "Queue capacity in work items, across all callers. A still image "
          "that does not fit gets RESOURCE_EXHAUSTED; streams wait.");
ABSL_FLAG(int64_t, max_queued_bytes, int64_t{1} << 30,
          "Queue capacity in bytes of pixels (width x height x 3 per item).");
ABSL_FLAG(int, max_frames_in_flight_per_job, 64,
          "Frames one caller may have in the queue at once.");
ABSL_FLAG(int, queue_workers, 1,
          "Batch pipelines per model (more overlap host work with the "
          "device; calls on the model are still one at a time).");

// --- limits ---
ABSL_FLAG(int, max_concurrent_streams, 64,
          "Most StylizeFrames + StylizeVideo calls open at once; more get "
          "RESOURCE_EXHAUSTED.");
ABSL_FLAG(uint64_t, max_frame_pixels, 4096ull * 2160ull,
          "Largest frame (width x height) accepted, checked from the image "
          "header before anything is allocated. Default: DCI 4K (4096x2160); "
          "at most 2147483647.");
ABSL_FLAG(int, max_styles_per_request, 64,
          "Most outputs (styles) one image or frame may ask for.");
ABSL_FLAG(int, max_frames_buffered_per_stream, 8,
          "Frames a StylizeFrames stream may have read but not yet answered; "
          "the server stops reading that stream until the client catches up.");
ABSL_FLAG(absl::Duration, stream_idle_timeout, absl::Seconds(60),
          "A StylizeFrames or StylizeVideo call that sends nothing for this "
          "long (or takes none of the server's messages) ends with "
          "DEADLINE_EXCEEDED and frees its stream slot. 0 or inf = never.");
ABSL_FLAG(absl::Duration, malloc_trim_interval, absl::Seconds(10),
          "How often the server hands memory that the allocator holds free "
          "back to the kernel (malloc_trim), so that RSS follows what is "
          "live rather than the busiest moment so far. 0 = never.");
ABSL_FLAG(int, max_receive_message_bytes, 64 << 20,
          "Largest request message in bytes (a raw 4K RGB frame is ~26 MB).");
ABSL_FLAG(int, max_send_message_bytes, 512 << 20,
          "Largest response message in bytes (StylizeImage returns every "
          "style in one message).");
ABSL_FLAG(int64_t, memory_budget_bytes, 0,
          "Bytes the server may hold for its callers (decoded frames and "
          "images, video jobs' spool memory, frame windows and encoders, gRPC "
          "buffers, the queue). Past it calls get RESOURCE_EXHAUSTED instead "
          "of the process being killed for memory. 0 = 80% of the "
          "container's cgroup memory limit, else of the machine's memory; "
          "-1 = no budget (other negative values are refused).");
ABSL_FLAG(int64_t, grpc_memory_quota_bytes, 0,
          "Memory gRPC may use for its buffers, taken from the memory budget; "
          "0 = a quarter of the budget, -1 = no quota.");
ABSL_FLAG(int, work_threads, 0,
          "Threads decoding and encoding still images and frames; 0 = one per "
          "CPU this process may use (affinity and cgroup CPU quota).");

// --- video jobs (StylizeVideo) ---
ABSL_FLAG(uint64_t, spool_memory_bytes, uint64_t{16} << 20,
          "Upload bytes of one video job kept in memory before the rest "
          "spills to a temporary file (always deleted).");
ABSL_FLAG(uint64_t, max_upload_bytes, uint64_t{8} << 30,
          "Largest movie upload; bigger ones end with RESOURCE_EXHAUSTED.");
ABSL_FLAG(std::string, spool_dir, "",
          "Directory of the spill files; empty = $TMPDIR or /tmp.");
ABSL_FLAG(int, video_frames_in_flight, 8,
          "Frames of one video job in the job queue at once.");
ABSL_FLAG(int, video_pending_frames, 8,
          "Stylized frames of one job waiting for its slowest encoder.");
ABSL_FLAG(uint64_t, video_pending_output_bytes, uint64_t{4} << 20,
          "Response bytes of one job waiting to be sent before its encoders "
          "pause (a slow client slows the job, it never grows memory).");
ABSL_FLAG(uint64_t, video_window_bytes, uint64_t{512} << 20,
          "Most bytes of decoded and stylized frames one video job holds "
          "between its decoder and its slowest encoder.");
ABSL_FLAG(std::string, x264_preset, "veryfast",
          "libx264 preset of the output movies (ultrafast, superfast, "
          "veryfast, faster, fast, medium, slow, slower, veryslow, placebo).");
ABSL_FLAG(int, encoder_threads, 0,
          "libx264 threads per output movie; 0 = the CPUs this process may "
          "use shared among the job's outputs, 1-8 each.");
ABSL_FLAG(int, default_crf, 20,
          "Constant rate factor of the outputs when the job gives 0 (0-51, "
          "lower = better and bigger).");
ABSL_FLAG(absl::Duration, progress_interval, absl::Seconds(1),
          "Least time between two Progress messages of a video job.");

// --- connections and shutdown ---
ABSL_FLAG(absl::Duration, keepalive_time, absl::Seconds(60),
          "Interval of the server's keepalive pings on idle connections.");
ABSL_FLAG(absl::Duration, keepalive_timeout, absl::Seconds(20),
          "How long a keepalive ping may go unanswered before the connection "
          "is closed.");
ABSL_FLAG(absl::Duration, keepalive_min_client_interval, absl::Seconds(10),
          "Shortest interval between client pings the server tolerates.");
ABSL_FLAG(absl::Duration, max_connection_idle, absl::Minutes(10),
          "A connection without calls for this long is closed (GOAWAY; "
          "clients reconnect when they need to). inf = never.");
ABSL_FLAG(absl::Duration, max_connection_age, absl::Minutes(30),
          "A connection this old gets GOAWAY: no new calls on it, so clients "
          "reconnect and spread over replicas. inf = never.");
ABSL_FLAG(absl::Duration, max_connection_age_grace, absl::InfiniteDuration(),
          "How long calls on a connection past --max_connection_age may run "
          "on before it is closed. Default inf: a long movie upload is never "
          "cut; idle streams end by --stream_idle_timeout instead.");
ABSL_FLAG(absl::Duration, drain_timeout, absl::Seconds(30),
          "On SIGTERM/SIGINT: how long calls in flight may run on before they "
          "are cancelled (health turns NOT_SERVING and new calls get "
          "UNAVAILABLE at once). Not negative; 0 = cancel them at once.");

// --- security ---
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain of the server; with --tls_key turns TLS on.");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA bundle; when set, clients must present a certificate signed "
          "by it (mutual TLS). Needs --tls_cert and --tls_key.");
ABSL_FLAG(absl::Duration, tls_reload_interval, absl::Seconds(60),
          "How often --tls_cert, --tls_key and --tls_client_ca are read "
          "again: new connections then use a renewed certificate without a "
          "restart (whole seconds, at least 1). 0: read once at start.");
ABSL_FLAG(std::string, auth_token_file, "",
          "File holding bearer tokens, one per line (each at least 16 "
          "characters; blank lines and # comments skipped). When set, every "
          "Stylizer call must send the metadata `authorization: Bearer "
          "<token>` with one of them; health checks and reflection stay "
          "open.");
ABSL_FLAG(absl::Duration, auth_token_reload_interval, absl::Seconds(10),
          "How often --auth_token_file is read again: a changed file's "
          "tokens replace the old ones without a restart (a file that holds "
          "no usable token is logged and ignored). 0: never.");
ABSL_FLAG(bool, reflection, true,
          "Serve gRPC server reflection (lets grpcurl list and call the API).");

// --- logging ---
ABSL_FLAG(stylizer::LogFormat, log_format, stylizer::LogFormat::kText,
          "text (logfmt, for people) or json (one object per line, for log "
          "pipelines).");

namespace stylizer {
namespace {

// Set by the model loader's failure callback before it raises SIGUSR1: the
// main thread tells that from another process's SIGUSR1.
std::atomic<bool> g_load_failed{false};

// How long after the drain timeout a shutdown that is still waiting for a
// call gives up (see the drain in Run).
constexpr absl::Duration kStuckDrainGrace = absl::Seconds(15);

// The default memory budget's share of the container's (or machine's)
// memory; the rest is the model, the code, video pipelines and slack.
constexpr int kDefaultBudgetPercent = 80;

// FFmpeg's own messages (decoder complaints about a broken upload, ...) go
// through the structured log, so that --log_format=json stays one object per
// line. The errors themselves reach callers as statuses; these lines are
// context for operators.
void FfmpegLog(void* avcl, int level, const char* format, va_list args) {
  if (level > av_log_get_level()) return;
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

// gRPC's own lines (a TLS handshake that a plaintext client failed, a port
// it could not bind) go through the structured log too: written raw, they
// broke --log_format=json's one object per line. gRPC prints only errors.
void GrpcLog(gpr_log_func_args* args) {
  LogEvent(args->severity == GPR_LOG_SEVERITY_ERROR ? LogLevel::kWarning
                                                    : LogLevel::kInfo,
           "grpc")
      .Str("message", args->message != nullptr ? args->message : "")
      .Str("source", absl::StrCat(args->file != nullptr ? args->file : "?", ":",
                                  args->line));
}

// The directory of this executable, or "" if unknown.
std::filesystem::path ExecutableDir() {
  std::error_code error;
  std::filesystem::path exe =
      std::filesystem::read_symlink("/proc/self/exe", error);
  return error ? std::filesystem::path() : exe.parent_path();
}

// The presets libx264 knows (x264_preset_names); any other name would fail
// every StylizeVideo call when its encoder opens.
constexpr const char* kX264Presets[] = {
    "ultrafast", "superfast", "veryfast", "faster",   "fast",
    "medium",    "slow",      "slower",   "veryslow", "placebo"};

// Largest --max_frame_pixels: FFmpeg's own range for a decoder's pixel limit
// (its max_pixels option, 0 to INT_MAX), which the image decoders are given.
constexpr uint64_t kMaxFramePixelsLimit = INT32_MAX;

// Flag values that would let the server start and then fail every call that
// uses them, or silently mean something other than what they say, are
// refused before anything starts (exit 1, like the other startup errors).
// The message names the flag and the accepted values.
// `value` of --`flag` (--host, --metrics_host): a host name, an IPv4
// address, or an IPv6 one with or without brackets. Anything else gave
// "cannot listen on ... (port in use, or the TLS files do not match?)".
absl::Status CheckHostFlag(absl::string_view flag, const std::string& value) {
  if (value.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", flag,
        " is empty: give an address (0.0.0.0 for every IPv4 one, "
        "[::] for every address, 127.0.0.1 for this machine only)"));
  }
  if (value.find(':') == std::string::npos) return absl::OkStatus();
  std::string literal = value;
  if (literal.size() >= 2 && literal.front() == '[' && literal.back() == ']') {
    literal = literal.substr(1, literal.size() - 2);
  }
  // A link-local address names its interface: fe80::1%eth0.
  literal = literal.substr(0, literal.find('%'));
  in6_addr address;
  if (inet_pton(AF_INET6, literal.c_str(), &address) == 1) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "--", flag, "=", value,
      " is not an address: give the address alone (the port has a flag of "
      "its own), and an IPv6 one as ::1 or [::1]"));
}

absl::Status CheckFlags() {
  for (const auto& [flag, value] :
       {std::pair<absl::string_view, std::string>{"host",
                                                  absl::GetFlag(FLAGS_host)},
        {"metrics_host", absl::GetFlag(FLAGS_metrics_host)}}) {
    if (absl::Status s = CheckHostFlag(flag, value); !s.ok()) return s;
  }
  // Uploads past the spool's memory go to a file there.
  if (absl::Status spool =
          media::Spool::CheckTempDir(absl::GetFlag(FLAGS_spool_dir));
      !spool.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        absl::GetFlag(FLAGS_spool_dir).empty()
            ? "--spool_dir is unset, so uploads spool to $TMPDIR (else /tmp), "
              "which must be a directory the server can write: "
            : "--spool_dir must be a directory the server can write: ",
        spool.message()));
  }
  const int metrics_port = absl::GetFlag(FLAGS_metrics_port);
  if (metrics_port != -1 && (metrics_port < 0 || metrics_port > 65535)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics_port must be in [0, 65535] (or -1 for no "
                     "/metrics), got ",
                     metrics_port));
  }
  const uint64_t max_frame_pixels = absl::GetFlag(FLAGS_max_frame_pixels);
  if (max_frame_pixels < 1 || max_frame_pixels > kMaxFramePixelsLimit) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max_frame_pixels must be in [1, ", kMaxFramePixelsLimit,
                     "], got ", max_frame_pixels));
  }
  const int64_t memory_budget = absl::GetFlag(FLAGS_memory_budget_bytes);
  if (memory_budget < -1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--memory_budget_bytes must be >= 0 (0 = automatic) or "
                     "-1 for no budget, got ",
                     memory_budget));
  }
  if (absl::GetFlag(FLAGS_max_upload_bytes) < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max_upload_bytes must be at least 1, got ",
                     absl::GetFlag(FLAGS_max_upload_bytes)));
  }
  const std::pair<const char*, int> at_least_one[] = {
      {"--video_frames_in_flight", absl::GetFlag(FLAGS_video_frames_in_flight)},
      {"--video_pending_frames", absl::GetFlag(FLAGS_video_pending_frames)},
      {"--max_concurrent_streams", absl::GetFlag(FLAGS_max_concurrent_streams)},
      {"--max_styles_per_request", absl::GetFlag(FLAGS_max_styles_per_request)},
      {"--max_frames_buffered_per_stream",
       absl::GetFlag(FLAGS_max_frames_buffered_per_stream)}};
  for (const auto& [name, value] : at_least_one) {
    if (value < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " must be at least 1, got ", value));
    }
  }
  const int queue_workers = absl::GetFlag(FLAGS_queue_workers);
  if (queue_workers < 1 || queue_workers > kMaxWorkersPerModel) {
    return absl::InvalidArgumentError(
        absl::StrCat("--queue_workers must be in [1, ", kMaxWorkersPerModel,
                     "], got ", queue_workers));
  }
  const int64_t grpc_quota = absl::GetFlag(FLAGS_grpc_memory_quota_bytes);
  if (grpc_quota < -1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--grpc_memory_quota_bytes must be >= 0 (0 = a quarter of the "
        "budget) or -1 for no quota, got ",
        grpc_quota));
  }
  const uint64_t window_bytes = absl::GetFlag(FLAGS_video_window_bytes);
  if (window_bytes > static_cast<uint64_t>(INT64_MAX)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--video_window_bytes must be at most ", INT64_MAX,
                     " (0 = no byte limit), got ", window_bytes));
  }
  const std::string preset = absl::GetFlag(FLAGS_x264_preset);
  if (std::find(std::begin(kX264Presets), std::end(kX264Presets), preset) ==
      std::end(kX264Presets)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--x264_preset must be one of ", absl::StrJoin(kX264Presets, ", "),
        "; got \"", preset, "\""));
  }
  const int crf = absl::GetFlag(FLAGS_default_crf);
  if (crf < 0 || crf > 51) {
    return absl::InvalidArgumentError(
        absl::StrCat("--default_crf must be in [0, 51], got ", crf));
  }
  const absl::Duration drain_timeout = absl::GetFlag(FLAGS_drain_timeout);
  if (drain_timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--drain_timeout must not be negative (0 = cancel calls "
                     "in flight at once), got ",
                     absl::FormatDuration(drain_timeout)));
  }
  // No other duration means anything below zero either.
  const std::pair<const char*, absl::Duration> durations[] = {
      {"--batch_timeout", absl::GetFlag(FLAGS_batch_timeout)},
      {"--stream_idle_timeout", absl::GetFlag(FLAGS_stream_idle_timeout)},
      {"--malloc_trim_interval", absl::GetFlag(FLAGS_malloc_trim_interval)},
      {"--progress_interval", absl::GetFlag(FLAGS_progress_interval)},
      {"--keepalive_time", absl::GetFlag(FLAGS_keepalive_time)},
      {"--keepalive_timeout", absl::GetFlag(FLAGS_keepalive_timeout)},
      {"--keepalive_min_client_interval",
       absl::GetFlag(FLAGS_keepalive_min_client_interval)},
      {"--max_connection_idle", absl::GetFlag(FLAGS_max_connection_idle)},
      {"--max_connection_age", absl::GetFlag(FLAGS_max_connection_age)},
      {"--max_connection_age_grace",
       absl::GetFlag(FLAGS_max_connection_age_grace)},
      {"--tls_reload_interval", absl::GetFlag(FLAGS_tls_reload_interval)},
      {"--auth_token_reload_interval",
       absl::GetFlag(FLAGS_auth_token_reload_interval)}};
  for (const auto& [name, value] : durations) {
    if (value < absl::ZeroDuration()) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, " must not be negative, got ", absl::FormatDuration(value)));
    }
  }
  // And these must be above zero (the server's own checks did not name the
  // flag: "keepalive durations must be positive").
  const std::pair<const char*, absl::Duration> positive_durations[] = {
      {"--keepalive_time", absl::GetFlag(FLAGS_keepalive_time)},
      {"--keepalive_timeout", absl::GetFlag(FLAGS_keepalive_timeout)},
      {"--max_connection_idle", absl::GetFlag(FLAGS_max_connection_idle)},
      {"--max_connection_age", absl::GetFlag(FLAGS_max_connection_age)}};
  for (const auto& [name, value] : positive_durations) {
    if (value <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " must be above 0 (inf = no limit), got ",
                       absl::FormatDuration(value)));
    }
  }
  if (absl::GetFlag(FLAGS_batch_timeout) == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(
        "--batch_timeout must be finite: a batch would wait forever for its "
        "last frame");
  }
  const int port = absl::GetFlag(FLAGS_port);
  if (port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--port must be in [0, 65535] (0 = any free port), got ", port));
  }
  // The same port on two addresses is fine, unless one of them is every
  // address.
  const auto every_address = [](const std::string& host) {
    return host == "0.0.0.0" || host == "::" || host == "[::]";
  };
  const std::string host = absl::GetFlag(FLAGS_host);
  const std::string metrics_host = absl::GetFlag(FLAGS_metrics_host);
  if (port != 0 && port == metrics_port &&
      (host == metrics_host || every_address(host) ||
       every_address(metrics_host))) {
    return absl::InvalidArgumentError(
        absl::StrCat("--port and --metrics_port are both ", port,
                     ": the gRPC API and /metrics need a port each"));
  }
  for (const auto& [name, value] :
       {std::pair<const char*, int64_t>{
            "--max_receive_message_bytes",
            absl::GetFlag(FLAGS_max_receive_message_bytes)},
        {"--max_send_message_bytes",
         absl::GetFlag(FLAGS_max_send_message_bytes)}}) {
    if (value < 1024) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " must be at least 1024, got ", value));
    }
  }
  // Thread counts: 0 = automatic, below that nothing.
  const std::pair<const char*, int> thread_counts[] = {
      {"--threads", absl::GetFlag(FLAGS_threads)},
      {"--work_threads", absl::GetFlag(FLAGS_work_threads)},
      {"--encoder_threads", absl::GetFlag(FLAGS_encoder_threads)}};
  // Above kMaxThreads is a typo, not a machine: thread creation would fail
  // (an abort, or a load that never ends) under a pids or memory limit.
  constexpr int kMaxThreads = 1024;
  for (const auto& [name, value] : thread_counts) {
    if (value < 0 || value > kMaxThreads) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " must be in [0, ", kMaxThreads,
                       "] (0 = automatic), got ", value));
    }
  }
  // The CUDA runtime's own check, run here too so that a GPU server does not
  // find out after a load of minutes (and a CPU one not at all).
  CudaRuntimeOptions cuda;
  cuda.max_chunk_frames = absl::GetFlag(FLAGS_cuda_max_chunk_frames);
  cuda.memory_fraction = absl::GetFlag(FLAGS_cuda_memory_fraction);
  cuda.cuda_graph_shapes = absl::GetFlag(FLAGS_cuda_graph_shapes);
  if (absl::Status s = ValidateCudaRuntimeOptions(cuda); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--", s.message()));
  }
  // Byte counts the video jobs reserve in the memory budget as int64.
  const std::pair<const char*, uint64_t> job_bytes[] = {
      {"--spool_memory_bytes", absl::GetFlag(FLAGS_spool_memory_bytes)},
      {"--video_pending_output_bytes",
       absl::GetFlag(FLAGS_video_pending_output_bytes)}};
  for (const auto& [name, value] : job_bytes) {
    if (value > static_cast<uint64_t>(INT64_MAX)) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, " must be at most ", INT64_MAX, ", got ", value));
    }
  }
  return absl::OkStatus();
}

// --model, else $STYLIZER_MODEL, else the first bundled archive that exists.
// A $STYLIZER_MODEL that names no file is the loader's error to report: an
// operator who set it (a mounted volume, say) must not be served the bundled
// model because of a typo or an empty volume.
std::string ModelPath() {
  const std::string flag = absl::GetFlag(FLAGS_model);
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("STYLIZER_MODEL"); env && *env) {
    return env;
  }
  std::vector<std::filesystem::path> candidates;
  const std::filesystem::path exe_dir = ExecutableDir();
  if (!exe_dir.empty()) {
    candidates.push_back(exe_dir / ".." / "share" / "stylizer" / "models" /
                         "default.pt");
  }
  candidates.push_back(std::filesystem::path(STYLIZER_SOURCE_DIR) / "models" /
                       "default.pt");
  for (const auto& path : candidates) {
    std::error_code error;
    if (std::filesystem::exists(path, error)) {
      return std::filesystem::weakly_canonical(path, error).string();
    }
  }
  return candidates.back().string();  // reported as not found by the loader
}

// --memory_budget_bytes, with 0 resolved from the cgroup or machine memory
// (logged, so operators see what the server assumed).
int64_t MemoryBudgetBytes() {
  const int64_t flag = absl::GetFlag(FLAGS_memory_budget_bytes);
  if (flag != 0) return std::max<int64_t>(flag, 0);  // -1 (checked): none
  absl::StatusOr<MemoryLimit> limit = DetectMemoryLimit();
  // Nothing readable (not Linux?): assume a small machine rather than none.
  const int64_t budget =
      DefaultMemoryBudget(limit, kDefaultBudgetPercent, int64_t{4} << 30);
  LogEvent(limit.ok() ? LogLevel::kInfo : LogLevel::kWarning, "memory_limit")
      .Int("limit_bytes", limit.ok() ? limit->bytes : 0)
      .Str("source", limit.ok() ? limit->source : limit.status().ToString())
      .Int("memory_budget_bytes", budget);
  return budget;
}

// The CPUs the "0 = automatic" thread counts are sized for: the affinity
// and the cgroup's CPU quota (a pod limited to 4 CPUs on a 64-core node
// gets 4, not 64 threads throttled by the quota). Read and logged once.
int AutomaticCpus() {
  static const int cpus = [] {
    const CpuLimit limit = DetectCpuLimit();
    LogEvent(LogLevel::kInfo, "cpu_limit")
        .Int("cpus", limit.cpus)
        .Str("source", limit.source);
    return limit.cpus;
  }();
  return cpus;
}

// The loaded model, for the device-memory sampler of /metrics: a scrape may
// run while the server is torn down, so the sampler reads the model only
// under this lock, and Run() clears it before the model is destroyed.
struct LoadedModel {
  absl::Mutex mu;
  std::vector<const TorchModel*> models ABSL_GUARDED_BY(mu);  // per device
};

// The caching allocator's figures and the OOM count of a CUDA model; nothing
// for a CPU model or before the model is loaded.
std::vector<DeviceMemoryStats> SampleDeviceMemory(LoadedModel* loaded) {
  absl::MutexLock lock(&loaded->mu);
  std::vector<DeviceMemoryStats> all;
  for (const TorchModel* model : loaded->models) {
    const std::string& device = model->description().device;
    if (!absl::StartsWith(device, "cuda")) continue;
    const TorchModel::RuntimeStats s = model->runtime_stats();
    DeviceMemoryStats stats;
    stats.device = device;
    stats.allocated_bytes = s.device_memory_allocated_bytes;
    stats.reserved_bytes = s.device_memory_reserved_bytes;
    stats.total_bytes = s.device_memory_total_bytes;
    stats.oom_retries = s.oom_retries;
    all.push_back(stats);
  }
  return all;
}

Server::Options ServerOptions(Metrics* metrics,
                              std::shared_ptr<LoadedModel> loaded_model) {
  Server::Options o;
  o.host = absl::GetFlag(FLAGS_host);
  o.port = absl::GetFlag(FLAGS_port);
  TorchModelOptions model;
  model.archive_path = ModelPath();
  model.device = absl::GetFlag(FLAGS_device);
  model.precision = absl::GetFlag(FLAGS_precision);
  model.threads = absl::GetFlag(FLAGS_threads) > 0
                      ? absl::GetFlag(FLAGS_threads)
                      : AutomaticCpus();
  model.cuda.cudnn_benchmark = absl::GetFlag(FLAGS_cudnn_benchmark);
  model.cuda.max_chunk_frames = absl::GetFlag(FLAGS_cuda_max_chunk_frames);
  model.cuda.memory_fraction = absl::GetFlag(FLAGS_cuda_memory_fraction);
  model.cuda.channels_last = absl::GetFlag(FLAGS_channels_last);
  model.cuda.cuda_graphs = absl::GetFlag(FLAGS_cuda_graphs);
  model.cuda.cuda_graph_shapes = absl::GetFlag(FLAGS_cuda_graph_shapes);
  model.log = [](absl::string_view line) {
    LogEvent(LogLevel::kInfo, "model").Str("note", line);
  };
  // One instance per device that --device names (every visible GPU for
  // "cuda" and "auto"); the queue runs its workers on each.
  o.load_models = [model, loaded_model]()
      -> absl::StatusOr<std::vector<std::unique_ptr<StyleModel>>> {
    std::vector<std::unique_ptr<StyleModel>> instances;
    std::vector<const TorchModel*> views;
    TorchModelOptions options = model;
    // Read once for every device, and digested. A missing file is left to
    // the runtime, whose message names what to do; any other failure is
    // the file's (one the server may not read was called corrupt,
    // "re-export it", and the runtime opened a named pipe and waited).
    if (absl::StatusOr<ArchiveFile> file = ReadArchiveFile(model.archive_path);
        file.ok()) {
      options.archive_bytes = std::move(file->bytes);
      options.archive_sha256 = std::move(file->sha256);
    } else if (!absl::IsNotFound(file.status())) {
      return file.status();  // unreadable, a directory, a pipe, too large
    }
    for (const std::string& device : TorchModel::ExpandDevices(model.device)) {
      options.device = device;
      LogEvent(LogLevel::kInfo, "loading_model")
          .Str("path", model.archive_path)
          .Str("device", device);
      absl::StatusOr<std::unique_ptr<TorchModel>> loaded =
          TorchModel::Create(options);
      if (!loaded.ok()) return loaded.status();
      // The devices are alike: the first one's measured precision serves
      // the rest without timing it again.
      options.precision = (*loaded)->description().precision;
      views.push_back(loaded->get());
      instances.push_back(*std::move(loaded));
    }
    absl::MutexLock lock(&loaded_model->mu);
    loaded_model->models = std::move(views);
    return instances;
  };
  if (metrics != nullptr) {
    metrics->SetDeviceMemoryCallback(
        [loaded_model] { return SampleDeviceMemory(loaded_model.get()); });
  }
  o.queue.max_batch_size = absl::GetFlag(FLAGS_max_batch_size);
  o.queue.batch_timeout = absl::GetFlag(FLAGS_batch_timeout);
  o.queue.max_queued_items = absl::GetFlag(FLAGS_max_queued_items);
  o.queue.max_queued_bytes = absl::GetFlag(FLAGS_max_queued_bytes);
  o.queue.max_frames_in_flight_per_job =
      absl::GetFlag(FLAGS_max_frames_in_flight_per_job);
  o.queue.workers = absl::GetFlag(FLAGS_queue_workers);
  o.limits.max_concurrent_streams = absl::GetFlag(FLAGS_max_concurrent_streams);
  o.limits.max_frame_pixels = absl::GetFlag(FLAGS_max_frame_pixels);
  o.limits.max_styles_per_request = absl::GetFlag(FLAGS_max_styles_per_request);
  o.limits.stream_idle_timeout = absl::GetFlag(FLAGS_stream_idle_timeout);
  o.limits.max_frames_buffered_per_stream =
      absl::GetFlag(FLAGS_max_frames_buffered_per_stream);
  o.work_threads = absl::GetFlag(FLAGS_work_threads) > 0
                       ? absl::GetFlag(FLAGS_work_threads)
                       : AutomaticCpus();
  o.max_receive_message_bytes = absl::GetFlag(FLAGS_max_receive_message_bytes);
  o.max_send_message_bytes = absl::GetFlag(FLAGS_max_send_message_bytes);
  o.memory_budget_bytes = MemoryBudgetBytes();
  o.grpc_memory_quota_bytes = absl::GetFlag(FLAGS_grpc_memory_quota_bytes);
  o.keepalive_time = absl::GetFlag(FLAGS_keepalive_time);
  o.keepalive_timeout = absl::GetFlag(FLAGS_keepalive_timeout);
  o.keepalive_min_client_interval =
      absl::GetFlag(FLAGS_keepalive_min_client_interval);
  o.max_connection_idle = absl::GetFlag(FLAGS_max_connection_idle);
  o.max_connection_age = absl::GetFlag(FLAGS_max_connection_age);
  o.max_connection_age_grace = absl::GetFlag(FLAGS_max_connection_age_grace);
  o.tls_cert_file = absl::GetFlag(FLAGS_tls_cert);
  o.tls_key_file = absl::GetFlag(FLAGS_tls_key);
  o.tls_client_ca_file = absl::GetFlag(FLAGS_tls_client_ca);
  o.tls_reload_interval = absl::GetFlag(FLAGS_tls_reload_interval);
  o.auth_token_file = absl::GetFlag(FLAGS_auth_token_file);
  o.auth_token_reload_interval =
      absl::GetFlag(FLAGS_auth_token_reload_interval);
  o.enable_reflection = absl::GetFlag(FLAGS_reflection);
  o.metrics = metrics;
  StylizeVideoOptions video;
  video.spool_memory_bytes = absl::GetFlag(FLAGS_spool_memory_bytes);
  video.max_upload_bytes = absl::GetFlag(FLAGS_max_upload_bytes);
  video.spool_dir = absl::GetFlag(FLAGS_spool_dir);
  video.max_frames_in_flight = absl::GetFlag(FLAGS_video_frames_in_flight);
  video.max_pending_frames = absl::GetFlag(FLAGS_video_pending_frames);
  video.max_pending_output_bytes =
      absl::GetFlag(FLAGS_video_pending_output_bytes);
  video.max_window_bytes =
      static_cast<int64_t>(absl::GetFlag(FLAGS_video_window_bytes));
  video.preset = absl::GetFlag(FLAGS_x264_preset);
  video.encoder_threads = absl::GetFlag(FLAGS_encoder_threads);
  video.cores = AutomaticCpus();
  video.default_crf = absl::GetFlag(FLAGS_default_crf);
  video.progress_interval = absl::GetFlag(FLAGS_progress_interval);
  o.video = MakeStylizeVideoReactorFactory(video);
  // A failed load wakes the main thread, which exits non-zero.
  o.on_load_failure = [](const absl::Status&) {
    g_load_failed.store(true);
    kill(getpid(), SIGUSR1);
  };
  return o;
}

// The server takes flags only: an argument (`stylizer-server my.pt`) was
// ignored, and the bundled model served in its place.
absl::Status CheckNoArguments(const std::vector<std::string>& arguments) {
  if (arguments.empty()) return absl::OkStatus();
  const std::string& first = arguments.front();
  return absl::InvalidArgumentError(absl::StrCat(
      "unexpected argument '", first, "': stylizer-server takes flags only",
      absl::EndsWith(first, ".pt")
          ? absl::StrCat(" (for a model, --model=", first, ")")
          : "",
      "; see --help"));
}

int Run(const std::vector<std::string>& arguments) {
  SetLogFormat(absl::GetFlag(FLAGS_log_format));
  absl::Status flags = CheckNoArguments(arguments);
  if (flags.ok()) flags = CheckFlags();
  if (!flags.ok()) {
    LogEvent(LogLevel::kError, "startup_failed").Str("error", flags.ToString());
    return 1;
  }
  av_log_set_level(AV_LOG_ERROR);
  av_log_set_callback(&FfmpegLog);
  gpr_set_log_function(&GrpcLog);
  // Signals are taken synchronously by the main thread (sigwait): block them
  // before any thread starts so that every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::unique_ptr<Metrics> metrics;
  if (absl::GetFlag(FLAGS_metrics_port) >= 0) {
    Metrics::Options mo;
    mo.bind_address = absl::GetFlag(FLAGS_metrics_host);
    mo.port = absl::GetFlag(FLAGS_metrics_port);
    absl::StatusOr<std::unique_ptr<Metrics>> m = Metrics::Create(mo);
    if (!m.ok()) {
      LogEvent(LogLevel::kError, "startup_failed")
          .Str("error", m.status().ToString());
      return 1;
    }
    metrics = *std::move(m);
    LogEvent(LogLevel::kInfo, "metrics")
        .Str("host", absl::GetFlag(FLAGS_metrics_host))
        .Int("port", metrics->port());
  }

  MemoryTrimmer trimmer(absl::GetFlag(FLAGS_malloc_trim_interval));
  auto loaded_model = std::make_shared<LoadedModel>();
  absl::StatusOr<std::unique_ptr<Server>> server =
      Server::BuildAndStart(ServerOptions(metrics.get(), loaded_model));
  if (!server.ok()) {
    LogEvent(LogLevel::kError, "startup_failed")
        .Str("error", server.status().ToString());
    return 1;
  }
  int signal = 0;
  while (true) {
    sigwait(&signals, &signal);
    if (signal != SIGUSR1) break;
    if (g_load_failed.load()) {  // the model could not be loaded
      (*server)->Drain(absl::ZeroDuration());
      return 1;
    }
    // Another process's SIGUSR1 (a log rotator, a status probe) was taken
    // for a failed load: the server drained at once, cancelling its calls,
    // and exited 1 without a word.
    LogEvent(LogLevel::kWarning, "signal_ignored")
        .Str("signal", strsignal(signal));
  }
  LogEvent(LogLevel::kInfo, "signal").Str("signal", strsignal(signal));
  if ((*server)->loading()) {
    // Nothing was served, and the load cannot be interrupted: waiting for
    // it (minutes on a GPU) would outlast the drain watchdog and exit 1.
    LogEvent(LogLevel::kInfo, "stopped").Bool("while_loading", true);
    (*server)->RemoveTlsCopies();  // _exit runs no destructor
    std::fflush(nullptr);
    _exit(0);
  }
  // A second SIGTERM or SIGINT (Ctrl-C again) ends the drain at once: it was
  // ignored, and a person had to wait out --drain_timeout or kill -9. Once
  // the drain is over, one is ignored (the teardown is short, and the
  // server goes with it).
  struct Draining {
    absl::Mutex mu;
    Server* server ABSL_GUARDED_BY(mu);
  };
  auto draining = std::make_shared<Draining>();
  {
    absl::MutexLock lock(&draining->mu);
    draining->server = server->get();
  }
  std::thread([draining] {
    sigset_t again;
    sigemptyset(&again);
    sigaddset(&again, SIGTERM);
    sigaddset(&again, SIGINT);
    int second = 0;
    sigwait(&again, &second);
    absl::MutexLock lock(&draining->mu);  // held: the drain cannot end now
    if (draining->server == nullptr) return;
    LogEvent(LogLevel::kWarning, "signal_again")
        .Str("signal", strsignal(second));
    draining->server->RemoveTlsCopies();  // _exit runs no destructor
    std::fflush(nullptr);
    _exit(1);
  }).detach();
  const absl::Duration drain_timeout = absl::GetFlag(FLAGS_drain_timeout);
  // Past the drain timeout every call is cancelled, and each must then end
  // on its own. A call that never does would hold shutdown forever: give it
  // a bounded grace, then exit non-zero so the orchestrator restarts us.
  {
    Server* const serving = server->get();
    DrainWatchdog watchdog(
        drain_timeout + kStuckDrainGrace, [drain_timeout, serving] {
          LogEvent(LogLevel::kError, "drain_stuck")
              .Seconds("waited_seconds", drain_timeout + kStuckDrainGrace);
          serving->RemoveTlsCopies();
          std::fflush(nullptr);
          _exit(1);
        });
    (*server)->Drain(drain_timeout);
  }  // disarmed: the calls have ended
  {
    absl::MutexLock lock(&draining->mu);
    draining->server = nullptr;
  }
  {
    absl::MutexLock lock(&loaded_model->mu);
    loaded_model->models.clear();  // the server owns them and goes next
  }
  server->reset();
  metrics.reset();
  return 0;
}

}  // namespace
}  // namespace stylizer

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Serves a multi-style stylization network over gRPC "
      "(stylizer.v1.Stylizer, grpc.health.v1.Health, reflection).\n"
      "Usage: stylizer-server [--model=ARCHIVE.pt] [--port=50051] [flags]\n"
      "SIGTERM or SIGINT drains gracefully and exits 0. See docs/server.md.");
  // --help lists this file's flags (the ones above); --helpfull lists all.
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view path) {
    return absl::EndsWith(path, "server/main.cc");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  usage.normalize_filename = [](absl::string_view path) {
    // Paths relative to the source tree, not to the build machine.
    for (absl::string_view root : {"server/", "client/", "external/"}) {
      const size_t pos = path.rfind(root);
      if (pos != absl::string_view::npos) return std::string(path.substr(pos));
    }
    return std::string(path);
  };
  usage.version_string = [] {
    return std::string("stylizer-server " STYLIZER_VERSION "\n");
  };
  absl::SetFlagsUsageConfig(usage);
#if defined(ABSL_LTS_RELEASE_VERSION) && ABSL_LTS_RELEASE_VERSION <= 20220623
  // This Abseil (Debian 12's) exits 1 after printing --help; a help or
  // version request that was answered exits 0 here, as scripts expect.
  // Newer Abseil does so itself.
  const std::vector<char*> rest = absl::flags_internal::ParseCommandLineImpl(
      argc, argv, absl::flags_internal::ArgvListAction::kRemoveParsedArgs,
      absl::flags_internal::UsageFlagsAction::kIgnoreUsage,
      absl::flags_internal::OnUndefinedFlag::kAbortIfUndefined);
  if (absl::flags_internal::HandleUsageFlags(
          std::cout, absl::ProgramUsageMessage()) >= 0) {
    return 0;
  }
#else
  const std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
#endif
  // rest[0] is the program.
  return stylizer::Run(std::vector<std::string>(rest.begin() + 1, rest.end()));
}
