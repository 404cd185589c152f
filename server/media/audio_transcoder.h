// Re-encodes an audio stream to AAC for a container that cannot hold the
// original codec (for example Vorbis or PCM into MP4): decode, resample to the
// encoder's sample format, regroup into AAC-sized frames, encode. The
// encoder's rate and channels are fixed by the stream's parameters; each
// decoded frame is checked against what the resampler was set up for, and a
// frame whose layout, rate or sample format differs (an MPEG-TS whose audio
// turns from stereo to mono mid-stream) gets a new resampler.
//
// Timing: the output is one run of samples with no holes, and each decoded
// frame's own timestamp says where its samples belong on it. A frame that
// starts later than the audio so far ends (audio missing from the input) is
// preceded by silence that fills the hole; one that starts earlier (an
// overlap, a timestamp going back) loses the samples that would play twice
// (after a big jump back, as joined recordings have, audio is dropped until
// its timestamps pass where it had got to, as copied audio is).
// Differences up to kMaxSyncError are left alone (timestamp rounding, jitter),
// so sync stays within that without clicks, and never drifts further. AAC in
// MP4 is played sample after sample by most players, which ignore gaps in the
// timestamps: only samples keep it in sync with the video. (A hole too long
// to fill, see kFreeSilence, becomes a jump in the timestamps instead.)
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

  // How far (seconds) a frame's timestamp may be from where the audio so far
  // ends before silence is inserted or samples are dropped. Below EBU R37's
  // tightest bound for lip sync (audio 40 ms early); well above the rounding
  // of millisecond container timestamps.
  static constexpr double kMaxSyncError = 0.040;
  // Silence inserted into holes is limited to this many seconds plus as much
  // as the decoded audio itself lasts (a file cannot make the server encode
  // hours of silence from a few timestamps). A hole past the limit is kept as
  // a jump in the output's timestamps instead.
  static constexpr double kFreeSilence = 600;

 private:
  AudioTranscoder() = default;
  absl::Status Init(const AVStream* in, bool global_header);
  // Sets the resampler up for `frame`'s layout, rate and sample format
  // unless it already is; flushes the old one's buffered samples first.
  absl::Status ConfigureResampler(const AVFrame& frame);
  // Resamples `frame` (null: flushes the resampler) without its first `skip`
  // samples into the FIFO.
  absl::Status Resample(const AVFrame* frame, int skip = 0);
  absl::Status EncodeFromFifo(bool flush, const Emit& emit);
  absl::Status DrainEncoder(const Emit& emit);
  // Output samples taken in but not yet encoded (FIFO and resampler).
  int64_t QueuedSamples();
  // Moves the frame in decoded_ (resampler already set up for it) to its
  // timestamp: fills a hole before it with silence (or jumps the output
  // timestamps past it), or sets *skip to the samples at its start that
  // overlap audio already taken (all of them: drop the frame).
  absl::Status Align(const Emit& emit, int* skip);
  // Appends `samples` (encoder rate) of silence to the FIFO, encoding as it
  // goes. The resampler must hold nothing.
  absl::Status InsertSilence(int64_t samples, const Emit& emit);

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
  // Timestamp (encoder time base) of the next sample out of the FIFO.
  int64_t next_pts_ = AV_NOPTS_VALUE;
  // Output samples decoded, and of silence inserted, so far.
  int64_t decoded_samples_ = 0;
  int64_t silence_samples_ = 0;
  // The last frame overlapped what was taken before it by more than the
  // tolerance and was dropped whole: the next one is trimmed to the exact
  // position, so that no offset within the tolerance is left behind.
  bool dropping_ = false;
};

}  // namespace media
}  // namespace stylizer

#endif  // STYLIZER_SERVER_MEDIA_AUDIO_TRANSCODER_H_
