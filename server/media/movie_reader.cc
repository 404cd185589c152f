// Demux and decode an opened movie, frame by frame (see movie_reader.h).
#include "server/media/movie_reader.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/media/aac_adts.h"
#include "server/media/gif_structure.h"
#include "server/media/movie_reader_io.h"
#include "server/media/movie_streams.h"
#include "server/media/truncation.h"

extern "C" {
#include <libavutil/avstring.h>
}

namespace stylizer {
namespace media {
namespace {

bool AllZero(const uint8_t* data, int size) {
  return size > 0 &&
         std::all_of(data, data + size, [](uint8_t b) { return b == 0; });
}

}  // namespace

MovieReader::Item MovieReader::VideoFrameItem(AvFramePtr frame) {
  ++frames_decoded_;
  frame->pts = frame->best_effort_timestamp;
  if (frame->pts != AV_NOPTS_VALUE) {
    int64_t end = frame->pts + std::max<int64_t>(frame->pkt_duration, 0);
    if (last_end_pts_ == AV_NOPTS_VALUE || end > last_end_pts_) {
      last_end_pts_ = end;
    }
  }
  Item item;
  item.kind = Item::Kind::kVideoFrame;
  item.frame = std::move(frame);
  return item;
}

const AVPacket* MovieReader::PacketAhead(size_t i) {
  while (i >= read_ahead_.size()) {
    if (!ReadAhead()) return nullptr;
  }
  return read_ahead_[i].get();
}

bool MovieReader::ReadAhead() {
  if (static_cast<int>(read_ahead_.size()) >= kAdtsLookAheadPackets ||
      read_ahead_bytes_ >= kAdtsLookAheadBytes) {
    return false;
  }
  if (read_ahead_error_ != 0) return false;
  AvPacketPtr packet = MakePacket();
  const FfmpegCallScope ffmpeg_logs;
  if (const int ret = av_read_frame(format_.get(), packet.get()); ret < 0) {
    // Kept for Next(), after the packets read before it: a demuxer that
    // resynchronises (Matroska) would not report a damaged stretch again.
    if (ret != AVERROR_EOF) read_ahead_error_ = ret;
    return false;
  }
  if (packet->stream_index == video_index_ ||
      packet->stream_index == audio_index_) {
    read_ahead_bytes_ += packet->size;
    read_ahead_.push_back(std::move(packet));
  } else {
    NoteOtherStreamPacket(*packet);
  }
  return true;
}

void MovieReader::NoteOtherStreamPacket(const AVPacket& packet) {
  if (packet.pts == AV_NOPTS_VALUE || packet.stream_index < 0 ||
      packet.stream_index >= static_cast<int>(format_->nb_streams)) {
    return;
  }
  other_end_ = std::max(
      other_end_, (packet.pts + std::max<int64_t>(packet.duration, 0)) *
                      av_q2d(format_->streams[packet.stream_index]->time_base));
}

int MovieReader::ReadPacket(AVPacket* packet) {
  if (read_ahead_.empty()) {
    if (read_ahead_error_ != 0) return std::exchange(read_ahead_error_, 0);
    const FfmpegCallScope ffmpeg_logs;
    const int ret = av_read_frame(format_.get(), packet);
    if (ret >= 0) FollowTimestampJumps(packet);
    return ret;
  }
  av_packet_move_ref(packet, read_ahead_.front().get());
  read_ahead_.pop_front();
  read_ahead_bytes_ -= packet->size;
  FollowTimestampJumps(packet);
  return 0;
}

void MovieReader::FollowTimestampJumps(AVPacket* packet) {
  const int index = packet->stream_index;
  if (timestamp_jumps_ == nullptr ||
      (index != video_index_ && index != audio_index_)) {
    return;
  }
  timestamp_jumps_->Follow(index == video_index_ ? 0 : 1,
                           format_->streams[index]->time_base, packet);
}

absl::Status MovieReader::CheckComplete() const {
  // A GIF declares no length: its blocks tell whether it was cut.
  if (av_match_name(format_->iformat->name, "gif,gif_pipe")) {
    absl::Status whole =
        CheckGifIsWhole([this](uint64_t offset, char* out, size_t size) {
          return io_->ReadAt(offset, out, size);
        });
    if (!whole.ok()) return whole;
  }
  // A cut-off file often just ends early; its index or header still tells
  // how long it should have been.
  // Packets read, not frames decoded: a damaged packet (or one before the
  // first keyframe) is there, only unreadable, and is counted as skipped.
  if (TooFewFrames(index_frames_, video_packets_read_)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the input is truncated: its index lists ", index_frames_,
        " video frames but only ", video_packets_read_, " could be read"));
  }
  if (info_.duration_seconds > 0 && !duration_is_estimate_ &&
      last_end_pts_ != AV_NOPTS_VALUE) {
    double reached =
        last_end_pts_ * av_q2d(format_->streams[video_index_]->time_base);
    // The container's end may be the audio's (audio outlasting the video).
    if (declared_end_is_container_) {
      reached = std::max({reached, audio_end_, other_end_});
    }
    double missing = declared_end_ - reached;
    if (TooFewSeconds(info_.duration_seconds, missing)) {
      return absl::InvalidArgumentError(
          absl::StrCat("the input is truncated: it declares ",
                       info_.duration_seconds, " s of video but only ",
                       info_.duration_seconds - missing, " s could be read"));
    }
  }
  return absl::OkStatus();
}

const AVStream* MovieReader::video_stream() const {
  return format_->streams[video_index_];
}

const AVDictionary* MovieReader::metadata() const { return format_->metadata; }

const AVStream* MovieReader::audio_stream() const {
  return audio_index_ >= 0 ? format_->streams[audio_index_] : nullptr;
}

absl::Status MovieReader::SendVideoPacket() {
  const int ret = avcodec_send_packet(decoder_.get(), packet_.get());
  // A packet of zero bytes that does not decode is not there: a download
  // whose file was made at full size first and filled as it came (zeros
  // where it stopped) keeps its index, and would pass as complete with
  // every missing frame "damaged".
  if (!(packet_->flags & AV_PKT_FLAG_DISCARD) &&
      (ret >= 0 || !AllZero(packet_->data, packet_->size))) {
    ++video_packets_read_;
  }
  av_packet_unref(packet_.get());
  if (ret >= 0) return absl::OkStatus();
  if (absl::Status s = FrameSizeRefusal(ret); !s.ok()) return s;
  if (ret == AVERROR(ENOMEM)) return AvError(ret, "decoding the video");
  // A damaged packet: skipped, as ffmpeg skips it. Its frame is lost, so the
  // count reaches the job's log line.
  ++packets_skipped_;
  return absl::OkStatus();
}

absl::Status MovieReader::FrameSizeRefusal(int error) const {
  // Where a frame's size changes to one over the limit in the middle of the
  // movie (recordings joined as bytes), the frame used to be skipped as a
  // damaged one and the job ended OK without it. H.264's and HEVC's
  // decoders keep the new size (HEVC then says ENOMEM); FFmpeg's own size
  // check (VP9, MPEG-2, MPEG-4, MJPEG) clears it and says EINVAL.
  const int width = decoder_->width;
  const int height = decoder_->height;
  if (static_cast<int64_t>(width) * height > max_decode_pixels_) {
    return DecodeLimitError(width, height, max_decode_pixels_, frames_decoded_);
  }
  if (error == AVERROR(EINVAL) && (width <= 0 || height <= 0)) {
    return DecodeLimitError(0, 0, max_decode_pixels_, frames_decoded_);
  }
  return absl::OkStatus();
}

absl::StatusOr<MovieReader::Item> MovieReader::Next() {
  if (!deferred_error_.ok()) return deferred_error_;
  if (first_frame_ != nullptr) return VideoFrameItem(std::move(first_frame_));
  while (true) {
    if (!decoder_flushed_) {
      AvFramePtr frame = MakeFrame();
      int ret = avcodec_receive_frame(decoder_.get(), frame.get());
      if (ret == 0) return VideoFrameItem(std::move(frame));
      if (ret == AVERROR_EOF) {
        decoder_flushed_ = true;
        if (frames_decoded_ == 0) {
          return absl::InvalidArgumentError(
              absl::StrCat("no video frame of the input could be decoded (",
                           packets_skipped_, " decoding errors)"));
        }
        absl::Status complete = CheckComplete();
        if (!complete.ok()) return complete;
        return Item{};
      }
      if (ret != AVERROR(EAGAIN)) {
        if (absl::Status s = FrameSizeRefusal(ret); !s.ok()) return s;
        return InputError(ret, "decoding the video failed");
      }
    } else {
      return Item{};
    }
    if (demux_done_) {
      return absl::InternalError("decoder wants input after the flush");
    }
    int ret = ReadPacket(packet_.get());
    if (ret == AVERROR_EOF) {
      demux_done_ = true;
      avcodec_send_packet(decoder_.get(), nullptr);
      continue;
    }
    if (ret < 0) {
      return InputError(ret, absl::StrCat("the input is truncated or corrupt "
                                          "after ",
                                          frames_decoded_, " frames"));
    }
    if (packet_->stream_index == video_index_) {
      if (absl::Status s = SendVideoPacket(); !s.ok()) return s;
      continue;
    }
    if (packet_->stream_index == audio_index_) {
      const int64_t pts =
          packet_->pts != AV_NOPTS_VALUE ? packet_->pts : packet_->dts;
      if (pts != AV_NOPTS_VALUE) {
        audio_end_ = std::max(
            audio_end_, (pts + std::max<int64_t>(packet_->duration, 0)) *
                            av_q2d(format_->streams[audio_index_]->time_base));
      }
      Item item;
      item.kind = Item::Kind::kAudioPacket;
      item.packet = std::exchange(packet_, MakePacket());
      return item;
    }
    NoteOtherStreamPacket(*packet_);
    av_packet_unref(packet_.get());
  }
}

}  // namespace media
}  // namespace stylizer
