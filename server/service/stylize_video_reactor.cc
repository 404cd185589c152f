// StylizeVideo's start: the call, the VideoJob, its memory and its pipeline.
#include "server/service/stylize_video_reactor.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "server/metrics/metrics.h"
#include "server/service/retry_info.h"
#include "server/service/status_util.h"

namespace stylizer {
namespace {

constexpr char kMethod[] = "StylizeVideo";

std::string NewJobId() {
  static std::atomic<uint64_t> counter{0};
  return absl::StrFormat("v%x-%d", absl::ToUnixMillis(absl::Now()),
                         counter.fetch_add(1) + 1);
}

// The most bytes an encoder hands on at once (MovieWriter's I/O buffer):
// each output may add one such chunk past max_pending_output_bytes.
constexpr int64_t kMaxChunkBytes = 64 * 1024;

// A refusal of a job's frames says what makes them smaller.
// `memory`: what the job asked for. Where the decoder needs the most, only
// a smaller input helps: it decodes at the input's own size.
absl::Status WithVideoHint(absl::Status status,
                           const media::VideoMemory& memory) {
  if (status.code() != absl::StatusCode::kResourceExhausted) return status;
  const bool decoder_most =
      memory.decoder_bytes > memory.window_bytes + memory.encoder_bytes;
  return Reworded(
      status, status.code(),
      absl::StrCat(status.message(),
                   decoder_most
                       ? " (the decoder needs the most, at the input's own "
                         "size: scale the movie down before sending it, "
                         "e.g. ffmpeg -vf scale=-2:2160)"
                       : " (a smaller max_side or fewer styles lowers what a "
                         "video job needs)"));
}

}  // namespace

VideoReactorFactory MakeStylizeVideoReactorFactory(
    StylizeVideoOptions options) {
  if (options.spool_disk_budget == nullptr) {
    options.spool_disk_budget =
        media::DiskBudget::ForDirectory(0, options.spool_dir);
  }
  return
      [options](ServiceContext* service, grpc::CallbackServerContext* context) {
        return StylizeVideoReactor::Start(service, context, options);
      };
}

RawBidiReactor* StylizeVideoReactor::Start(ServiceContext* service,
                                           grpc::CallbackServerContext* context,
                                           const StylizeVideoOptions& options) {
  auto* reactor = new StylizeVideoReactor(service, context, options);
  absl::StatusOr<std::unique_ptr<ServiceContext::StreamSlot>> slot =
      service->AcquireStreamSlot(kMethod);
  grpc::Status status;
  if (slot.ok()) {
    reactor->slot_ = *std::move(slot);
    media::Spool::Options spool;
    spool.memory_limit = options.spool_memory_bytes;
    spool.max_size = options.max_upload_bytes;
    spool.temp_dir = options.spool_dir;
    spool.disk_budget = options.spool_disk_budget.get();
    absl::StatusOr<std::unique_ptr<media::Spool>> created =
        media::Spool::Create(spool);
    if (created.ok()) {
      reactor->spool_ = *std::move(created);
    } else {
      status = ToGrpcStatus(created.status());
    }
  } else {
    status = ToGrpcStatus(slot.status());
  }
  if (!status.ok()) {
    reactor->Fail(status);
  } else {
    absl::MutexLock lock(&reactor->mu_);
    reactor->StartReadLocked();
  }
  return reactor;
}

StylizeVideoReactor::StylizeVideoReactor(ServiceContext* service,
                                         grpc::CallbackServerContext* context,
                                         const StylizeVideoOptions& options)
    : service_(service),
      context_(context),
      options_(options),
      job_id_(NewJobId()),
      start_(absl::Now()),
      log_(service, kMethod, *context),
      pace_(service->limits().upload_min_bytes_per_second,
            service->limits().stream_idle_timeout),
      idle_(service->timers(), service->limits().stream_idle_timeout,
            [this] { OnIdle(); }) {
  log_.SetJobId(job_id_);
}

StylizeVideoReactor::~StylizeVideoReactor() {
  idle_.Stop();  // waits for an OnIdle that is running now
  std::unique_ptr<media::VideoPipeline> pipeline;
  {
    absl::MutexLock lock(&mu_);
    pipeline = std::move(pipeline_);
  }
  pipeline.reset();  // cancels if still running and joins its threads
  spool_.reset();
}

grpc::Status StylizeVideoReactor::StartJob(const v1::VideoJob& job) {
  absl::StatusOr<ResolvedStyles> styles = service_->ResolveStyles(job.styles());
  if (!styles.ok()) return ToGrpcStatus(styles.status());
  if (job.crf() > 51) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat("crf must be 0..51, got ", job.crf()));
  }
  if (!v1::Container_IsValid(job.container())) {
    return grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat("unknown container ", static_cast<int>(job.container())));
  }
  if (job.codec() != v1::VIDEO_CODEC_UNSPECIFIED &&
      job.codec() != v1::VIDEO_CODEC_H264) {
    return grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat("unsupported video codec ", static_cast<int>(job.codec()),
                     "; this server writes H.264"));
  }
  if (job.input_size() > options_.max_upload_bytes) {
    return grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        absl::StrCat("the movie (", job.input_size(),
                     " bytes) is larger than the server's upload limit of ",
                     options_.max_upload_bytes,
                     " bytes (--max_upload_bytes); send a smaller movie"));
  }
  output_indices_ = styles->output_indices;
  if (absl::Status s = ReserveFixedMemory(
          job.input_size(), static_cast<int>(output_indices_.size()));
      !s.ok()) {
    return ToGrpcStatus(s);
  }

  absl::StatusOr<std::unique_ptr<media::VideoPipeline>> pipeline =
      media::VideoPipeline::Start(
          PipelineOptions(job, std::move(styles->weights)), spool_.get(), this);
  if (!pipeline.ok()) return ToGrpcStatus(pipeline.status());
  media::VideoPipeline* cancel = nullptr;
  {
    absl::MutexLock lock(&mu_);
    pipeline_ = *std::move(pipeline);
    // OnCancel came meanwhile. The pipeline lives until the destructor.
    if (failure_.has_value()) cancel = pipeline_.get();
  }
  if (cancel != nullptr) cancel->Cancel(absl::CancelledError("the call ended"));
  return grpc::Status::OK;
}

media::VideoPipeline::Options StylizeVideoReactor::PipelineOptions(
    const v1::VideoJob& job, std::vector<std::vector<float>> style_weights) {
  media::VideoPipeline::Options p;
  p.style_weights = std::move(style_weights);
  ServiceContext* service = service_;
  p.open_job = [service](JobOptions o) {
    return service->OpenJob(std::move(o));
  };
  // Any max_side above the movie's size leaves it alone, however large.
  p.max_side = static_cast<int>(std::min<uint32_t>(
      job.max_side(), std::numeric_limits<int32_t>::max()));
  p.max_frame_pixels =
      static_cast<int64_t>(service_->limits().max_frame_pixels);
  p.container = job.container() == v1::CONTAINER_MATROSKA
                    ? media::OutputContainer::kMatroska
                    : media::OutputContainer::kFragmentedMp4;
  p.crf = job.crf() > 0 ? static_cast<int>(job.crf()) : options_.default_crf;
  p.preset = options_.preset;
  p.encoder_threads = options_.encoder_threads;
  p.cores = options_.cores;
  p.drop_audio = job.drop_audio();
  p.preserve_color = job.preserve_color();
  p.max_frames_in_flight = options_.max_frames_in_flight;
  p.max_pending_frames = options_.max_pending_frames;
  p.max_window_bytes = options_.max_window_bytes;
  p.reader.expected_size = job.input_size();
  p.progress_interval = options_.progress_interval;
  p.deadline = CallDeadline(*context_);
  p.name = absl::StrCat(kMethod, " ", job_id_);
  p.reserve_memory = [this](const media::VideoMemory& memory) {
    return ReserveFrameMemory(memory);
  };
  if (Metrics* metrics = service_->metrics()) {
    p.on_decode_time = [metrics](absl::Duration d) {
      metrics->RecordDecode(d);
    };
    p.on_encode_time = [metrics](absl::Duration d) {
      metrics->RecordEncode(d);
    };
  }
  return p;
}

absl::Status StylizeVideoReactor::ReserveFixedMemory(uint64_t input_size,
                                                     int outputs) {
  if (absl::Status s = spool_->ExpectSize(input_size); !s.ok()) return s;
  size_t spool_limit = options_.spool_memory_bytes;
  if (input_size > 0 && input_size < spool_limit) {
    // A small announced upload: charge its size and keep no more in memory
    // (a client that sends more spills to the temporary file).
    spool_limit = static_cast<size_t>(input_size);
    spool_->LimitMemory(spool_limit);
  }
  const int64_t spool_bytes =
      static_cast<int64_t>(media::Spool::MaxMemoryBytes(spool_limit));
  const int64_t output_bytes =
      static_cast<int64_t>(options_.max_pending_output_bytes) +
      (outputs + 1) * kMaxChunkBytes;
  absl::StatusOr<MemoryBudget::Reservation> reserved = service_->ReserveMemory(
      spool_bytes + output_bytes,
      absl::StrCat("a video job's upload spool (", spool_bytes,
                   " bytes) and unsent output (", output_bytes, " bytes)"));
  if (!reserved.ok()) return reserved.status();
  fixed_memory_ = *std::move(reserved);
  return absl::OkStatus();
}

absl::Status StylizeVideoReactor::ReserveFrameMemory(
    const media::VideoMemory& memory) {
  absl::StatusOr<MemoryBudget::Reservation> reserved = service_->ReserveMemory(
      memory.total(),
      absl::StrCat("the frame window (", memory.window_frames, " frames, ",
                   memory.window_bytes, " bytes), ", memory.outputs,
                   memory.outputs == 1 ? " encoder (" : " encoders (",
                   memory.encoder_bytes, " bytes) and the decoder (",
                   memory.decoder_bytes, " bytes, ", memory.input_width, "x",
                   memory.input_height, " input) of a ", memory.width, "x",
                   memory.height, " video job"),
      fixed_memory_.bytes());
  if (!reserved.ok()) return WithVideoHint(reserved.status(), memory);
  absl::MutexLock lock(&mu_);
  frame_memory_ = *std::move(reserved);
  return absl::OkStatus();
}

}  // namespace stylizer
