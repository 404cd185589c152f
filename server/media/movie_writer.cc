// Encoder + in-memory muxer for one output movie (see movie_writer.h): the
// frames and sound written, and the finish. Set up in movie_writer_open.cc.
#include "server/media/movie_writer.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <utility>

#include "absl/strings/str_format.h"
#include "server/media/aac_adts.h"
#include "server/media/audio_transcoder.h"

extern "C" {
#include <libavutil/intreadwrite.h>
}

namespace stylizer {
namespace media {

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
  if (last_pts_ != AV_NOPTS_VALUE && pts < last_pts_ + min_pts_step_) {
    pts = last_pts_ + min_pts_step_;
  }
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
