#include "server/server_options.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "server/archive_file.h"
#include "server/media/disk_budget.h"
#include "server/metrics/log.h"
#include "server/server_flags.h"
#include "server/service/cpu_limit.h"
#include "server/service/memory_limit.h"
#include "server/service/stylize_video_reactor.h"

namespace stylizer {
namespace {

// The default memory budget's share of the container's (or machine's)
// memory; the rest is the model, the code, video pipelines and slack.
constexpr int kDefaultBudgetPercent = 80;

// The directory of this executable, or "" if unknown.
std::filesystem::path ExecutableDir() {
  std::error_code error;
  std::filesystem::path exe =
      std::filesystem::read_symlink("/proc/self/exe", error);
  return error ? std::filesystem::path() : exe.parent_path();
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

// The caching allocator's figures and the OOM count of a CUDA model; nothing
// for a CPU model or before the model is loaded.
SpoolDiskStats SampleSpoolDisk(const media::DiskBudget& budget) {
  SpoolDiskStats stats;
  stats.uploads_bytes = static_cast<int64_t>(budget.used());
  stats.limit_bytes = static_cast<int64_t>(budget.limit());
  if (std::optional<media::DiskBudget::DiskSpace> disk = budget.space()) {
    stats.free_bytes = static_cast<int64_t>(disk->free);
    stats.size_bytes = static_cast<int64_t>(disk->size);
  }
  return stats;
}

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

}  // namespace

Server::Options ServerOptions(
    Metrics* metrics, std::shared_ptr<LoadedModel> loaded_model,
    std::function<void(const absl::Status&)> on_load_failure) {
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
  o.max_batch_pixels = absl::GetFlag(FLAGS_max_batch_pixels);
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
  o.limits.upload_min_bytes_per_second = absl::GetFlag(FLAGS_upload_min_rate);
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
  o.handshake_timeout = absl::GetFlag(FLAGS_handshake_timeout);
  o.max_connection_idle = absl::GetFlag(FLAGS_max_connection_idle);
  o.max_connection_age = absl::GetFlag(FLAGS_max_connection_age);
  o.max_connection_age_grace = absl::GetFlag(FLAGS_max_connection_age_grace);
  o.tls_cert_file = absl::GetFlag(FLAGS_tls_cert);
  o.tls_key_file = absl::GetFlag(FLAGS_tls_key);
  o.tls_client_ca_file = absl::GetFlag(FLAGS_tls_client_ca);
  o.tls_client_names = absl::GetFlag(FLAGS_tls_client_names);
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
  video.spool_disk_budget = media::DiskBudget::ForDirectory(
      absl::GetFlag(FLAGS_spool_disk_bytes), video.spool_dir);
  if (metrics != nullptr) {
    metrics->SetSpoolDiskCallback([budget = video.spool_disk_budget] {
      return SampleSpoolDisk(*budget);
    });
  }
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
  o.on_load_failure = std::move(on_load_failure);
  return o;
}

}  // namespace stylizer
