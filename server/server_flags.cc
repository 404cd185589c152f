// The flags of stylizer-server (docs/server.md); their checks are in
// server_flags_check.cc.
#include "server/server_flags.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/common/host_port.h"

// --- network ---
ABSL_FLAG(std::string, host, "[::]",
          "Interface the gRPC server listens on ([::] = every IPv4 and IPv6 "
          "address; 127.0.0.1 = this machine only).");
ABSL_FLAG(int, port, 50051, "TCP port of the gRPC API.");
ABSL_FLAG(int, metrics_port, 9464,
          "TCP port of the Prometheus endpoint /metrics; 0 picks a free port, "
          "-1 turns the endpoint off (other negative values are refused).");
ABSL_FLAG(std::string, metrics_host, "",
          "Interface /metrics listens on (0.0.0.0 = every IPv4 address, so a "
          "Prometheus on another host can scrape it; 127.0.0.1 = this machine "
          "only). Empty: 127.0.0.1 when --host is this machine only, else "
          "0.0.0.0. /metrics needs no token: keep it off public networks.");

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
ABSL_FLAG(int64_t, max_batch_pixels, 0,
          "Most pixels (width x height, summed over its items) in one batch; "
          "a batch always takes one item. A forward pass cannot be stopped: "
          "this bounds how long a large frame's batch holds the device from "
          "other callers, or runs on after its caller left. 0 = automatic "
          "(1048576 on the CPU, where batching large frames gains nothing; "
          "no cap on CUDA), -1 = no cap.");
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
ABSL_FLAG(uint64_t, upload_min_rate, 32 * 1024,
          "Bytes per second a StylizeVideo upload must bring, over each "
          "--stream_idle_timeout the server waits for it (time it holds the "
          "upload back does not count); a slower one ends with "
          "DEADLINE_EXCEEDED and frees its slot and spool disk. 0: no "
          "floor.");
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
ABSL_FLAG(uint64_t, spool_disk_bytes, 0,
          "What the spill files of all video jobs may fill together; past it "
          "an upload is refused as busy (retry hint). 0 = no limit of its "
          "own: the disk's free room, which bounds every upload anyway. "
          "Spill files have no name, so a volume's size limit that is "
          "measured by walking the directory (a kubelet's emptyDir "
          "sizeLimit) never sees them: set this below it.");
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
ABSL_FLAG(absl::Duration, handshake_timeout, absl::Seconds(10),
          "A connection that has not finished its TLS handshake and sent "
          "HTTP/2's preface and settings this long after it was accepted is "
          "closed (gRPC's default is 120 s: idle sockets held the server's "
          "file descriptors). Above 0.");
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
ABSL_FLAG(absl::Duration, drain_device_timeout, absl::Minutes(5),
          "On SIGTERM/SIGINT, once every call has ended: how long the drain "
          "may wait for batches still on the device for callers that left "
          "(they cannot be stopped) and for its threads to stop, before it "
          "logs drain_stuck and exits 1. Above 0.");

// --- security ---
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain of the server; with --tls_key turns TLS on.");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA bundle; when set, clients must present a certificate signed "
          "by it (mutual TLS). Needs --tls_cert and --tls_key.");
ABSL_FLAG(std::vector<std::string>, tls_client_names, {},
          "Comma-separated client certificate names admitted with "
          "--tls_client_ca: a subject alternative name (DNS, URI, e-mail, "
          "IP) or, for a certificate without any, its common name. Other "
          "certificates the CA signed get PERMISSION_DENIED. Empty: all.");
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

std::string MetricsHost() {
  const std::string given = absl::GetFlag(FLAGS_metrics_host);
  if (!given.empty()) return given;
  // A server told to listen on this machine only kept /metrics on every
  // address.
  return IsLoopbackHost(absl::GetFlag(FLAGS_host)) ? "127.0.0.1" : "0.0.0.0";
}

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

}  // namespace stylizer
