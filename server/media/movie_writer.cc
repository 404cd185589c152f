// Encoder + in-memory muxer for one output movie (see movie_writer.h).
#include "server/media/movie_writer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/media/aac_adts.h"
#include "server/media/audio_copy_rule.h"
#include "server/media/audio_transcoder.h"
#include "server/media/movie_tags.h"

extern "C" {
#include <libavutil/dict.h>
#include <libavutil/intreadwrite.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
}

namespace stylizer {
namespace media {
namespace {

constexpr int kIoBufferSize = 64 * 1024;

// Frees an AVDictionary when it goes out of scope.
struct DictionaryGuard {
  AVDictionary* dict = nullptr;
  ~DictionaryGuard() { av_dict_free(&dict); }
};

// An input's primaries or transfer as the output's tag: reserved and unknown
// values (a damaged or hostile header) become unspecified.
AVColorPrimaries KnownOrUnspecified(AVColorPrimaries p) {
  if (p == AVCOL_PRI_RESERVED0 || p == AVCOL_PRI_RESERVED ||
      av_color_primaries_name(p) == nullptr) {
    return AVCOL_PRI_UNSPECIFIED;
  }
  return p;
}
AVColorTransferCharacteristic KnownOrUnspecified(
    AVColorTransferCharacteristic t) {
  if (t == AVCOL_TRC_RESERVED0 || t == AVCOL_TRC_RESERVED ||
      av_color_transfer_name(t) == nullptr) {
    return AVCOL_TRC_UNSPECIFIED;
  }
  return t;
}

// The primaries and transfer players assume for a picture of `matrix` that
// says no more (BT.709 for BT.709; the SD systems' for BT.601); unspecified
// for the others.
AVColorPrimaries AssumedPrimaries(AVColorSpace matrix) {
  switch (matrix) {
    case AVCOL_SPC_BT709:
      return AVCOL_PRI_BT709;
    case AVCOL_SPC_SMPTE170M:
      return AVCOL_PRI_SMPTE170M;
    case AVCOL_SPC_BT470BG:
      return AVCOL_PRI_BT470BG;
    default:
      return AVCOL_PRI_UNSPECIFIED;
  }
}
AVColorTransferCharacteristic AssumedTransfer(AVColorSpace matrix) {
  switch (matrix) {
    case AVCOL_SPC_BT709:
      return AVCOL_TRC_BT709;
    case AVCOL_SPC_SMPTE170M:
    case AVCOL_SPC_BT470BG:
      return AVCOL_TRC_SMPTE170M;  // BT.709's curve, as SD cameras use it
    default:
      return AVCOL_TRC_UNSPECIFIED;
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<MovieWriter>> MovieWriter::Create(
    const Options& options) {
  if (options.video_in == nullptr || !options.on_bytes) {
    return absl::InvalidArgumentError(
        "MovieWriter needs video_in and on_bytes");
  }
  if (options.width < 2 || options.height < 2 || options.width % 2 != 0 ||
      options.height % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("output size must be even and >= 2, got ", options.width,
                     "x", options.height));
  }
  if (options.crf < 0 || options.crf > 51) {
    return absl::InvalidArgumentError(
        absl::StrCat("crf must be in 0..51, got ", options.crf));
  }
  std::unique_ptr<MovieWriter> writer(new MovieWriter(options, false));
  absl::Status s = writer->Init();
  if (!s.ok() && writer->audio_out_ != nullptr &&
      writer->transcoder_ == nullptr && !writer->header_written_) {
    // The muxer refused the copied audio (its parameters, not its codec):
    // re-encode it instead.
    writer.reset(new MovieWriter(options, true));
    s = writer->Init();
  }
  if (!s.ok()) return s;
  return writer;
}

MovieWriter::MovieWriter(const Options& options, bool transcode_audio)
    : options_(options), force_transcode_(transcode_audio) {}

MovieWriter::~MovieWriter() {
  adts_.reset();
  transcoder_.reset();
  encoder_.reset();
  format_.reset();
  io_.reset();
}

int MovieWriter::WriteCallback(void* opaque, uint8_t* data, int size) {
  auto* self = static_cast<MovieWriter*>(opaque);
  if (!self->sink_status_.ok()) return AVERROR_EXIT;
  if (self->holding_) {
    self->held_.append(reinterpret_cast<const char*>(data), size);
    return size;
  }
  absl::Status s = self->options_.on_bytes(
      absl::string_view(reinterpret_cast<const char*>(data), size));
  if (!s.ok()) {
    self->sink_status_ = s;
    return AVERROR_EXIT;
  }
  self->bytes_ += static_cast<uint64_t>(size);
  return size;
}

absl::Status MovieWriter::Failed(absl::Status status) {
  // The sink's own reason (a cancelled client) beats FFmpeg's "exit".
  if (!sink_status_.ok()) status = sink_status_;
  if (error_.ok()) error_ = status;
  return status;
}

absl::Status MovieWriter::Init() {
  const AVStream* in = options_.video_in;
  time_base_ = in->time_base;
  video_shift_ = LateStartTicks(options_.shift_back_us, in->time_base);
  if (options_.audio_in != nullptr) {
    audio_shift_ = LateStartTicks(options_.shift_back_us,
                                  options_.audio_in->time_base);
  }
  AVRational rate = in->avg_frame_rate;
  if (rate.num <= 0 || rate.den <= 0) rate = in->r_frame_rate;
  if (rate.num <= 0 || rate.den <= 0) rate = {25, 1};
  default_duration_ =
      std::max<int64_t>(1, av_rescale_q(1, av_inv_q(rate), time_base_));

  const char* muxer =
      options_.container == OutputContainer::kMatroska ? "matroska" : "mp4";
  AVFormatContext* raw = nullptr;
  int ret = avformat_alloc_output_context2(&raw, nullptr, muxer, nullptr);
  if (ret < 0)
    return AvError(ret, absl::StrCat("cannot create the ", muxer, " muxer"));
  format_.reset(raw);
  auto* buffer = static_cast<unsigned char*>(av_malloc(kIoBufferSize));
  if (buffer == nullptr) return absl::ResourceExhaustedError("out of memory");
  io_.reset(avio_alloc_context(buffer, kIoBufferSize, /*write=*/1, this,
                               nullptr, &MovieWriter::WriteCallback, nullptr));
  if (io_ == nullptr) {
    av_free(buffer);
    return absl::ResourceExhaustedError("out of memory");
  }
  format_->pb = io_.get();
  format_->flags |= AVFMT_FLAG_CUSTOM_IO | AVFMT_FLAG_FLUSH_PACKETS;
  format_->flush_packets = 1;

  const AVCodec* codec = avcodec_find_encoder_by_name("libx264");
  if (codec == nullptr) {
    return absl::InternalError(
        "this server's FFmpeg has no libx264 encoder (a build fault)");
  }
  encoder_.reset(avcodec_alloc_context3(codec));
  if (encoder_ == nullptr) return absl::ResourceExhaustedError("out of memory");
  AVCodecContext* enc = encoder_.get();
  enc->width = options_.width;
  enc->height = options_.height;
  enc->pix_fmt = AV_PIX_FMT_YUV420P;
  enc->time_base = time_base_;
  enc->framerate = rate;
  // What players show: the container's ratio (an MP4 'pasp' box, Matroska's
  // display size), else the bitstream's.
  AVRational sar =
      av_guess_sample_aspect_ratio(nullptr, const_cast<AVStream*>(in), nullptr);
  if (options_.turned_sideways && sar.num > 0) sar = av_inv_q(sar);
  enc->sample_aspect_ratio = sar;
  enc->gop_size = std::max(1, static_cast<int>(std::lround(2 * av_q2d(rate))));
  enc->thread_count = options_.encoder_threads;
  // The tags say how the pixels were made: limited range and the matrix the
  // converter uses (never the input's when it could not use that: an RGB or
  // YCgCo input is converted with BT.601 or BT.709, and tagged so). The
  // RGB colours are the input's, so are its primaries and transfer (unless
  // they were tone-mapped to BT.709).
  yuv_ = std::make_unique<YuvConverter>(
      options_.width, options_.height,
      options_.sdr_bt709 ? AVCOL_SPC_BT709 : in->codecpar->color_space);
  enc->color_range = AVCOL_RANGE_MPEG;
  enc->colorspace = yuv_->colorspace();
  enc->color_primaries =
      options_.sdr_bt709 ? AVCOL_PRI_BT709
                         : KnownOrUnspecified(in->codecpar->color_primaries);
  enc->color_trc = options_.sdr_bt709
                       ? AVCOL_TRC_BT709
                       : KnownOrUnspecified(in->codecpar->color_trc);
  // What the input leaves unsaid is what players assume for its matrix, and
  // the output says so: an MP4 gets its colour box ('colr') only with all
  // three tags, and a player that reads only that box may assume otherwise.
  if (enc->color_primaries == AVCOL_PRI_UNSPECIFIED) {
    enc->color_primaries = AssumedPrimaries(enc->colorspace);
  }
  if (enc->color_trc == AVCOL_TRC_UNSPECIFIED) {
    enc->color_trc = AssumedTransfer(enc->colorspace);
  }
  if (format_->oformat->flags & AVFMT_GLOBALHEADER) {
    enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  }
  DictionaryGuard codec_options;
  av_dict_set(&codec_options.dict, "preset", options_.preset.c_str(), 0);
  av_dict_set(&codec_options.dict, "crf", std::to_string(options_.crf).c_str(),
              0);
  ret = avcodec_open2(enc, codec, &codec_options.dict);
  if (ret < 0) return AvError(ret, "cannot open the H.264 encoder");
  packet_ = MakePacket();

  video_out_ = avformat_new_stream(format_.get(), nullptr);
  if (video_out_ == nullptr)
    return absl::ResourceExhaustedError("out of memory");
  ret = avcodec_parameters_from_context(video_out_->codecpar, enc);
  if (ret < 0) return AvError(ret, "copying encoder parameters");
  video_out_->time_base = time_base_;
  video_out_->avg_frame_rate = rate;
  video_out_->r_frame_rate = in->r_frame_rate;
  video_out_->sample_aspect_ratio = enc->sample_aspect_ratio;
  size_t matrix_size = 0;
  const uint8_t* matrix =
      av_stream_get_side_data(in, AV_PKT_DATA_DISPLAYMATRIX, &matrix_size);
  if (matrix != nullptr && matrix_size > 0 && !options_.turned_upright) {
    uint8_t* copy = av_stream_new_side_data(
        video_out_, AV_PKT_DATA_DISPLAYMATRIX, matrix_size);
    if (copy == nullptr) return absl::ResourceExhaustedError("out of memory");
    std::memcpy(copy, matrix, matrix_size);
  }
  if (options_.audio_in != nullptr) {
    absl::Status s = AddAudioStream();
    if (!s.ok()) return s;
  }
  // The recording's tags (title, creation_time, the sound's language), as
  // ffmpeg keeps them by default: they were all dropped.
  if (absl::Status s = CopyKeptTags(options_.metadata_in, &format_->metadata);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CopyKeptTags(in->metadata, &video_out_->metadata);
      !s.ok()) {
    return s;
  }
  if (audio_out_ != nullptr) {
    if (absl::Status s =
            CopyKeptTags(options_.audio_in->metadata, &audio_out_->metadata);
        !s.ok()) {
      return s;
    }
  }

  DictionaryGuard mux_options;
  if (options_.container == OutputContainer::kFragmentedMp4) {
    // delay_moov: the (empty) moov waits for the first fragment, so its edit
    // lists can say where each track starts: transcoded AAC begins with
    // priming samples before the video, and without them the muxer would
    // stretch the first video frame by that much.
    av_dict_set(&mux_options.dict, "movflags", kServerMp4Flags, 0);
    // frag_keyframe alone cuts only at video keyframes (every 2 s), and the
    // muxer holds a fragment in memory until it is cut: sound that runs on
    // after the last video frame was all held, in every output, until the
    // end. A fragment is also cut once a track has this much.
    av_dict_set(&mux_options.dict, "frag_duration", kMaxFragmentMicroseconds,
                0);
  }
  ret = avformat_write_header(format_.get(), &mux_options.dict);
  if (ret < 0) {
    absl::Status s = AvError(ret, "cannot write the output header");
    // Our own video stream is always acceptable: the input's audio is not.
    return Failed(audio_out_ != nullptr ? AudioRefused(s) : s);
  }
  header_written_ = true;
  holding_ = false;
  if (!held_.empty()) {
    std::string header = std::move(held_);
    held_.clear();
    if (WriteCallback(this, reinterpret_cast<uint8_t*>(header.data()),
                      static_cast<int>(header.size())) < 0) {
      return Failed(sink_status_);
    }
  }
  return absl::OkStatus();
}

absl::Status MovieWriter::AudioRefused(absl::Status status) const {
  const AVStream* in = options_.audio_in;
  return absl::InvalidArgumentError(absl::StrCat(
      "the output container refuses the input's audio (",
      avcodec_get_name(in->codecpar->codec_id), ", ", in->codecpar->sample_rate,
      " Hz, ", in->codecpar->ch_layout.nb_channels,
      " channels): ", status.message(), "; ask for drop_audio"));
}

absl::Status MovieWriter::AddAudioStream() {
  const AVStream* in = options_.audio_in;
  audio_out_ = avformat_new_stream(format_.get(), nullptr);
  if (audio_out_ == nullptr)
    return absl::ResourceExhaustedError("out of memory");
  // AAC still in ADTS form has no configuration for the header: re-encode.
  if (!force_transcode_ && !IsAdtsAac(*in->codecpar) &&
      CanCopyAudio(options_.container == OutputContainer::kMatroska,
                   in->codecpar->codec_id)) {
    int ret = avcodec_parameters_copy(audio_out_->codecpar, in->codecpar);
    if (ret < 0) return AvError(ret, "copying the audio stream's parameters");
    audio_out_->codecpar->codec_tag = 0;
    audio_out_->time_base = in->time_base;
    return absl::OkStatus();
  }
  absl::StatusOr<std::unique_ptr<AudioTranscoder>> transcoder =
      AudioTranscoder::Create(
          in, (format_->oformat->flags & AVFMT_GLOBALHEADER) != 0);
  if (!transcoder.ok()) return transcoder.status();
  transcoder_ = std::move(*transcoder);
  int ret = avcodec_parameters_from_context(audio_out_->codecpar,
                                            transcoder_->encoder());
  if (ret < 0) return AvError(ret, "copying AAC encoder parameters");
  audio_out_->time_base = transcoder_->encoder()->time_base;
  return absl::OkStatus();
}

absl::Status MovieWriter::CheckMp4Gap(const AVPacket& packet,
                                      const AVStream& stream,
                                      int64_t last_dts) const {
  if (options_.container == OutputContainer::kMatroska ||
      packet.dts == AV_NOPTS_VALUE || last_dts == AV_NOPTS_VALUE) {
    return absl::OkStatus();
  }
  // MP4 keeps each sample's duration in 32 bits of its track's time scale;
  // the muxer refused a longer one ("patches welcome"), an INTERNAL error
  // at the end of the job, after every frame was computed.
  int64_t gap = 0;
  if (!__builtin_sub_overflow(packet.dts, last_dts, &gap) && gap <= INT32_MAX) {
    return absl::OkStatus();
  }
  const bool video = &stream == video_out_;
  return absl::InvalidArgumentError(absl::StrFormat(
      "the movie's %s jumps by %.0f s at %.3f s: an MP4 output holds at most "
      "%.0f s between two %s at its time scale; ask for Matroska "
      "(container=MATROSKA) or mend the input's timestamps",
      video ? "picture" : "sound",
      (static_cast<double>(packet.dts) - static_cast<double>(last_dts)) *
          av_q2d(stream.time_base),
      static_cast<double>(last_dts) * av_q2d(stream.time_base),
      INT32_MAX * av_q2d(stream.time_base), video ? "frames" : "packets"));
}

int64_t& MovieWriter::LastDts(const AVStream& stream) {
  return last_dts_.try_emplace(stream.index, AV_NOPTS_VALUE).first->second;
}

absl::Status MovieWriter::WritePacket(AVPacket* packet, AVRational from,
                                      AVStream* stream) {
  av_packet_rescale_ts(packet, from, stream->time_base);
  packet->stream_index = stream->index;
  int64_t& last_dts = LastDts(*stream);
  if (absl::Status s = CheckMp4Gap(*packet, *stream, last_dts); !s.ok()) {
    return Failed(s);
  }
  if (packet->dts != AV_NOPTS_VALUE) last_dts = packet->dts;
  int ret = av_interleaved_write_frame(format_.get(), packet);
  if (ret < 0) return Failed(AvError(ret, "writing the output"));
  return absl::OkStatus();
}

absl::Status MovieWriter::DrainEncoder() {
  while (true) {
    int ret = avcodec_receive_packet(encoder_.get(), packet_.get());
    if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return absl::OkStatus();
    if (ret < 0) return Failed(AvError(ret, "encoding H.264"));
    auto it = durations_.find(packet_->pts);
    if (it != durations_.end()) {
      if (packet_->duration <= 0) packet_->duration = it->second;
      durations_.erase(it);
    }
    if (first_video_dts_ == AV_NOPTS_VALUE) first_video_dts_ = packet_->dts;
    if (!flushing_ || options_.container == OutputContainer::kMatroska) {
      absl::Status s = WritePacket(packet_.get(), time_base_, video_out_);
      av_packet_unref(packet_.get());
      if (!s.ok()) return s;
      continue;
    }
    // An MP4 track lasts from its first decode time to its last one plus
    // that packet's duration: the last packet of the flush is held back
    // until Finish can stretch it (WriteLastMp4Packet). Only the flush's:
    // one held while the job runs would hold up the sound that runs on
    // after the last frame (the muxer interleaves by time). An encoder with
    // B-frames, the case to mend, always has frames left for its flush.
    if (held_video_ != nullptr) {
      absl::Status s = WritePacket(held_video_.get(), time_base_, video_out_);
      av_packet_unref(held_video_.get());
      if (!s.ok()) return s;
    } else {
      held_video_ = MakePacket();
    }
    av_packet_move_ref(held_video_.get(), packet_.get());
  }
}

absl::Status MovieWriter::WriteLastMp4Packet() {
  if (held_video_ == nullptr || held_video_->data == nullptr) {
    return absl::OkStatus();
  }
  // A fragmented MP4's track lasts as long as its samples: from the first
  // decode time to the last one plus that packet's duration, which the
  // edit list then starts later by the encoder's delay (the first frame's
  // pts less the first dts). With B-frames the last packet in decode order
  // is not the last frame shown, so the frames' own durations made a movie
  // with a pause before its last frames (a screen recording's) shorter than
  // its frames: players said 1 s of its 2.03. Stretched, the samples last
  // from the first frame shown to the end of the last.
  if (held_video_->dts != AV_NOPTS_VALUE && end_pts_ != AV_NOPTS_VALUE &&
      first_video_dts_ != AV_NOPTS_VALUE) {
    held_video_->duration =
        StretchedLastDuration(held_video_->duration, held_video_->dts, end_pts_,
                              first_pts_, first_video_dts_);
  }
  absl::Status s = WritePacket(held_video_.get(), time_base_, video_out_);
  av_packet_unref(held_video_.get());
  return s;
}

absl::Status MovieWriter::WriteVideo(const RgbFrame& rgb, int64_t pts,
                                     int64_t duration) {
  if (!error_.ok()) return error_;
  if (finished_) return absl::FailedPreconditionError("writer finished");
  if (pts == AV_NOPTS_VALUE) {
    pts = last_pts_ == AV_NOPTS_VALUE ? 0 : end_pts_;
  } else {
    pts -= video_shift_;
  }
  if (last_pts_ != AV_NOPTS_VALUE && pts <= last_pts_) pts = last_pts_ + 1;
  if (duration <= 0) duration = default_duration_;
  absl::StatusOr<AvFramePtr> frame = yuv_->Convert(rgb);
  if (!frame.ok()) return Failed(frame.status());
  (*frame)->pts = pts;
  (*frame)->pkt_duration = duration;
  durations_[pts] = duration;
  int ret = avcodec_send_frame(encoder_.get(), frame->get());
  if (ret < 0) return Failed(AvError(ret, "encoding H.264"));
  if (first_pts_ == AV_NOPTS_VALUE) first_pts_ = pts;
  last_pts_ = pts;
  end_pts_ =
      std::max(end_pts_ == AV_NOPTS_VALUE ? pts : end_pts_, pts + duration);
  ++frames_;
  return DrainEncoder();
}

absl::Status MovieWriter::WriteAudio(const AVPacket& packet) {
  if (!error_.ok()) return error_;
  if (audio_out_ == nullptr) return absl::OkStatus();
  AvPacketPtr copy = MakePacket();
  int ret = av_packet_ref(copy.get(), &packet);
  if (ret < 0) return Failed(AvError(ret, "copying an audio packet"));
  if (copy->pts != AV_NOPTS_VALUE) copy->pts -= audio_shift_;
  if (copy->dts != AV_NOPTS_VALUE) copy->dts -= audio_shift_;
  if (transcoder_ != nullptr) {
    // The decoder leaves out what the edit list hides.
    return transcoder_->Push(copy.get(), [this](AVPacket* out) {
      return WritePacket(out, transcoder_->encoder()->time_base, audio_out_);
    });
  }
  // Copied, the sound an edit list hides played (hidden_sound.h).
  hidden_sound_.Push(copy.get());
  while (hidden_sound_.Pop(copy.get())) {
    if (absl::Status s = CopyAudio(copy.get()); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status MovieWriter::CopyAudio(AVPacket* copy) {
  const AVCodecParameters& par = *options_.audio_in->codecpar;
  if (!adts_checked_ && par.codec_id == AV_CODEC_ID_AAC) {
    // AAC from MPEG-TS comes with ADTS headers (the reader has found its
    // configuration for the header): strip them from every packet.
    adts_checked_ = true;
    if (copy->size >= 2 && (AV_RB16(copy->data) & 0xfff0) == 0xfff0) {
      absl::StatusOr<std::unique_ptr<AdtsToAsc>> adts =
          AdtsToAsc::Create(par, options_.audio_in->time_base);
      if (!adts.ok()) return Failed(AudioRefused(adts.status()));
      adts_ = *std::move(adts);
    }
  }
  if (adts_ != nullptr && !adts_->Convert(copy).ok()) {
    return absl::OkStatus();  // a damaged packet: leave it out
  }
  AVRational from = options_.audio_in->time_base;
  av_packet_rescale_ts(copy, from, audio_out_->time_base);
  copy->stream_index = audio_out_->index;
  if (copy->dts != AV_NOPTS_VALUE) {
    // A stream that jumps back (joined recordings) would stop the muxer:
    // such packets are left out.
    int64_t& last_dts = LastDts(*audio_out_);
    if (last_dts != AV_NOPTS_VALUE && copy->dts <= last_dts) {
      return absl::OkStatus();
    }
    if (absl::Status s = CheckMp4Gap(*copy, *audio_out_, last_dts); !s.ok()) {
      return Failed(s);
    }
    last_dts = copy->dts;
  }
  const int ret = av_interleaved_write_frame(format_.get(), copy);
  if (ret < 0) {
    // Our own stream's packets never fail here: the input's audio did.
    return Failed(AudioRefused(AvError(ret, "writing the output")));
  }
  return absl::OkStatus();
}

absl::Status MovieWriter::Finish() {
  if (!error_.ok()) return error_;
  if (finished_) return absl::FailedPreconditionError("writer finished");
  finished_ = true;
  int ret = avcodec_send_frame(encoder_.get(), nullptr);
  if (ret < 0) return Failed(AvError(ret, "flushing the H.264 encoder"));
  flushing_ = true;
  absl::Status s = DrainEncoder();
  if (s.ok()) s = WriteLastMp4Packet();
  if (!s.ok()) return s;
  if (transcoder_ != nullptr) {
    s = transcoder_->Push(nullptr, [this](AVPacket* out) {
      return WritePacket(out, transcoder_->encoder()->time_base, audio_out_);
    });
    if (!s.ok()) return Failed(s);
  }
  ret = av_write_trailer(format_.get());
  if (ret < 0) return Failed(AvError(ret, "writing the output trailer"));
  avio_flush(io_.get());
  if (!sink_status_.ok()) return Failed(sink_status_);
  return absl::OkStatus();
}

double MovieWriter::duration_seconds() const {
  if (first_pts_ == AV_NOPTS_VALUE) return 0;
  return (end_pts_ - first_pts_) * av_q2d(time_base_);
}

}  // namespace media
}  // namespace stylizer
