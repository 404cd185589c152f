// One output movie of a video job: an H.264 encoder (libx264, yuv420p) and a
// muxer (fragmented MP4 or Matroska) that writes into memory and hands every
// piece of the file to a callback as soon as the muxer produces it. The input's
// audio stream, if any, is copied packet by packet (or transcoded to AAC when
// the container cannot hold its codec), and the input's timestamps, frame
// rate, rotation metadata and descriptive tags (movie_tags.h) are kept.
#ifndef STYLIZER_SERVER_MEDIA_MOVIE_WRITER_H_
#define STYLIZER_SERVER_MEDIA_MOVIE_WRITER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/batching/job_queue.h"
#include "server/media/av_util.h"
#include "server/media/frame_convert.h"
#include "server/media/hidden_sound.h"

namespace stylizer {
namespace media {

class AdtsToAsc;
class AudioTranscoder;

enum class OutputContainer {
  kFragmentedMp4,  // plays while it downloads; needs no seeking
  kMatroska,
};

class MovieWriter {
 public:
  struct Options {
    OutputContainer container = OutputContainer::kFragmentedMp4;
    // Output frame size (even).
    int width = 0;
    int height = 0;
    // The input video stream: time base, frame rate, colour primaries and
    // transfer, and display matrix are taken from it; its matrix tag picks
    // the conversion's (YuvMatrix), which the output is tagged with.
    // Required.
    const AVStream* video_in = nullptr;
    // Input timestamps (video and sound) are moved back by this many
    // microseconds (LateStartMicros), so that the output starts at 0.
    int64_t shift_back_us = 0;
    // The frames were turned upright from the input's display rotation: the
    // output gets no display matrix.
    bool turned_upright = false;
    // ...by a quarter turn: the sides swapped, so the sample aspect ratio is
    // inverted.
    bool turned_sideways = false;
    // The frames were tone-mapped from HDR to SDR BT.709 (HdrToSdr): the
    // output is made and tagged BT.709 (matrix, primaries, transfer), not
    // as the input.
    bool sdr_bt709 = false;
    // The input audio stream to carry over; null for none.
    const AVStream* audio_in = nullptr;
    // The input container's tags; those that describe the recording
    // (KeepsTag) are written to the output, as are its streams' (video_in's,
    // audio_in's). May be null.
    const AVDictionary* metadata_in = nullptr;
    // x264 constant rate factor (0-51). Default 20.
    int crf = 20;
    // x264 preset. Default "veryfast".
    std::string preset = "veryfast";
    // Encoder threads; 0 = x264's choice. Default 0.
    int encoder_threads = 0;
    // Receives the file's bytes in order. A non-OK return stops the writer
    // (every later call fails with it). Required.
    std::function<absl::Status(absl::string_view)> on_bytes;
  };

  // Sets up the encoder and muxer and writes the file header.
  static absl::StatusOr<std::unique_ptr<MovieWriter>> Create(
      const Options& options);
  ~MovieWriter();

  // Encodes one stylized frame. `pts` and `duration` are in the input video
  // stream's time base; timestamps that do not increase are nudged forward.
  absl::Status WriteVideo(const RgbFrame& frame, int64_t pts, int64_t duration);

  // Carries one input audio packet (in the input audio time base) over.
  // Ignored when the writer has no audio.
  absl::Status WriteAudio(const AVPacket& packet);

  // Flushes the encoder and writes the trailer. Call once, last.
  absl::Status Finish();

  // Frames encoded so far.
  int64_t frames() const { return frames_; }
  // Bytes handed to on_bytes so far.
  uint64_t bytes() const { return bytes_; }
  // From the first frame's start to the last frame's end, in seconds.
  double duration_seconds() const;
  // Whether the output carries an audio stream.
  bool has_audio() const { return audio_out_ != nullptr; }

 private:
  MovieWriter(const Options& options, bool transcode_audio);
  absl::Status Init();
  absl::Status AddAudioStream();
  // An error the input's audio caused: INVALID_ARGUMENT naming the codec.
  absl::Status AudioRefused(absl::Status status) const;
  absl::Status DrainEncoder();
  // Writes the held last video packet of an MP4, its duration stretched to
  // the end of the last frame shown.
  absl::Status WriteLastMp4Packet();
  // Writes one audio packet as it is (after the ADTS strip and the shift).
  absl::Status CopyAudio(AVPacket* copy);
  // INVALID_ARGUMENT where `packet` (in `stream`'s time base) follows
  // `last_dts` by more than an MP4 sample can last.
  absl::Status CheckMp4Gap(const AVPacket& packet, const AVStream& stream,
                           int64_t last_dts) const;
  // last_dts_'s entry for `stream` (AV_NOPTS_VALUE before its first packet).
  int64_t& LastDts(const AVStream& stream);
  absl::Status WritePacket(AVPacket* packet, AVRational from, AVStream* stream);
  absl::Status Failed(absl::Status status);
  static int WriteCallback(void* opaque, uint8_t* data, int size);

  Options options_;
  // Re-encode the audio even if the container could take it as it is (set
  // on the second try when the muxer refused the copied stream).
  const bool force_transcode_;
  AVRational time_base_ = {1, 25};
  // options_.shift_back_us in the input video's and audio's time bases.
  int64_t video_shift_ = 0;
  int64_t audio_shift_ = 0;
  AvioContextPtr io_;
  AvOutputPtr format_;
  AvCodecContextPtr encoder_;
  AvPacketPtr packet_;
  std::unique_ptr<YuvConverter> yuv_;
  std::unique_ptr<AudioTranscoder> transcoder_;
  // Copied AAC whose first packet had an ADTS header: strips the headers.
  std::unique_ptr<AdtsToAsc> adts_;
  bool adts_checked_ = false;
  AVStream* video_out_ = nullptr;
  AVStream* audio_out_ = nullptr;
  bool header_written_ = false;
  // The header's bytes, held until it is complete (a refused header is
  // retried and must not have reached on_bytes).
  bool holding_ = true;
  std::string held_;
  bool finished_ = false;
  absl::Status sink_status_;
  absl::Status error_;
  int64_t frames_ = 0;
  uint64_t bytes_ = 0;
  int64_t first_pts_ = AV_NOPTS_VALUE;
  int64_t last_pts_ = AV_NOPTS_VALUE;
  // The least step between two frames' times, in time_base_: one tick of
  // the output's, which for Matroska is a millisecond (one tick of the
  // input's was rounded away there).
  int64_t min_pts_step_ = 1;
  int64_t end_pts_ = AV_NOPTS_VALUE;
  int64_t default_duration_ = 1;
  // The last dts written to each output stream (its time base), by index.
  std::map<int, int64_t> last_dts_;
  // Copied sound the input's edit list hides: left out, but for the
  // preroll of the first packet shown.
  HiddenSound hidden_sound_;
  // Durations of frames inside the encoder, by pts (x264 does not carry
  // them to its packets).
  std::map<int64_t, int64_t> durations_;
  // MP4: the last video packet of the encoder's flush, written when the
  // next one comes or, stretched, by Finish (WriteLastMp4Packet).
  bool flushing_ = false;
  AvPacketPtr held_video_;
  int64_t first_video_dts_ = AV_NOPTS_VALUE;  // of the encoder's packets
};

}  // namespace media
}  // namespace stylizer

#endif  // STYLIZER_SERVER_MEDIA_MOVIE_WRITER_H_
