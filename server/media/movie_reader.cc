// Demux and decode over a Spool (see movie_reader.h).
#include "server/media/movie_reader.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "server/media/aac_adts.h"
#include "server/media/hdr_to_sdr.h"

extern "C" {
#include <libavutil/avstring.h>
#include <libavutil/dict.h>
#include <libavutil/frame.h>
#include <libavutil/mem.h>
#include <libavutil/pixdesc.h>
}

namespace stylizer {
namespace media {
namespace {

constexpr int kIoBufferSize = 64 * 1024;

// The upload is the only input: a playlist or concat file must never make
// the demuxer open other files or URLs.
int RefuseIoOpen(AVFormatContext* s, AVIOContext** pb, const char* url,
                 int flags, AVDictionary** options) {
  return AVERROR(EPERM);
}

// Demuxers whose input names other files or URLs (playlists, manifests,
// scripts, image patterns): never for uploads.
bool IsIndirectFormat(const char* name) {
  static const char* const kIndirect[] = {
      "concat", "hls", "applehttp", "dash", "image2",
      "imf",    "sdp", "rtsp",      "rtp",  "ffmetadata"};
  for (const char* bad : kIndirect) {
    if (av_match_name(bad, name)) return true;
  }
  return false;
}

std::string CodecName(AVCodecID id) {
  const char* name = avcodec_get_name(id);
  return name != nullptr ? name : "unknown";
}

// The video frames the input's index lists to be shown; 0 if unknown.
// MP4 and MOV count every sample in nb_frames, also those an edit list
// hides: a lossless trim (or QuickTime's) keeps the samples from the
// keyframe before the cut on. libavformat's index flags those to be
// discarded after decoding (and leaves out those past the next keyframe
// after the edit), so its other entries are the frames that show.
//
// AVI's header counts the empty chunks a muxer writes for the gaps of
// variable-frame-rate video (FFmpeg's, capture tools'), which the demuxer
// never returns; its index lists only chunks with data, each at its chunk
// number. Such movies were refused as truncated after the whole job. Where
// the index ends before the header's last frame (a file cut off, whose
// index was rebuilt from what is left), the header's count stands.
int64_t IndexedFrames(const AVFormatContext* format, AVStream* video) {
  if (video->nb_frames <= 0) return 0;
  if (av_match_name("avi", format->iformat->name)) {
    const int entries = avformat_index_get_entries_count(video);
    const AVIndexEntry* last =
        entries > 0 ? avformat_index_get_entry(video, entries - 1) : nullptr;
    if (last != nullptr && last->timestamp + 1 >= video->nb_frames) {
      return std::min<int64_t>(video->nb_frames, entries);
    }
    return video->nb_frames;
  }
  if (!av_match_name("mov", format->iformat->name)) return video->nb_frames;
  int64_t shown = 0;
  const int entries = avformat_index_get_entries_count(video);
  for (int i = 0; i < entries; ++i) {
    const AVIndexEntry* entry = avformat_index_get_entry(video, i);
    if (entry != nullptr && !(entry->flags & AVINDEX_DISCARD_FRAME)) ++shown;
  }
  return std::min(video->nb_frames, shown);
}

// FFmpeg lists cover art (MP3's and M4A's pictures, Matroska's attached
// images) as a video stream of one frame: not a movie.
bool IsVideo(const AVStream* stream) {
  return stream->codecpar->codec_type == AVMEDIA_TYPE_VIDEO &&
         !(stream->disposition & AV_DISPOSITION_ATTACHED_PIC);
}

// av_find_best_stream for video, attached pictures left out: it ranks them
// with the real video streams, and takes one when the video has no decoder.
// The index, AVERROR_STREAM_NOT_FOUND or AVERROR_DECODER_NOT_FOUND.
int FindVideoStream(AVFormatContext* format, const AVCodec** codec) {
  int best = av_find_best_stream(format, AVMEDIA_TYPE_VIDEO, -1, -1, codec, 0);
  if (best < 0 || IsVideo(format->streams[best])) return best;
  best = AVERROR_STREAM_NOT_FOUND;
  for (unsigned i = 0; i < format->nb_streams; ++i) {
    if (!IsVideo(format->streams[i])) continue;
    best = av_find_best_stream(format, AVMEDIA_TYPE_VIDEO, static_cast<int>(i),
                               -1, codec, 0);
    if (best >= 0) break;
  }
  return best;
}

// The first video stream that is not an attached picture; -1 if none.
int FirstVideoStream(const AVFormatContext* format) {
  for (unsigned i = 0; i < format->nb_streams; ++i) {
    if (IsVideo(format->streams[i])) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace

// The AVIOContext callbacks: reads and seeks over the spool. Remembers the
// spool's own error so that an aborted upload is reported as such rather than
// as FFmpeg's generic "Immediate exit requested".
class MovieReader::SpoolIo {
 public:
  SpoolIo(Spool* spool, uint64_t expected_size)
      : spool_(spool), expected_size_(expected_size) {
    auto* buffer = static_cast<unsigned char*>(av_malloc(kIoBufferSize));
    context_.reset(avio_alloc_context(buffer, kIoBufferSize, /*write=*/0, this,
                                      &SpoolIo::Read, nullptr, &SpoolIo::Seek));
    if (context_ == nullptr) av_free(buffer);
  }

  AVIOContext* context() { return context_.get(); }
  const absl::Status& spool_status() const { return spool_status_; }
  // While the returned guard lives (and `on`), a seek to the end of an
  // upload of unknown size fails at once instead of waiting for the
  // upload to end.
  [[nodiscard]] auto EndUnknownIsError(bool on) {
    end_unknown_is_error_ = on;
    return absl::MakeCleanup([this] { end_unknown_is_error_ = false; });
  }

 private:
  static int Read(void* opaque, uint8_t* buf, int size) {
    auto* self = static_cast<SpoolIo*>(opaque);
    absl::StatusOr<size_t> n =
        self->spool_->ReadAt(self->position_, reinterpret_cast<char*>(buf),
                             static_cast<size_t>(size));
    if (!n.ok()) {
      self->spool_status_ = n.status();
      QuietFfmpegLogsOnThisThread();  // the upload was abandoned
      return AVERROR_EXIT;
    }
    if (*n == 0) return AVERROR_EOF;
    self->position_ += *n;
    return static_cast<int>(*n);
  }

  // Size when known: the finished upload's, else the client's announcement.
  int64_t KnownSize() const {
    std::optional<uint64_t> final_size = spool_->FinalSize();
    if (final_size.has_value()) return static_cast<int64_t>(*final_size);
    if (expected_size_ > 0) return static_cast<int64_t>(expected_size_);
    return -1;
  }

  static int64_t Seek(void* opaque, int64_t offset, int whence) {
    auto* self = static_cast<SpoolIo*>(opaque);
    whence &= ~AVSEEK_FORCE;
    int64_t target = 0;
    switch (whence) {
      case AVSEEK_SIZE:
        return self->KnownSize();
      case SEEK_SET:
        target = offset;
        break;
      case SEEK_CUR:
        target = static_cast<int64_t>(self->position_) + offset;
        break;
      case SEEK_END: {
        int64_t size = self->KnownSize();
        if (size < 0 && self->end_unknown_is_error_) return AVERROR(ENOSYS);
        if (size < 0) {
          absl::StatusOr<uint64_t> final_size =
              self->spool_->WaitForFinalSize();
          if (!final_size.ok()) {
            self->spool_status_ = final_size.status();
            QuietFfmpegLogsOnThisThread();  // the upload was abandoned
            return AVERROR_EXIT;
          }
          size = static_cast<int64_t>(*final_size);
        }
        target = size + offset;
        break;
      }
      default:
        return AVERROR(EINVAL);
    }
    if (target < 0) return AVERROR(EINVAL);
    self->position_ = static_cast<uint64_t>(target);
    return target;
  }

  Spool* spool_;
  uint64_t expected_size_;
  bool end_unknown_is_error_ = false;
  uint64_t position_ = 0;
  absl::Status spool_status_;
  AvioContextPtr context_;
};

absl::StatusOr<std::unique_ptr<MovieReader>> MovieReader::Open(
    Spool* spool, const Options& options) {
  std::unique_ptr<MovieReader> reader(new MovieReader());
  absl::Status s = reader->OpenInternal(spool, options);
  if (!s.ok()) return s;
  return reader;
}

MovieReader::~MovieReader() {
  // The format context refers to io_'s AVIOContext: close it first.
  decoder_.reset();
  format_.reset();
  io_.reset();
}

absl::Status MovieReader::InputError(int error, const std::string& what) {
  if (io_ != nullptr && !io_->spool_status().ok()) return io_->spool_status();
  if (error == AVERROR(ENOMEM)) return AvError(error, what);
  return AvError(error, what, absl::StatusCode::kInvalidArgument);
}

absl::Status MovieReader::OpenInternal(Spool* spool, const Options& options) {
  const FfmpegCallScope ffmpeg_logs;
  max_decode_pixels_ = options.max_decode_pixels;
  io_ = std::make_unique<SpoolIo>(spool, options.expected_size);
  if (io_->context() == nullptr) {
    return absl::ResourceExhaustedError("cannot allocate the input buffer");
  }
  AVFormatContext* raw = avformat_alloc_context();
  if (raw == nullptr) {
    return absl::ResourceExhaustedError("cannot allocate the demuxer");
  }
  raw->pb = io_->context();
  raw->flags |= AVFMT_FLAG_CUSTOM_IO;
  raw->io_open = &RefuseIoOpen;
  const AVInputFormat* input_format = nullptr;
  int ret =
      av_probe_input_buffer2(io_->context(), &input_format, "", nullptr, 0, 0);
  if (ret >= 0 && IsIndirectFormat(input_format->name)) {
    avformat_free_context(raw);
    return absl::InvalidArgumentError(absl::StrCat(
        "the input is a ", input_format->name,
        " file, which refers to other files; upload the movie itself"));
  }
  if (ret >= 0) {
    // Matroska's header reading asks for the input's size too (below): for
    // a pipe it waited for the end. MP4's still does (documented: it needs
    // the size to find its index).
    const absl::string_view name = input_format->name;
    const auto end_unknown =
        io_->EndUnknownIsError(absl::StrContains(name, "matroska") ||
                               name == "mpegts" || name == "mpeg");
    ret = avformat_open_input(&raw, nullptr, input_format, nullptr);
  } else {
    avformat_free_context(raw);
  }
  if (ret < 0) {  // raw has been freed
    std::optional<uint64_t> size = spool->FinalSize();
    if (io_->spool_status().ok() && size.has_value() && *size == 0) {
      return absl::InvalidArgumentError("the upload is empty: no movie bytes");
    }
    return InputError(ret, "the input is not a movie FFmpeg recognises");
  }
  format_.reset(raw);
  // MPEG-TS and MPEG-PS declare no duration: FFmpeg reads the timestamps at
  // the end of the input for one, which waits for the whole upload (a
  // 2-hour recording was spooled whole before its first frame was decoded,
  // and a live pipe was not accepted until it closed). Done only for an
  // upload already whole, or announced small (a short wait, and the job
  // gets its duration and ETA); otherwise the duration comes from the bit
  // rate, if at all, and is only an estimate (duration_is_estimate_).
  format_->skip_estimate_duration_from_pts =
      !spool->FinalSize().has_value() &&
      (options.expected_size == 0 ||
       options.expected_size > options.max_wait_for_duration_bytes);
  // The probe decodes a few frames of every stream: hold its decoders to the
  // pixel limit, so that a huge frame is refused below (INVALID_ARGUMENT)
  // before any frame of that size is allocated. How much it reads is bounded
  // by FFmpeg's probesize (5 MB) and analyzeduration (5 s; 7 s for MPEG-TS).
  std::vector<AVDictionary*> stream_options(format_->nb_streams, nullptr);
  const std::string max_pixels = std::to_string(max_decode_pixels_);
  for (AVDictionary*& d : stream_options) {
    av_dict_set(&d, "max_pixels", max_pixels.c_str(), 0);
  }
  // The probe ends by asking for the input's size (avio_size, for duration
  // estimates), which for an upload of unknown size (a pipe) waited for the
  // upload's end: a live pipe was accepted only once it closed, whatever
  // its container. Unknown, the size is left out of those estimates.
  {
    const auto end_unknown = io_->EndUnknownIsError(true);
    ret = avformat_find_stream_info(format_.get(), stream_options.empty()
                                                       ? nullptr
                                                       : stream_options.data());
  }
  for (AVDictionary*& d : stream_options) av_dict_free(&d);
  if (ret < 0) return InputError(ret, "cannot read the movie's streams");

  const AVCodec* codec = nullptr;
  ret = FindVideoStream(format_.get(), &codec);
  if (ret == AVERROR_DECODER_NOT_FOUND) {
    const int index = FirstVideoStream(format_.get());
    if (index >= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("the input's video codec (",
                       CodecName(format_->streams[index]->codecpar->codec_id),
                       ") cannot be decoded"));
    }
    ret = AVERROR_STREAM_NOT_FOUND;  // only pictures, undecodable ones
  }
  if (ret == AVERROR_STREAM_NOT_FOUND) {
    return absl::InvalidArgumentError("the input has no video stream");
  }
  if (ret < 0) return InputError(ret, "cannot find the video stream");
  video_index_ = ret;
  AVStream* video = format_->streams[video_index_];
  // A sound track FFmpeg can decode first: a default track in a codec it
  // does not know (AC-4, MPEG-H) would fail the job beside a playable one.
  // With none decodable, the best one (the writer says why it cannot copy).
  const AVCodec* audio_decoder = nullptr;
  ret = av_find_best_stream(format_.get(), AVMEDIA_TYPE_AUDIO, -1, video_index_,
                            &audio_decoder, 0);
  if (ret == AVERROR_DECODER_NOT_FOUND) {
    ret = av_find_best_stream(format_.get(), AVMEDIA_TYPE_AUDIO, -1,
                              video_index_, nullptr, 0);
  }
  audio_index_ = ret >= 0 ? ret : -1;

  const AVCodecParameters* par = video->codecpar;
  if (par->width <= 0 || par->height <= 0) {
    return absl::InvalidArgumentError(
        "the input's video stream has no frame size");
  }
  if (static_cast<int64_t>(par->width) * par->height > max_decode_pixels_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the input's frames (", par->width, "x", par->height,
        ") are larger than the limit of ", max_decode_pixels_, " pixels"));
  }
  decoder_.reset(avcodec_alloc_context3(codec));
  if (decoder_ == nullptr) {
    return absl::ResourceExhaustedError("cannot allocate the decoder");
  }
  ret = avcodec_parameters_to_context(decoder_.get(), par);
  if (ret < 0) return AvError(ret, "cannot configure the decoder");
  decoder_->pkt_timebase = video->time_base;
  decoder_->thread_count = options.decoder_threads;
  decoder_->max_pixels = max_decode_pixels_;
  ret = avcodec_open2(decoder_.get(), codec, nullptr);
  if (ret < 0) {
    return AvError(ret,
                   absl::StrCat("cannot open the ", codec->name, " decoder"),
                   absl::StatusCode::kInvalidArgument);
  }
  packet_ = MakePacket();

  info_.width = par->width;
  info_.height = par->height;
  AVRational rate = video->avg_frame_rate;
  if (rate.num <= 0 || rate.den <= 0) rate = video->r_frame_rate;
  if (rate.num <= 0 || rate.den <= 0) rate = {25, 1};
  info_.fps = av_q2d(rate);
  TakeStartFromPackets(video);
  const double time_base = av_q2d(video->time_base);
  const double start =
      video->start_time != AV_NOPTS_VALUE ? video->start_time * time_base : 0;
  // The container's end (Matroska, WebM, FLV have no duration per stream):
  // where its longest stream ends, audio included. FFmpeg counts it from the
  // first timestamp, except Matroska's, the segment's, from 0.
  double container_end = 0;
  if (format_->duration != AV_NOPTS_VALUE && format_->duration > 0) {
    container_end = static_cast<double>(format_->duration) / AV_TIME_BASE;
    if (format_->start_time != AV_NOPTS_VALUE &&
        !av_match_name("matroska", format_->iformat->name)) {
      container_end += static_cast<double>(format_->start_time) / AV_TIME_BASE;
    }
  }
  if (video->duration != AV_NOPTS_VALUE && video->duration > 0) {
    // The stream's own (MP4, MOV: what its edit list shows).
    declared_end_ = start + video->duration * time_base;
    // Unless FFmpeg filled it in from the container's, as it does for a
    // stream without one: that end may be the sound's (a Matroska movie
    // whose picture is 0.5 s and sound 30 s was refused as truncated).
    if (container_end > 0 &&
        std::abs(declared_end_ - container_end) <= std::max(1e-3, time_base)) {
      declared_end_is_container_ = true;
    }
  } else if (container_end > 0) {
    declared_end_ = container_end;
    declared_end_is_container_ = true;
  }
  // Streams not used are not read, except where the declared end is the
  // container's: it may be theirs (subtitles past the last frame), so their
  // packets' ends are followed (and then dropped).
  if (!declared_end_is_container_) {
    for (unsigned i = 0; i < format_->nb_streams; ++i) {
      if (static_cast<int>(i) != video_index_ &&
          static_cast<int>(i) != audio_index_) {
        format_->streams[i]->discard = AVDISCARD_ALL;
      }
    }
  }
  if (declared_end_ > start) info_.duration_seconds = declared_end_ - start;
  duration_is_estimate_ =
      format_->duration_estimation_method == AVFMT_DURATION_FROM_BITRATE;
  index_frames_ = IndexedFrames(format_.get(), video);
  info_.frames_estimate =
      index_frames_ > 0 ? index_frames_
                        : std::llround(info_.duration_seconds * info_.fps);
  info_.has_audio = audio_index_ >= 0;
  info_.video_codec = CodecName(par->codec_id);
  if (info_.has_audio) {
    info_.audio_codec =
        CodecName(format_->streams[audio_index_]->codecpar->codec_id);
  }
  info_.container = format_->iformat->name;
  if (par->codec_id == AV_CODEC_ID_MJPEG && audio_index_ < 0 &&
      av_stream_get_side_data(video, AV_PKT_DATA_DISPLAYMATRIX, nullptr) ==
          nullptr) {
    TakeFirstFrameOrientation(video);
  }
  info_.rotation_degrees = DisplayRotationDegrees(video);
  if (HdrToSdr::IsHdr(par->color_trc)) {
    info_.hdr_transfer = av_color_transfer_name(par->color_trc);
  }
  if (audio_index_ >= 0 &&
      IsAdtsAac(*format_->streams[audio_index_]->codecpar)) {
    LearnAdtsConfig(format_->streams[audio_index_]);
  }
  return absl::OkStatus();
}

void MovieReader::TakeFirstFrameOrientation(AVStream* video) {
  AvFramePtr frame = MakeFrame();
  while (true) {
    int ret = avcodec_receive_frame(decoder_.get(), frame.get());
    if (ret == 0) break;
    if (ret != AVERROR(EAGAIN) || demux_done_) return;
    ret = ReadPacket(packet_.get());
    if (ret == AVERROR_EOF) {
      demux_done_ = true;
      avcodec_send_packet(decoder_.get(), nullptr);
      continue;
    }
    if (ret < 0) return;
    if (packet_->stream_index == video_index_) {
      ret = avcodec_send_packet(decoder_.get(), packet_.get());
      av_packet_unref(packet_.get());
      if (ret == AVERROR(ENOMEM)) return;
      if (ret < 0) ++decode_errors_;  // a damaged packet: skip it
      continue;
    }
    NoteOtherStreamPacket(*packet_);
    av_packet_unref(packet_.get());
  }
  const AVFrameSideData* matrix =
      av_frame_get_side_data(frame.get(), AV_FRAME_DATA_DISPLAYMATRIX);
  if (matrix != nullptr && matrix->size == 9 * sizeof(int32_t)) {
    uint8_t* copy =
        av_stream_new_side_data(video, AV_PKT_DATA_DISPLAYMATRIX, matrix->size);
    if (copy != nullptr) std::memcpy(copy, matrix->data, matrix->size);
  }
  first_frame_ = std::move(frame);
}

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

void MovieReader::LearnAdtsConfig(AVStream* audio) {
  absl::StatusOr<std::unique_ptr<AdtsToAsc>> filter =
      AdtsToAsc::Create(*audio->codecpar, audio->time_base);
  if (!filter.ok()) return;
  // Sound may start seconds after the picture (a capture, a trim); past
  // the look-ahead, give up (the writer then transcodes) rather than buffer
  // much. It was 64 packets, 2.6 s of 25 fps video, and the CLI's split
  // looked further: a split job copied the sound an unsplit one re-encoded.
  for (size_t i = 0;; ++i) {
    const AVPacket* ahead = PacketAhead(i);
    if (ahead == nullptr) return;
    const AVPacket& packet = *ahead;
    if (packet.stream_index != audio_index_) continue;
    AvPacketPtr copy = MakePacket();
    if (av_packet_ref(copy.get(), &packet) < 0) return;
    if (!(*filter)->Convert(copy.get()).ok()) return;
    const std::string& config = (*filter)->config();
    if (!config.empty()) {
      // Out of memory leaves the stream as it is: the writer transcodes.
      SetAudioSpecificConfig(config, audio->codecpar).IgnoreError();
    }
    return;
  }
}

void MovieReader::TakeStartFromPackets(AVStream* video) {
  // Only where FFmpeg filled both in from the container
  // (fill_all_stream_timings): a stream whose start FFmpeg found itself
  // keeps it (an open-GOP HEVC cut's leading pictures, which the decoder
  // drops, come before its first frame).
  if (format_->start_time == AV_NOPTS_VALUE ||
      format_->duration == AV_NOPTS_VALUE ||
      video->start_time !=
          av_rescale_q(format_->start_time, AV_TIME_BASE_Q, video->time_base) ||
      video->duration !=
          av_rescale_q(format_->duration, AV_TIME_BASE_Q, video->time_base)) {
    return;
  }
  // Reordering (B-frames, pyramids) reaches no further than this.
  constexpr int kMaxReorderPackets = 32;
  int64_t earliest = AV_NOPTS_VALUE;
  int video_packets = 0;
  for (size_t i = 0; video_packets < kMaxReorderPackets; ++i) {
    const AVPacket* ahead = PacketAhead(i);
    if (ahead == nullptr) break;  // the end, or the look-ahead's
    const AVPacket& packet = *ahead;
    if (packet.stream_index != video_index_) continue;
    if (video_packets++ == 0 &&
        (packet.dts != AV_NOPTS_VALUE || packet.pts == AV_NOPTS_VALUE)) {
      return;  // FFmpeg's start is right, or the packets know no better
    }
    if (packet.pts != AV_NOPTS_VALUE &&
        (earliest == AV_NOPTS_VALUE || packet.pts < earliest)) {
      earliest = packet.pts;
    }
    if (packet.dts != AV_NOPTS_VALUE) break;  // reordering reaches no further
  }
  if (earliest == AV_NOPTS_VALUE || earliest == video->start_time) return;
  // The duration was the container's too, not the stream's own.
  video->duration = AV_NOPTS_VALUE;
  video->start_time = earliest;
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
    return av_read_frame(format_.get(), packet);
  }
  av_packet_move_ref(packet, read_ahead_.front().get());
  read_ahead_.pop_front();
  read_ahead_bytes_ -= packet->size;
  return 0;
}

absl::Status MovieReader::CheckComplete() const {
  // A cut-off file often just ends early; its index or header still tells
  // how long it should have been.
  if (index_frames_ > 0 &&
      frames_decoded_ <
          index_frames_ - std::max<int64_t>(2, index_frames_ / 50)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the input is truncated: its index lists ", index_frames_,
        " video frames but only ", frames_decoded_, " could be read"));
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
    if (missing > std::max(1.0, 0.05 * info_.duration_seconds)) {
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

const AVStream* MovieReader::audio_stream() const {
  return audio_index_ >= 0 ? format_->streams[audio_index_] : nullptr;
}

absl::StatusOr<MovieReader::Item> MovieReader::Next() {
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
                           decode_errors_, " decoding errors)"));
        }
        absl::Status complete = CheckComplete();
        if (!complete.ok()) return complete;
        return Item{};
      }
      if (ret != AVERROR(EAGAIN)) {
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
      ret = avcodec_send_packet(decoder_.get(), packet_.get());
      av_packet_unref(packet_.get());
      if (ret == AVERROR(ENOMEM)) return AvError(ret, "decoding the video");
      if (ret < 0) ++decode_errors_;  // a damaged packet: skip it
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
