// Audio to AAC for containers that cannot carry the input's codec (see
// audio_transcoder.h).
#include "server/media/audio_transcoder.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"

extern "C" {
#include <libavutil/audio_fifo.h>
#include <libavutil/channel_layout.h>
#include <libavutil/mathematics.h>
#include <libavutil/samplefmt.h>
#include <libswresample/swresample.h>
}

namespace stylizer {
namespace media {
namespace {

// `rate` if the encoder takes it, else the nearest rate above it it takes
// (else the highest): the resampler converts.
int EncoderRate(const AVCodec* codec, int rate) {
  const int* rates = codec->supported_samplerates;
  if (rates == nullptr) return rate;
  int above = 0;
  int highest = 0;
  for (; *rates != 0; ++rates) {
    if (*rates == rate) return rate;
    if (*rates > rate && (above == 0 || *rates < above)) above = *rates;
    highest = std::max(highest, *rates);
  }
  return above != 0 ? above : highest;
}

// Samples of silence put into the FIFO (and encoded) at a time: bounds the
// memory a long hole takes.
constexpr int kSilenceChunk = 16384;

// Timestamps (in output samples) beyond this are nonsense (about 3000 years
// at 48 kHz): such frames are treated as having none. Keeps all arithmetic
// on them far from overflowing.
constexpr int64_t kMaxTimestamp = int64_t{1} << 52;

}  // namespace

absl::StatusOr<std::unique_ptr<AudioTranscoder>> AudioTranscoder::Create(
    const AVStream* in, bool global_header) {
  std::unique_ptr<AudioTranscoder> t(new AudioTranscoder());
  absl::Status s = t->Init(in, global_header);
  if (!s.ok()) return s;
  return t;
}

AudioTranscoder::~AudioTranscoder() {
  swr_free(&swr_);
  av_channel_layout_uninit(&swr_layout_);
  if (fifo_ != nullptr) av_audio_fifo_free(fifo_);
}

absl::Status AudioTranscoder::Init(const AVStream* in, bool global_header) {
  in_time_base_ = in->time_base;
  const AVCodec* dec = avcodec_find_decoder(in->codecpar->codec_id);
  if (dec == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the input's audio codec (", avcodec_get_name(in->codecpar->codec_id),
        ") cannot be decoded; ask for drop_audio"));
  }
  decoder_.reset(avcodec_alloc_context3(dec));
  if (decoder_ == nullptr) return absl::ResourceExhaustedError("out of memory");
  int ret = avcodec_parameters_to_context(decoder_.get(), in->codecpar);
  if (ret < 0) return AvError(ret, "configuring the audio decoder");
  decoder_->pkt_timebase = in->time_base;
  ret = avcodec_open2(decoder_.get(), dec, nullptr);
  if (ret < 0) {
    return AvError(ret, "opening the audio decoder",
                   absl::StatusCode::kInvalidArgument);
  }

  const AVCodec* aac = avcodec_find_encoder(AV_CODEC_ID_AAC);
  if (aac == nullptr) {
    return absl::InternalError(
        "this server's FFmpeg has no AAC encoder (a build fault)");
  }
  encoder_.reset(avcodec_alloc_context3(aac));
  if (encoder_ == nullptr) return absl::ResourceExhaustedError("out of memory");
  AVCodecContext* enc = encoder_.get();
  enc->sample_fmt = AV_SAMPLE_FMT_FLTP;
  enc->sample_rate = EncoderRate(
      aac, decoder_->sample_rate > 0 ? decoder_->sample_rate : 48000);
  int channels = decoder_->ch_layout.nb_channels;
  if (channels <= 0 || channels > 8) channels = 2;
  av_channel_layout_default(&enc->ch_layout, channels);
  enc->bit_rate =
      64000 * std::min(channels, 2) + 32000 * std::max(0, channels - 2);
  enc->time_base = {1, enc->sample_rate};
  if (global_header) enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  ret = avcodec_open2(enc, aac, nullptr);
  if (ret < 0) {
    return AvError(
        ret,
        absl::StrCat("the input's audio (", enc->sample_rate, " Hz, ", channels,
                     " channels) cannot be encoded as AAC; ask for "
                     "drop_audio"),
        absl::StatusCode::kInvalidArgument);
  }

  fifo_ = av_audio_fifo_alloc(enc->sample_fmt, enc->ch_layout.nb_channels,
                              std::max(enc->frame_size, 1024));
  if (fifo_ == nullptr) return absl::ResourceExhaustedError("out of memory");
  decoded_ = MakeFrame();
  packet_ = MakePacket();
  return absl::OkStatus();
}

absl::Status AudioTranscoder::ConfigureResampler(const AVFrame& frame) {
  if (swr_ != nullptr && frame.sample_rate == swr_rate_ &&
      frame.format == swr_format_ &&
      av_channel_layout_compare(&frame.ch_layout, &swr_layout_) == 0) {
    return absl::OkStatus();
  }
  if (swr_ != nullptr) {
    // Keep what the old resampler still holds, then start a new one.
    absl::Status s = Resample(nullptr);
    if (!s.ok()) return s;
    swr_free(&swr_);
  }
  av_channel_layout_uninit(&swr_layout_);
  int ret = av_channel_layout_copy(&swr_layout_, &frame.ch_layout);
  if (ret < 0) return AvError(ret, "audio layout");
  swr_rate_ = frame.sample_rate;
  swr_format_ = frame.format;
  // A count without named channels gets the usual layout for that count.
  AVChannelLayout in_layout = {};
  if (swr_layout_.order == AV_CHANNEL_ORDER_UNSPEC) {
    av_channel_layout_default(&in_layout, swr_layout_.nb_channels);
  } else {
    ret = av_channel_layout_copy(&in_layout, &swr_layout_);
    if (ret < 0) return AvError(ret, "audio layout");
  }
  AVCodecContext* enc = encoder_.get();
  ret = swr_alloc_set_opts2(
      &swr_, &enc->ch_layout, enc->sample_fmt, enc->sample_rate, &in_layout,
      static_cast<AVSampleFormat>(swr_format_), swr_rate_, 0, nullptr);
  // More than 8 channels without names (a field recorder's tracks) have no
  // usual layout, so swresample cannot choose a downmix and failed the job
  // at its first sound: the encoder's channels take the first ones.
  const bool unnamed = in_layout.order == AV_CHANNEL_ORDER_UNSPEC;
  const int in_channels = in_layout.nb_channels;
  av_channel_layout_uninit(&in_layout);
  if (ret >= 0 && unnamed) {
    const int out_channels = enc->ch_layout.nb_channels;
    std::vector<double> matrix(static_cast<size_t>(out_channels) * in_channels,
                               0.0);
    for (int c = 0; c < out_channels && c < in_channels; ++c) {
      matrix[static_cast<size_t>(c) * in_channels + c] = 1.0;
    }
    ret = swr_set_matrix(swr_, matrix.data(), in_channels);
  }
  if (ret >= 0) ret = swr_init(swr_);
  if (ret < 0) {
    swr_free(&swr_);
    return AvError(ret,
                   absl::StrCat("the input's audio (", in_channels,
                                " channels) cannot be converted for AAC; ask "
                                "for drop_audio"),
                   absl::StatusCode::kInvalidArgument);
  }
  return absl::OkStatus();
}

absl::Status AudioTranscoder::Resample(const AVFrame* frame, int skip) {
  if (swr_ == nullptr) return absl::OkStatus();  // nothing decoded yet
  const AVCodecContext* enc = encoder_.get();
  int in_samples = frame != nullptr ? frame->nb_samples - skip : 0;
  if (frame != nullptr && in_samples <= 0) return absl::OkStatus();
  // The frame's planes (one for packed samples), past the skipped samples.
  std::vector<const uint8_t*> in;
  if (frame != nullptr) {
    const auto format = static_cast<AVSampleFormat>(frame->format);
    const bool planar = av_sample_fmt_is_planar(format) != 0;
    const int channels = frame->ch_layout.nb_channels;
    const size_t offset = static_cast<size_t>(skip) *
                          av_get_bytes_per_sample(format) *
                          (planar ? 1 : channels);
    in.resize(planar ? channels : 1);
    for (size_t i = 0; i < in.size(); ++i) {
      in[i] = frame->extended_data[i] + offset;
    }
  }
  int out_samples = swr_get_out_samples(swr_, in_samples);
  if (out_samples <= 0) return absl::OkStatus();
  AvFramePtr out = MakeFrame();
  out->format = enc->sample_fmt;
  out->nb_samples = out_samples;
  int ret = av_channel_layout_copy(&out->ch_layout, &enc->ch_layout);
  if (ret < 0) return AvError(ret, "audio layout");
  ret = av_frame_get_buffer(out.get(), 0);
  if (ret < 0) return AvError(ret, "allocating audio samples");
  int got = swr_convert(swr_, out->data, out_samples,
                        frame != nullptr ? in.data() : nullptr, in_samples);
  if (got < 0) return AvError(got, "resampling audio");
  if (got > 0 && av_audio_fifo_write(fifo_, reinterpret_cast<void**>(out->data),
                                     got) < got) {
    return absl::ResourceExhaustedError("audio buffer");
  }
  return absl::OkStatus();
}

absl::Status AudioTranscoder::DrainEncoder(const Emit& emit) {
  while (true) {
    int ret = avcodec_receive_packet(encoder_.get(), packet_.get());
    if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return absl::OkStatus();
    if (ret < 0) return AvError(ret, "encoding AAC");
    absl::Status s = emit(packet_.get());
    av_packet_unref(packet_.get());
    if (!s.ok()) return s;
  }
}

absl::Status AudioTranscoder::EncodeFromFifo(bool flush, const Emit& emit) {
  const int frame_size = encoder_->frame_size > 0 ? encoder_->frame_size : 1024;
  while (av_audio_fifo_size(fifo_) >= frame_size ||
         (flush && av_audio_fifo_size(fifo_) > 0)) {
    int n = std::min(frame_size, av_audio_fifo_size(fifo_));
    AvFramePtr frame = MakeFrame();
    frame->format = encoder_->sample_fmt;
    frame->nb_samples = n;
    frame->sample_rate = encoder_->sample_rate;
    int ret = av_channel_layout_copy(&frame->ch_layout, &encoder_->ch_layout);
    if (ret < 0) return AvError(ret, "audio layout");
    ret = av_frame_get_buffer(frame.get(), 0);
    if (ret < 0) return AvError(ret, "allocating audio samples");
    av_audio_fifo_read(fifo_, reinterpret_cast<void**>(frame->data), n);
    frame->pts = next_pts_ == AV_NOPTS_VALUE ? 0 : next_pts_;
    next_pts_ = frame->pts + n;
    ret = avcodec_send_frame(encoder_.get(), frame.get());
    if (ret < 0) return AvError(ret, "encoding AAC");
    absl::Status s = DrainEncoder(emit);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

int64_t AudioTranscoder::QueuedSamples() {
  int64_t queued = av_audio_fifo_size(fifo_);
  if (swr_ != nullptr) queued += swr_get_delay(swr_, encoder_->sample_rate);
  return queued;
}

absl::Status AudioTranscoder::InsertSilence(int64_t samples, const Emit& emit) {
  // Straight into the FIFO, in the encoder's format and rate (the cost of a
  // hole does not depend on the input's rate), a piece at a time.
  if (samples <= 0) return absl::OkStatus();
  AvFramePtr silence = MakeFrame();
  silence->format = encoder_->sample_fmt;
  silence->nb_samples =
      static_cast<int>(std::min<int64_t>(samples, kSilenceChunk));
  int ret = av_channel_layout_copy(&silence->ch_layout, &encoder_->ch_layout);
  if (ret < 0) return AvError(ret, "audio layout");
  ret = av_frame_get_buffer(silence.get(), 0);
  if (ret < 0) return AvError(ret, "allocating audio samples");
  av_samples_set_silence(silence->extended_data, 0, silence->nb_samples,
                         silence->ch_layout.nb_channels, encoder_->sample_fmt);
  for (int64_t left = samples; left > 0;) {
    const int n = static_cast<int>(std::min<int64_t>(left, kSilenceChunk));
    if (av_audio_fifo_write(fifo_, reinterpret_cast<void**>(silence->data), n) <
        n) {
      return absl::ResourceExhaustedError("audio buffer");
    }
    absl::Status s = EncodeFromFifo(false, emit);
    if (!s.ok()) return s;
    left -= n;
  }
  return absl::OkStatus();
}

absl::Status AudioTranscoder::Align(const Emit& emit, int* skip) {
  *skip = 0;
  const AVFrame& f = *decoded_;
  if (f.best_effort_timestamp == AV_NOPTS_VALUE) {
    return absl::OkStatus();  // follows what came before
  }
  const int64_t at =
      av_rescale_q(f.best_effort_timestamp, in_time_base_, encoder_->time_base);
  if (at < -kMaxTimestamp || at > kMaxTimestamp) return absl::OkStatus();
  if (next_pts_ == AV_NOPTS_VALUE) {
    next_pts_ = at - QueuedSamples();  // the first timestamp: start there
    return absl::OkStatus();
  }
  // > 0: a hole before the frame; < 0: it overlaps what came before.
  const int64_t offset = at - (next_pts_ + QueuedSamples());
  const int rate = encoder_->sample_rate;
  const int64_t tolerance = std::llround(kMaxSyncError * rate);
  if (offset < (dropping_ ? 0 : -tolerance)) {
    // Keeping the samples that would play twice would put everything after
    // them late: drop them.
    const int64_t overlap = av_rescale(-offset, f.sample_rate, rate);
    dropping_ = overlap >= f.nb_samples;
    *skip = dropping_ ? f.nb_samples : static_cast<int>(overlap);
    return absl::OkStatus();
  }
  dropping_ = false;
  if (offset <= tolerance) return absl::OkStatus();
  // What the resampler holds comes before the hole: drain it (the frame gets
  // a new one), and measure the hole from the FIFO's exact end.
  absl::Status s = Resample(nullptr);
  if (!s.ok()) return s;
  swr_free(&swr_);
  const int64_t hole = at - (next_pts_ + av_audio_fifo_size(fifo_));
  const int64_t budget =
      std::llround(kFreeSilence * rate) + decoded_samples_ - silence_samples_;
  if (hole <= budget) {
    silence_samples_ += std::max<int64_t>(hole, 0);
    s = InsertSilence(hole, emit);
  } else {
    // Too long to fill: encode what came before at its timestamps (only the
    // last encoder frame may be short: pad it with silence) and carry on at
    // the frame's own.
    const int frame_size =
        encoder_->frame_size > 0 ? encoder_->frame_size : 1024;
    s = InsertSilence(
        (frame_size - av_audio_fifo_size(fifo_) % frame_size) % frame_size,
        emit);
    if (s.ok()) s = EncodeFromFifo(false, emit);  // even with nothing padded
    if (s.ok()) next_pts_ = std::max(next_pts_, at);
  }
  if (s.ok()) s = ConfigureResampler(f);
  return s;
}

absl::Status AudioTranscoder::Push(const AVPacket* packet, const Emit& emit) {
  int ret = avcodec_send_packet(decoder_.get(), packet);
  if (ret < 0 && ret != AVERROR_EOF) {
    if (ret == AVERROR(ENOMEM)) return AvError(ret, "decoding audio");
    return absl::OkStatus();  // a damaged packet: skip it
  }
  while (true) {
    ret = avcodec_receive_frame(decoder_.get(), decoded_.get());
    if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) break;
    if (ret < 0) break;  // undecodable audio: keep what we have
    // The decoder reports each frame's own parameters; they may change
    // mid-stream and are never taken from the stream's header.
    const AVFrame& f = *decoded_;
    if (f.nb_samples <= 0 || f.sample_rate <= 0 ||
        f.ch_layout.nb_channels <= 0 || f.ch_layout.nb_channels > 64 ||
        f.format < 0) {
      av_frame_unref(decoded_.get());
      continue;  // nothing usable
    }
    absl::Status s = ConfigureResampler(f);
    int skip = 0;
    if (s.ok()) s = Align(emit, &skip);
    if (s.ok() && skip < f.nb_samples) {
      decoded_samples_ +=
          av_rescale(f.nb_samples - skip, encoder_->sample_rate, f.sample_rate);
      s = Resample(decoded_.get(), skip);
    }
    av_frame_unref(decoded_.get());
    if (!s.ok()) return s;
    s = EncodeFromFifo(false, emit);
    if (!s.ok()) return s;
  }
  if (packet != nullptr) return absl::OkStatus();
  absl::Status s = Resample(nullptr);
  if (!s.ok()) return s;
  s = EncodeFromFifo(true, emit);
  if (!s.ok()) return s;
  ret = avcodec_send_frame(encoder_.get(), nullptr);
  if (ret < 0 && ret != AVERROR_EOF) return AvError(ret, "flushing AAC");
  return DrainEncoder(emit);
}

}  // namespace media
}  // namespace stylizer
