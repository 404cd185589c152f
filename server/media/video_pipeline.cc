// One video job's threads: decode -> job queue -> per-output encode and mux
// (see video_pipeline.h).
#include "server/media/video_pipeline.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/media/frame_convert.h"
#include "server/media/frame_shape.h"
#include "server/media/hdr_to_sdr.h"
#include "server/media/rgb_turn.h"
#include "server/media/video_pipeline_entry.h"
#include "server/media/wait_time.h"

namespace stylizer {
namespace media {

absl::StatusOr<std::unique_ptr<VideoPipeline>> VideoPipeline::Start(
    Options options, Spool* spool, VideoSink* sink) {
  if (options.style_weights.empty()) {
    return absl::InvalidArgumentError("a video job needs at least one style");
  }
  if (!options.open_job || spool == nullptr || sink == nullptr) {
    return absl::InvalidArgumentError(
        "VideoPipeline needs open_job, a spool and a sink");
  }
  if (options.max_frames_in_flight < 1 || options.max_pending_frames < 1 ||
      options.max_pending_audio < 1 || options.max_window_bytes < 0) {
    return absl::InvalidArgumentError("pipeline window limits must be >= 1");
  }
  if (options.max_side < 0 || options.crf < 0 || options.crf > 51) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_side must be >= 0 and crf in 0..51 (got ",
                     options.max_side, ", ", options.crf, ")"));
  }
  std::unique_ptr<VideoPipeline> pipeline(
      new VideoPipeline(std::move(options), spool, sink));
  pipeline->thread_ = std::thread([p = pipeline.get()] { p->Run(); });
  return pipeline;
}

VideoPipeline::VideoPipeline(Options options, Spool* spool, VideoSink* sink)
    : options_(std::move(options)),
      num_outputs_(static_cast<int>(options_.style_weights.size())),
      spool_(spool),
      sink_(sink),
      start_time_(absl::Now()),
      cursors_(num_outputs_, 0) {}

VideoPipeline::~VideoPipeline() {
  Cancel(absl::CancelledError("video job cancelled"));
  if (thread_.joinable()) thread_.join();
}

void VideoPipeline::Cancel(absl::Status status) {
  std::shared_ptr<Job> job;
  {
    absl::MutexLock lock(&mu_);
    if (finished_ || !error_.ok()) return;
    error_ = status.ok() ? absl::CancelledError("video job cancelled") : status;
    status = error_;
    job = job_;
  }
  sink_->OnFailing(status);
  spool_->Abort(status);
  if (job != nullptr) job->Cancel();
}

int64_t VideoPipeline::frames_done() const {
  absl::MutexLock lock(&mu_);
  return frames_done_;
}

int64_t VideoPipeline::frames_decoded() const {
  absl::MutexLock lock(&mu_);
  return frames_decoded_;
}

bool VideoPipeline::finished() const {
  absl::MutexLock lock(&mu_);
  return finished_;
}

absl::Status VideoPipeline::error() const {
  absl::MutexLock lock(&mu_);
  return error_;
}

void VideoPipeline::Run() {
  absl::StatusOr<VideoSummary> result = RunJob();
  std::shared_ptr<Job> job;
  {
    absl::MutexLock lock(&mu_);
    job = std::move(job_);
    window_.clear();
    awaiting_.clear();
  }
  // Outside mu_: destroying the job waits for a delivery in progress, and
  // that delivery (OnResult) takes mu_. It finds awaiting_ empty and returns.
  job.reset();
  if (result.ok()) {
    absl::Status s = error();  // a cancel that came too late to matter
    if (!s.ok()) result = s;
  } else {
    Cancel(result.status());
    absl::Status s = error();
    if (!s.ok()) result = s;
  }
  sink_->OnFinished(std::move(result));
  absl::MutexLock lock(&mu_);
  finished_ = true;
}

absl::StatusOr<VideoSummary> VideoPipeline::RunJob() {
  MovieReader::Options reader_options = options_.reader;
  absl::StatusOr<std::unique_ptr<MovieReader>> reader =
      MovieReader::Open(spool_, reader_options);
  if (!reader.ok()) return reader.status();
  const MovieInfo& info = (*reader)->info();
  // The size frames are read at (as stored), and the outputs' size: Matroska
  // outputs cannot carry the input's display matrix (FFmpeg 5.1's muxer
  // writes none), so their frames are turned (and mirrored) as players show
  // them instead.
  const auto [read_width, read_height] =
      OutputSize(info.width, info.height, options_.max_side);
  const int upright =
      options_.container == OutputContainer::kMatroska
          ? UprightOrientation(info.rotation_degrees, info.mirrored)
          : 1;
  const bool sideways = upright >= 5;  // a quarter turn swaps the sides
  const int width = sideways ? read_height : read_width;
  const int height = sideways ? read_width : read_height;
  // The largest max_side whose frames fit the limit and keep the shape
  // rule (a thin movie's may need to be small), for the refusals below.
  auto fitting_side = [&] {
    return LargestFittingSide(
        std::max(info.width, info.height),
        options_.max_frame_pixels > 0 ? options_.max_frame_pixels : INT64_MAX,
        [&](int64_t side) {
          const auto [w, h] =
              OutputSize(info.width, info.height, static_cast<int>(side));
          return std::pair<int64_t, int64_t>(w, h);
        });
  };
  // The shape rule is the model's: it applies to these frames, not to the
  // movie's own (a 2000x20 strip scaled to 64x2 is a small frame).
  if (absl::Status shape = CheckFrameShape(width, height); !shape.ok()) {
    const auto [own_width, own_height] = OutputSize(info.width, info.height, 0);
    const bool wide_as_sent = CheckFrameShape(own_width, own_height).ok();
    const std::string remedy =
        ThinPictureRemedy(wide_as_sent, fitting_side(), /*movie=*/true);
    if (own_width == read_width && own_height == read_height) {
      // max_side left the size as it is.
      return absl::InvalidArgumentError(absl::StrCat(shape.message(), remedy));
    }
    return absl::InvalidArgumentError(
        absl::StrCat("with max_side ", options_.max_side, " the frames become ",
                     width, "x", height, ": ", shape.message(), remedy));
  }
  if (options_.max_frame_pixels > 0 &&
      static_cast<int64_t>(width) * height > options_.max_frame_pixels) {
    return absl::InvalidArgumentError(absl::StrCat(
        "frames of ", width, "x", height, " exceed the server's limit of ",
        options_.max_frame_pixels, " pixels per frame; set max_side to ",
        fitting_side(), " or less"));
  }
  // The window's frame limit, lowered for big frames x many styles.
  int window_frames =
      options_.max_frames_in_flight + options_.max_pending_frames;
  int in_flight = options_.max_frames_in_flight;
  if (options_.max_window_bytes > 0) {
    const int64_t per_frame =
        static_cast<int64_t>(width) * height * 3 * (num_outputs_ + 1);
    const int64_t fit = options_.max_window_bytes / per_frame;
    if (fit < window_frames) {
      window_frames = static_cast<int>(std::max<int64_t>(2, fit));
      in_flight = std::max(1, std::min(in_flight, window_frames / 2));
    }
  }
  int encoder_threads = options_.encoder_threads;
  if (encoder_threads <= 0) {
    const int cores =
        options_.cores > 0
            ? options_.cores
            : static_cast<int>(std::thread::hardware_concurrency());
    encoder_threads = std::clamp(cores / num_outputs_, 1, 8);
  }
  if (options_.reserve_memory) {
    VideoMemory memory;
    memory.width = width;
    memory.height = height;
    memory.outputs = num_outputs_;
    memory.window_frames = window_frames;
    const int64_t frame = static_cast<int64_t>(width) * height * 3;
    memory.window_bytes = window_frames * frame * (num_outputs_ + 1) + frame;
    memory.encoder_bytes =
        num_outputs_ *
        EstimateEncoderBytes(width, height, options_.preset, encoder_threads);
    // At the input's size, whatever max_side makes of the outputs: an
    // 8192x8192 movie sent with a small max_side held 2.4 GB uncounted.
    memory.input_width = info.width;
    memory.input_height = info.height;
    memory.decoder_bytes =
        EstimateDecoderBytes(info, options_.reader.decoder_threads);
    absl::Status s = options_.reserve_memory(memory);
    if (!s.ok()) return s;
  }
  {
    absl::MutexLock lock(&mu_);
    frames_estimate_ = info.frames_estimate;
    last_progress_ = absl::Now();
    max_window_frames_ = window_frames;
  }
  sink_->OnAccepted(info, width, height);

  JobOptions job_options;
  job_options.deadline = options_.deadline;
  job_options.max_frames_in_flight = in_flight;
  job_options.name = options_.name;
  job_options.on_result = [this](FrameResult r) { OnResult(std::move(r)); };
  absl::StatusOr<std::unique_ptr<Job>> opened =
      options_.open_job(std::move(job_options));
  if (!opened.ok()) return opened.status();
  std::shared_ptr<Job> job(std::move(*opened));
  {
    absl::MutexLock lock(&mu_);
    if (!error_.ok()) return error_;
    job_ = job;
  }

  // HDR frames become SDR BT.709 as they are read, and the outputs are
  // tagged so.
  std::shared_ptr<const HdrToSdr> hdr_to_sdr =
      HdrToSdr::ForStream(*(*reader)->video_stream());
  RgbConverter converter(read_width, read_height, hdr_to_sdr);
  converter.set_read_fields((*reader)->video_stream()->codecpar->codec_id !=
                            AV_CODEC_ID_HEVC);
  const AVStream* audio =
      options_.drop_audio ? nullptr : (*reader)->audio_stream();
  // Every output moves back by the same amount (one input, one rule).
  const int64_t shift_back_us = LateStartMicros(
      (*reader)->video_stream(), audio, (*reader)->info().container.c_str());
  std::vector<std::unique_ptr<MovieWriter>> writers;
  for (int i = 0; i < num_outputs_; ++i) {
    MovieWriter::Options w;
    w.container = options_.container;
    w.width = width;
    w.height = height;
    w.video_in = (*reader)->video_stream();
    w.sdr_bt709 = hdr_to_sdr != nullptr;
    w.turned_upright = upright != 1;
    w.turned_sideways = sideways;
    w.shift_back_us = shift_back_us;
    w.audio_in = audio;
    w.metadata_in = (*reader)->metadata();
    w.crf = options_.crf;
    w.preset = options_.preset;
    w.encoder_threads = encoder_threads;
    w.on_bytes = [this, i](absl::string_view bytes) {
      return sink_->OnOutputChunk(i, bytes);
    };
    absl::StatusOr<std::unique_ptr<MovieWriter>> writer =
        MovieWriter::Create(w);
    if (!writer.ok()) return writer.status();
    writers.push_back(std::move(*writer));
  }
  std::vector<std::thread> threads;
  threads.reserve(num_outputs_);
  for (int i = 0; i < num_outputs_; ++i) {
    threads.emplace_back([this, i, w = writers[i].get()] { WriterLoop(i, w); });
  }
  absl::Status decoded =
      DecodeLoop(reader->get(), &converter, upright, job.get());
  if (!decoded.ok()) Cancel(decoded);
  for (std::thread& t : threads) t.join();
  absl::Status s = error();
  if (!s.ok()) return s;

  VideoSummary summary;
  for (int i = 0; i < num_outputs_; ++i) {
    OutputSummary o;
    o.output_index = i;
    o.frames = writers[i]->frames();
    o.bytes = writers[i]->bytes();
    o.duration_seconds = writers[i]->duration_seconds();
    o.has_audio = writers[i]->has_audio();
    summary.outputs.push_back(o);
  }
  summary.elapsed_seconds = absl::ToDoubleSeconds(absl::Now() - start_time_);
  summary.packets_skipped = (*reader)->packets_skipped();
  summary.timestamp_jumps = (*reader)->timestamp_jumps();
  {
    absl::MutexLock lock(&mu_);
    last_progress_ = absl::InfinitePast();  // force a final report
  }
  MaybeReportProgress();
  return summary;
}

bool VideoPipeline::PushEntry(std::unique_ptr<Entry> entry) {
  absl::MutexLock lock(&mu_);
  const int max_frames = max_window_frames_;
  const bool is_video = entry->kind == Entry::Kind::kVideo;
  const bool is_audio = entry->kind == Entry::Kind::kAudio;
  auto has_room = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!error_.ok()) return true;
    if (is_video) return window_frames_ < max_frames;
    if (is_audio) return window_audio_ < options_.max_pending_audio;
    return true;
  };
  mu_.Await(absl::Condition(&has_room));
  if (!error_.ok()) return false;
  if (is_video) {
    ++window_frames_;
    ++frames_decoded_;
    awaiting_[entry->sequence] = entry.get();
  } else if (is_audio) {
    ++window_audio_;
  }
  window_.push_back(std::move(entry));
  return true;
}

absl::Status VideoPipeline::DecodeLoop(MovieReader* reader,
                                       RgbConverter* converter, int orientation,
                                       Job* job) {
  uint64_t sequence = 0;
  const bool estimate_from_position = reader->frames_estimate_is_guess();
  while (true) {
    const absl::Time decode_start = absl::Now();
    const absl::Duration waited_before = ThreadWaitTime();
    absl::StatusOr<MovieReader::Item> item = reader->Next();
    if (!item.ok()) return item.status();
    auto entry = std::make_unique<Entry>();
    switch (item->kind) {
      case MovieReader::Item::Kind::kEnd:
        entry->kind = Entry::Kind::kEnd;
        PushEntry(std::move(entry));
        return absl::OkStatus();
      case MovieReader::Item::Kind::kAudioPacket:
        if (options_.drop_audio) continue;
        entry->kind = Entry::Kind::kAudio;
        entry->packet = std::move(item->packet);
        if (!PushEntry(std::move(entry))) return error();
        continue;
      case MovieReader::Item::Kind::kVideoFrame:
        break;
    }
    const AVFrame& frame = *item->frame;
    auto rgb = std::make_shared<RgbFrame>();
    absl::Status s = converter->Convert(frame, rgb.get());
    if (!s.ok()) return s;
    if (orientation != 1) {
      rgb->pixels =
          TurnRgb24(rgb->pixels, &rgb->width, &rgb->height, orientation);
    }
    if (options_.on_decode_time) {
      options_.on_decode_time(absl::Now() - decode_start -
                              (ThreadWaitTime() - waited_before));
    }
    entry->kind = Entry::Kind::kVideo;
    entry->sequence = sequence;
    entry->pts = frame.pts;
    entry->duration = frame.pkt_duration;
    if (options_.preserve_color) entry->color_source = rgb;
    const int64_t position = frame.pkt_pos;
    item->frame.reset();
    if (!PushEntry(std::move(entry))) return error();
    if (estimate_from_position) EstimateFramesFromPosition(position);
    FrameRequest request;
    request.frame = std::move(rgb);
    request.style_weights = options_.style_weights;
    request.sequence = sequence++;
    s = job->Submit(&request);
    if (!s.ok()) return s;
    MaybeReportProgress();
  }
}

void VideoPipeline::EstimateFramesFromPosition(int64_t position) {
  uint64_t size = options_.reader.expected_size;
  if (size == 0) size = spool_->FinalSize().value_or(0);
  // The first frames say little (a keyframe is many times the size of the
  // frames after it): from 2 % of the input on.
  if (size == 0 || position <= 0 ||
      static_cast<uint64_t>(position) < size / 50) {
    return;
  }
  absl::MutexLock lock(&mu_);
  frames_estimate_ = std::max<int64_t>(
      frames_decoded_,
      std::llround(static_cast<double>(frames_decoded_) *
                   static_cast<double>(size) / static_cast<double>(position)));
}

}  // namespace media
}  // namespace stylizer
