// Setting up a MovieWriter: the H.264 encoder, the muxer, its video and sound
// streams and the file header (see movie_writer.h).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/media/aac_adts.h"
#include "server/media/audio_copy_rule.h"
#include "server/media/audio_transcoder.h"
#include "server/media/movie_tags.h"
#include "server/media/movie_writer.h"

extern "C" {
#include <libavutil/dict.h>
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
// says no more: the system the matrix belongs to (BT.709 for BT.709; the SD
// systems' for BT.601; SMPTE 240M's for its matrix; NTSC 1953's, BT.470M
// with gamma 2.2, for FCC's; BT.2020's for BT.2020's). Unspecified for the
// others. (FCC and 240M inputs gave outputs without an MP4 colour box.)
AVColorPrimaries AssumedPrimaries(AVColorSpace matrix) {
  switch (matrix) {
    case AVCOL_SPC_BT709:
      return AVCOL_PRI_BT709;
    case AVCOL_SPC_SMPTE170M:
      return AVCOL_PRI_SMPTE170M;
    case AVCOL_SPC_BT470BG:
      return AVCOL_PRI_BT470BG;
    case AVCOL_SPC_SMPTE240M:
      return AVCOL_PRI_SMPTE240M;
    case AVCOL_SPC_FCC:
      return AVCOL_PRI_BT470M;
    case AVCOL_SPC_BT2020_NCL:
    case AVCOL_SPC_BT2020_CL:
      return AVCOL_PRI_BT2020;
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
    case AVCOL_SPC_SMPTE240M:
      return AVCOL_TRC_SMPTE240M;
    case AVCOL_SPC_FCC:
      return AVCOL_TRC_GAMMA22;
    case AVCOL_SPC_BT2020_NCL:
    case AVCOL_SPC_BT2020_CL:
      return AVCOL_TRC_BT2020_10;
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

absl::Status MovieWriter::Init() {
  const AVStream* in = options_.video_in;
  time_base_ = in->time_base;
  video_shift_ = LateStartTicks(options_.shift_back_us, in->time_base);
  if (options_.audio_in != nullptr) {
    audio_shift_ =
        LateStartTicks(options_.shift_back_us, options_.audio_in->time_base);
  }
  AVRational rate = in->avg_frame_rate;
  if (rate.num <= 0 || rate.den <= 0) rate = in->r_frame_rate;
  if (rate.num <= 0 || rate.den <= 0) rate = {25, 1};
  default_duration_ =
      std::max<int64_t>(1, av_rescale_q(1, av_inv_q(rate), time_base_));
  if (options_.container == OutputContainer::kMatroska) {
    min_pts_step_ = std::max<int64_t>(
        1, av_rescale_q_rnd(1, AVRational{1, 1000}, time_base_, AV_ROUND_UP));
  }

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

}  // namespace media
}  // namespace stylizer
