// Re-encodes an audio stream to AAC for a container that cannot hold the
// original codec (for example Vorbis or PCM into MP4): decode, resample to the
// encoder's sample format, regroup into AAC-sized frames, encode. The
// encoder's rate and channels are fixed by the stream's parameters; each
// decoded frame is checked against what the resampler was set up for, and a
// frame whose layout, rate or sample format differs (an MPEG-TS whose audio
// turns from stereo to mono mid-stream) gets a new resampler.
#ifndef STYLIZER_SERVER_MEDIA_AUDIO_TRANSCODER_H_
#define STYLIZER_SERVER_MEDIA_AUDIO_TRANSCODER_H_

#include <cstdint>
#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/media/av_util.h"

struct SwrContext;
struct AVAudioFifo;

namespace stylizer {
namespace media {

class AudioTranscoder {
 public:
  // Receives each encoded packet (in encoder()->time_base); may modify it.
  using Emit = std::function<absl::Status(AVPacket*)>;

  // Prepares a decoder for `in` and an AAC encoder with the same sample rate
  // and channels. `global_header`: the container wants out-of-band headers.
  static absl::StatusOr<std::unique_ptr<AudioTranscoder>> Create(
      const AVStream* in, bool global_header);
  ~AudioTranscoder();

  // The AAC encoder (for the output stream's parameters and time base).
  const AVCodecContext* encoder() const { return encoder_.get(); }

  // Transcodes one input packet (in the input stream's time base); null
  // flushes everything still buffered. Damaged packets are skipped.
  absl::Status Push(const AVPacket* packet, const Emit& emit);

 private:
  AudioTranscoder() = default;
  absl::Status Init(const AVStream* in, bool global_header);
  // Sets the resampler up for `frame`'s layout, rate and sample format
  // unless it already is; flushes the old one's buffered samples first.
  absl::Status ConfigureResampler(const AVFrame& frame);
  absl::Status Resample(const AVFrame* frame);
  absl::Status EncodeFromFifo(bool flush, const Emit& emit);
  absl::Status DrainEncoder(const Emit& emit);

  AVRational in_time_base_ = {1, 1};
  AvCodecContextPtr decoder_;
  AvCodecContextPtr encoder_;
  SwrContext* swr_ = nullptr;
  // What swr_ was set up for (its input).
  AVChannelLayout swr_layout_ = {};
  int swr_rate_ = 0;
  int swr_format_ = -1;
  AVAudioFifo* fifo_ = nullptr;
  AvFramePtr decoded_;
  AvPacketPtr packet_;
  int64_t next_pts_ = AV_NOPTS_VALUE;
};

}  // namespace media
}  // namespace stylizer

#endif  // STYLIZER_SERVER_MEDIA_AUDIO_TRANSCODER_H_
