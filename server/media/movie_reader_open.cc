// Opening a MovieReader: container, streams, decoder, what the probe learns.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "server/media/aac_adts.h"
#include "server/media/hdr_to_sdr.h"
#include "server/media/movie_reader.h"
#include "server/media/movie_reader_io.h"
#include "server/media/movie_streams.h"
#include "server/media/pixel_format.h"
#include "server/media/truncation.h"

extern "C" {
#include <libavutil/avstring.h>
#include <libavutil/dict.h>
#include <libavutil/frame.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
}

namespace stylizer {
namespace media {

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
  if (absl::Status s = OpenContainer(spool, options); !s.ok()) return s;
  if (absl::Status s = ReadStreamInfo(spool, options); !s.ok()) return s;
  const AVCodec* codec = nullptr;
  if (absl::Status s = ChooseStreams(&codec); !s.ok()) return s;
  AVStream* video = format_->streams[video_index_];
  if (absl::Status s = OpenDecoder(video, codec, options); !s.ok()) return s;
  LearnTiming(video);
  DescribeStreams(video);
  return absl::OkStatus();
}

absl::Status MovieReader::OpenContainer(Spool* spool, const Options& options) {
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
    // A container recognised whose header reading meets the end (Matroska
    // without a cluster): it said "not a movie FFmpeg recognises: End of
    // file". One cut inside its header fails with "Input/output error",
    // which is how the Matroska demuxer says its file "ended prematurely"
    // (a read error of the spool is spool_status()).
    const bool cut_in_header =
        input_format != nullptr &&
        absl::StrContains(input_format->name, "matroska") &&
        ret == AVERROR(EIO);
    if (io_->spool_status().ok() && input_format != nullptr &&
        (ret == AVERROR_EOF || cut_in_header)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the input (", input_format->name,
          ") ends before its first frame: it has no frames, or was cut off "
          "in its header"));
    }
    return InputError(ret, "the input is not a movie FFmpeg recognises");
  }
  format_.reset(raw);
  return absl::OkStatus();
}

absl::Status MovieReader::ReadStreamInfo(Spool* spool, const Options& options) {
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
  // H.264 and HEVC, whose probe keeps several frames, are held to
  // probe_max_pixels: their parsers still tell a larger frame's size.
  std::vector<AVDictionary*> stream_options(format_->nb_streams, nullptr);
  // The sizes the container's header gives: a decoder that refuses a frame
  // over max_pixels zeroes the stream's size (MJPEG, PNG), which then said
  // only "the input's video stream has no frame size".
  header_sizes_.clear();
  for (unsigned i = 0; i < format_->nb_streams; ++i) {
    const AVCodecParameters* par = format_->streams[i]->codecpar;
    header_sizes_.emplace_back(par->width, par->height);
  }
  const std::string max_pixels = std::to_string(max_decode_pixels_);
  const std::string parsed_max_pixels =
      std::to_string(std::min(options.probe_max_pixels, max_decode_pixels_));
  for (unsigned i = 0; i < format_->nb_streams; ++i) {
    const AVCodecID codec = format_->streams[i]->codecpar->codec_id;
    const bool large_frames_parsed_only =
        codec == AV_CODEC_ID_H264 || codec == AV_CODEC_ID_HEVC;
    av_dict_set(
        &stream_options[i], "max_pixels",
        (large_frames_parsed_only ? parsed_max_pixels : max_pixels).c_str(), 0);
  }
  // The probe ends by asking for the input's size (avio_size, for duration
  // estimates), which for an upload of unknown size (a pipe) waited for the
  // upload's end: a live pipe was accepted only once it closed, whatever
  // its container. Unknown, the size is left out of those estimates.
  int ret = 0;
  {
    const auto end_unknown = io_->EndUnknownIsError(true);
    const ProbeDecodersQuiet quiet_decoders;
    ret = avformat_find_stream_info(format_.get(), stream_options.empty()
                                                       ? nullptr
                                                       : stream_options.data());
  }
  for (AVDictionary*& d : stream_options) av_dict_free(&d);
  if (ret < 0) return InputError(ret, "cannot read the movie's streams");
  return absl::OkStatus();
}

absl::Status MovieReader::ChooseStreams(const AVCodec** codec) {
  int ret = FindVideoStream(format_.get(), codec);
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
    // FFmpeg leaves out an MP4 track without samples (a recording stopped
    // before its first frame): "no video stream" sent people looking for a
    // stream the file has.
    if (format_->nb_streams == 0 &&
        av_match_name("mp4", format_->iformat->name)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the input (", format_->iformat->name,
          ") ends before its first frame: none of its tracks holds a frame"));
    }
    return absl::InvalidArgumentError("the input has no video stream");
  }
  if (ret < 0) return InputError(ret, "cannot find the video stream");
  video_index_ = ret;
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
  timestamp_jumps_ = std::make_unique<TimestampJumps>(2, format_->iformat);
  return absl::OkStatus();
}

absl::Status MovieReader::OpenDecoder(AVStream* video, const AVCodec* codec,
                                      const Options& options) {
  const AVCodecParameters* par = video->codecpar;
  if (par->width <= 0 || par->height <= 0) {
    // FFmpeg 5.1's WebP decoder reads no animation (its frames are in ANMF
    // chunks, which it skips), nor does the ffmpeg tool.
    if (par->codec_id == AV_CODEC_ID_WEBP) {
      return absl::InvalidArgumentError(
          "the input is a WebP without a frame FFmpeg can decode: an animated "
          "WebP, which FFmpeg (the server's, and the ffmpeg tool) does not "
          "decode; convert it to an animated GIF or a movie first, e.g. with "
          "ImageMagick: convert in.webp out.gif");
    }
    const size_t index = static_cast<size_t>(video->index);
    if (index < header_sizes_.size()) {
      const auto [width, height] = header_sizes_[index];
      if (width > 0 && height > 0 &&
          static_cast<int64_t>(width) * height > max_decode_pixels_) {
        return DecodeLimitError(width, height, max_decode_pixels_, 0);
      }
    }
    return absl::InvalidArgumentError(
        "the input's video stream has no frame size (its first frames could "
        "not be decoded: damaged, or larger than the server decodes)");
  }
  if (static_cast<int64_t>(par->width) * par->height > max_decode_pixels_) {
    return DecodeLimitError(par->width, par->height, max_decode_pixels_, 0);
  }
  decoder_.reset(avcodec_alloc_context3(codec));
  if (decoder_ == nullptr) {
    return absl::ResourceExhaustedError("cannot allocate the decoder");
  }
  int ret = avcodec_parameters_to_context(decoder_.get(), par);
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
  return absl::OkStatus();
}

void MovieReader::LearnTiming(AVStream* video) {
  const AVCodecParameters* par = video->codecpar;
  info_.width = par->width;
  info_.height = par->height;
  const int frame_bytes = av_image_get_buffer_size(
      static_cast<AVPixelFormat>(par->format), par->width, par->height, 1);
  // A format FFmpeg learns only from the first frame: as much as 8-bit RGB.
  info_.decoded_frame_bytes =
      frame_bytes > 0 ? frame_bytes : int64_t{par->width} * par->height * 3;
  info_.has_alpha = HasAlpha(static_cast<AVPixelFormat>(par->format));
  AVRational rate = video->avg_frame_rate;
  if (rate.num <= 0 || rate.den <= 0) rate = video->r_frame_rate;
  if (rate.num <= 0 || rate.den <= 0) rate = {25, 1};
  info_.fps = av_q2d(rate);
  TakeStartFromPackets(video);
  const double time_base = av_q2d(video->time_base);
  const double start =
      video->start_time != AV_NOPTS_VALUE ? video->start_time * time_base : 0;
  // The container's end (Matroska, WebM, FLV have no duration per stream):
  // where its longest stream ends, audio included.
  const double container_end = ContainerEndSeconds(format_.get());
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
}

void MovieReader::DescribeStreams(AVStream* video) {
  const AVCodecParameters* par = video->codecpar;
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
  const DisplayTurn turn = GetDisplayTurn(video);
  info_.rotation_degrees = turn.ccw_degrees;
  info_.mirrored = turn.mirrored;
  if (HdrToSdr::IsHdr(par->color_trc)) {
    info_.hdr_transfer = av_color_transfer_name(par->color_trc);
  }
  if (audio_index_ >= 0 &&
      IsAdtsAac(*format_->streams[audio_index_]->codecpar)) {
    LearnAdtsConfig(format_->streams[audio_index_]);
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
      deferred_error_ = SendVideoPacket();
      if (!deferred_error_.ok()) return;
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

}  // namespace media
}  // namespace stylizer
