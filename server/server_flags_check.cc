// The checks of stylizer-server's flags (server_flags.h), by group.
#include <arpa/inet.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "server/batching/job_queue_options.h"
#include "server/common/host_port.h"
#include "server/common/listen_check.h"
#include "server/media/spool.h"
#include "server/model/device_spec.h"
#include "server/model/torch_model.h"
#include "server/server_flags.h"

namespace stylizer {
namespace {

// The presets libx264 knows (x264_preset_names); any other name would fail
// every StylizeVideo call when its encoder opens.
constexpr const char* kX264Presets[] = {
    "ultrafast", "superfast", "veryfast", "faster",   "fast",
    "medium",    "slow",      "slower",   "veryslow", "placebo"};

// Largest --max_frame_pixels: FFmpeg's own range for a decoder's pixel limit
// (its max_pixels option, 0 to INT_MAX), which the image decoders are given.
constexpr uint64_t kMaxFramePixelsLimit = INT32_MAX;

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
  // A name (or an IPv4 address) that does not resolve reached the bind, and
  // was blamed on the port or the TLS files.
  if (value.find(':') == std::string::npos) {
    return CheckHostResolves(flag, value);
  }
  std::string literal = WithoutBrackets(value);
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

// --host, --metrics_host, the two ports, and the message sizes.
absl::Status CheckAddressFlags() {
  if (absl::Status s = CheckHostFlag("host", absl::GetFlag(FLAGS_host));
      !s.ok()) {
    return s;
  }
  if (!absl::GetFlag(FLAGS_metrics_host).empty()) {
    if (absl::Status s =
            CheckHostFlag("metrics_host", absl::GetFlag(FLAGS_metrics_host));
        !s.ok()) {
      return s;
    }
  }
  const int metrics_port = absl::GetFlag(FLAGS_metrics_port);
  if (metrics_port != -1 && (metrics_port < 0 || metrics_port > 65535)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics_port must be in [0, 65535] (or -1 for no "
                     "/metrics), got ",
                     metrics_port));
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
  const std::string metrics_host = MetricsHost();
  // localhost is 127.0.0.1 here (where an empty --metrics_host puts it).
  const auto address = [](const std::string& name) {
    return absl::EqualsIgnoreCase(name, "localhost") ? "127.0.0.1" : name;
  };
  if (port != 0 && port == metrics_port &&
      (address(host) == address(metrics_host) || every_address(host) ||
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
  return absl::OkStatus();
}

// The spool, the limits, the queue and the video jobs' settings.
absl::Status CheckLimitFlags() {
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
       absl::GetFlag(FLAGS_max_frames_buffered_per_stream)},
      {"--max_batch_size", absl::GetFlag(FLAGS_max_batch_size)},
      {"--max_frames_in_flight_per_job",
       absl::GetFlag(FLAGS_max_frames_in_flight_per_job)}};
  for (const auto& [name, value] : at_least_one) {
    if (value < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " must be at least 1, got ", value));
    }
  }
  // The queue's own checks (JobQueue::ValidateOptions) name its options,
  // not these flags.
  if (absl::GetFlag(FLAGS_max_queued_bytes) < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max_queued_bytes must be at least 1, got ",
                     absl::GetFlag(FLAGS_max_queued_bytes)));
  }
  if (absl::GetFlag(FLAGS_max_queued_items) <
      absl::GetFlag(FLAGS_max_batch_size)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max_queued_items (", absl::GetFlag(FLAGS_max_queued_items),
        ") must be at least --max_batch_size (",
        absl::GetFlag(FLAGS_max_batch_size), ")"));
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
  return absl::OkStatus();
}

// Every duration: none below zero, some above it.
absl::Status CheckDurationFlags() {
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
      {"--handshake_timeout", absl::GetFlag(FLAGS_handshake_timeout)},
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
      {"--handshake_timeout", absl::GetFlag(FLAGS_handshake_timeout)},
      {"--drain_device_timeout", absl::GetFlag(FLAGS_drain_device_timeout)},
      {"--max_connection_idle", absl::GetFlag(FLAGS_max_connection_idle)},
      {"--max_connection_age", absl::GetFlag(FLAGS_max_connection_age)}};
  for (const auto& [name, value] : positive_durations) {
    if (value <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " must be above 0 (inf = no limit), got ",
                       absl::FormatDuration(value)));
    }
  }
  // gRPC takes whole milliseconds, and falls back to its 120 s below 1.
  if (absl::GetFlag(FLAGS_handshake_timeout) < absl::Milliseconds(1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--handshake_timeout must be at least 1ms, got ",
        absl::FormatDuration(absl::GetFlag(FLAGS_handshake_timeout))));
  }
  if (absl::GetFlag(FLAGS_max_batch_pixels) < -1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max_batch_pixels must be -1 (no cap), 0 (automatic) or a number "
        "of pixels, got ",
        absl::GetFlag(FLAGS_max_batch_pixels)));
  }
  if (absl::GetFlag(FLAGS_batch_timeout) == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(
        "--batch_timeout must be finite: a batch would wait forever for its "
        "last frame");
  }
  return absl::OkStatus();
}

// Thread counts, the CUDA runtime and the video jobs' byte counts.
// --device and --precision as words: whether the device is there, and what
// it runs, is found when the model loads. A typo was found then too, after
// the port had opened, as model_load_failed without the flag's name.
absl::Status CheckModelFlags() {
  if (!ParseDeviceSpec(absl::GetFlag(FLAGS_device)).ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--device must be auto, cpu, cuda or cuda:N (N from 0); "
                     "got \"",
                     absl::GetFlag(FLAGS_device), "\""));
  }
  if (!ParsePrecisionRequest(absl::GetFlag(FLAGS_precision)).ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--precision must be auto, fp32, bf16 or fp16; got \"",
                     absl::GetFlag(FLAGS_precision), "\""));
  }
  return absl::OkStatus();
}

absl::Status CheckThreadAndDeviceFlags() {
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
      return absl::InvalidArgumentError(
          absl::StrCat(name, " must be at most ", INT64_MAX, ", got ", value));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckFlags() {
  for (absl::Status (*check)() :
       {CheckAddressFlags, CheckModelFlags, CheckLimitFlags, CheckDurationFlags,
        CheckThreadAndDeviceFlags}) {
    if (absl::Status s = check(); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace stylizer
