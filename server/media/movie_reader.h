// Demuxes and decodes an uploaded movie straight out of its Spool: opens the
// container through a custom AVIOContext (reads block until the bytes
// arrive), probes it (MovieInfo), decodes the video stream into frames and
// hands the audio stream's packets through untouched, all in demux order.
#ifndef STYLIZER_SERVER_MEDIA_MOVIE_READER_H_
#define STYLIZER_SERVER_MEDIA_MOVIE_READER_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/media/av_util.h"
#include "server/media/spool.h"
#include "server/media/timestamp_jumps.h"

namespace stylizer {
namespace media {

// What the probe found in the input.
struct MovieInfo {
  int width = 0;  // coded frame size, before rotation
  int height = 0;
  // One decoded frame at that size in the decoder's pixel format: what the
  // decoder's reference frames are made of.
  int64_t decoded_frame_bytes = 0;
  // Whether the decoder's pixel format has an alpha channel: such frames are
  // composited over white at this size first (frame_convert.h).
  bool has_alpha = false;
  double fps = 0;  // average (else real) frame rate; 25 when neither is known
  double duration_seconds = 0;  // of the video stream, or from its start to
                                // the container's end; 0 if unknown
  int64_t frames_estimate = 0;  // from the container or duration x fps
  bool has_audio = false;
  std::string video_codec;  // FFmpeg codec names
  std::string audio_codec;
  std::string container;     // FFmpeg demuxer name
  // The display matrix (DisplayTurn): turned this far counter-clockwise
  // (0/90/180/270), then mirrored left-right where `mirrored`.
  int rotation_degrees = 0;
  bool mirrored = false;
  // FFmpeg's name of an HDR transfer ("smpte2084", "arib-std-b67"): the
  // frames are tone-mapped to SDR BT.709 (HdrToSdr). Empty for SDR video.
  std::string hdr_transfer;
};

class MovieReader {
 public:
  struct Options {
    // Largest decoded frame (width x height) the decoder accepts; bigger
    // frames fail with INVALID_ARGUMENT. Default 8192 x 8192.
    int64_t max_decode_pixels = int64_t{8192} * 8192;
    // Largest H.264 or HEVC frame the probe decodes (never more than
    // max_decode_pixels); a larger one it only parses, which tells its size
    // and format as well. The probe runs before the job is charged for its
    // decoder, and decoding took 275 MB there for an 8192x8192 H.264 movie.
    // Other codecs' decoders lose the frame size when they refuse a frame,
    // so theirs are probed up to max_decode_pixels. Default 4096 x 2304.
    int64_t probe_max_pixels = int64_t{4096} * 2304;
    // Decoder threads; 0 = FFmpeg's choice. Default 2.
    int decoder_threads = 2;
    // Size of the whole upload if the client announced it (0 = unknown).
    // Lets demuxers that want the file size (MP4) start before the upload
    // ends; without it they wait for the end.
    uint64_t expected_size = 0;
    // MPEG-TS and MPEG-PS: an upload announced at most this size is let in
    // to its end before decoding starts, for FFmpeg's exact duration (and
    // the job's ETA); a larger one, or one of unknown size, starts at once
    // with the duration estimated or unknown. Default 64 MiB.
    uint64_t max_wait_for_duration_bytes = uint64_t{64} << 20;
  };

  // One demuxed-and-decoded unit, in input order.
  struct Item {
    enum class Kind { kVideoFrame, kAudioPacket, kEnd };
    Kind kind = Kind::kEnd;
    AvFramePtr frame;    // kVideoFrame: pts in the video stream's time base
    AvPacketPtr packet;  // kAudioPacket: in the audio stream's time base
  };

  // Opens and probes the movie in `spool` (which must outlive the reader).
  // Blocks until enough of the upload has arrived. INVALID_ARGUMENT for
  // empty, unrecognisable or truncated input, no video stream or a video codec
  // without a decoder; the spool's status if the upload was aborted.
  static absl::StatusOr<std::unique_ptr<MovieReader>> Open(
      Spool* spool, const Options& options);
  ~MovieReader();

  // The probe's findings.
  const MovieInfo& info() const { return info_; }
  // Whether info().frames_estimate is missing or a guess from the bit rate
  // (MPEG-TS over max_wait_for_duration_bytes, a stream without a
  // duration): the caller may do better from how far the frames reach into
  // the input (AVFrame::pkt_pos).
  bool frames_estimate_is_guess() const {
    return info_.frames_estimate <= 0 || duration_is_estimate_;
  }
  // The input's streams (for copying parameters and side data); audio may be
  // null.
  const AVStream* video_stream() const;
  const AVStream* audio_stream() const;
  // The container's tags (title, creation_time, ...); may be null.
  const AVDictionary* metadata() const;

  // The next decoded frame or audio packet; kEnd after the last one.
  // INVALID_ARGUMENT when the input turns out corrupt, truncated or too big.
  absl::StatusOr<Item> Next();

  // Video frames returned so far.
  int64_t frames_decoded() const { return frames_decoded_; }
  // Video packets the decoder refused as damaged, skipped so far (as ffmpeg
  // skips them; the frames they held are missing from the output).
  int64_t packets_skipped() const { return packets_skipped_; }
  // Times the input's timestamps jumped (joined recordings), each part moved
  // to follow the one before (timestamp_jumps.h).
  int64_t timestamp_jumps() const {
    return timestamp_jumps_ != nullptr ? timestamp_jumps_->jumps() : 0;
  }

 private:
  class SpoolIo;
  MovieReader() = default;
  absl::Status OpenInternal(Spool* spool, const Options& options);
  // OpenInternal's steps, in this order; those returning a Status return
  // the error that ends the opening.
  //
  // Opens the container over `spool` (io_, format_): refuses a format that
  // refers to other files, and an empty upload.
  absl::Status OpenContainer(Spool* spool, const Options& options);
  // Reads the streams' parameters, the probe's decoders held to
  // max_decode_pixels_.
  absl::Status ReadStreamInfo(Spool* spool, const Options& options);
  // Chooses the video stream, with its decoder (*codec), and the sound
  // track: video_index_, audio_index_.
  absl::Status ChooseStreams(const AVCodec** codec);
  // Checks the video's frame size and opens its decoder (decoder_).
  absl::Status OpenDecoder(AVStream* video, const AVCodec* codec,
                           const Options& options);
  // The frame size and rate, where the video starts and where it is
  // declared to end (declared_end_, info_.duration_seconds), and which
  // streams are not read.
  void LearnTiming(AVStream* video);
  // The rest of info_ (frame count, codecs, container, rotation, HDR), and
  // an ADTS sound track's configuration.
  void DescribeStreams(AVStream* video);
  absl::Status InputError(int error, const std::string& what);
  // After the last frame: INVALID_ARGUMENT if far fewer frames or seconds
  // came out than the container declared (index_frames_, declared_end_).
  absl::Status CheckComplete() const;
  // AAC in ADTS form has no configuration in the stream header, which MP4
  // and Matroska need up front: reads ahead to the first audio packet and
  // takes it from its ADTS header (the packets read are kept for Next()).
  // Leaves the stream as it is if no usable packet comes soon.
  void LearnAdtsConfig(AVStream* audio);
  // FFmpeg gives a video stream whose first packets carry no decode time
  // (H.264 with B-frames in Matroska, in a clip of a few frames) the
  // container's start and duration, and the start may be the sound's: a
  // 3-frame clip whose sound starts 1 s later was refused as truncated
  // ("-0.857 s could be read"), and its frames would have moved before 0.
  // For a stream whose start and duration are the container's and whose
  // first packet has no decode time, the start becomes the earliest
  // presentation time among its packets up to the first with a decode time
  // (at most 32), read ahead and kept for Next(), and the duration is
  // dropped (the container's end stands for it).
  void TakeStartFromPackets(AVStream* video);
  // Reads one more packet into read_ahead_ (the video's and the sound's;
  // another stream's is noted and dropped). False at the end of the input,
  // on an error (kept in read_ahead_error_ for Next()), or past
  // kAdtsLookAheadPackets or kAdtsLookAheadBytes.
  bool ReadAhead();
  // The i-th packet read ahead (0 is the next Next() meets), reading ahead
  // as far as needed; null where ReadAhead() stops first.
  const AVPacket* PacketAhead(size_t i);
  // A JPEG's EXIF orientation comes out of FFmpeg's decoder as the display
  // matrix of the frame, not of the stream, which is what outputs copy and
  // the probe reports. For a lone MJPEG stream (a photo sent as a movie)
  // without a matrix of its own, decodes the first frame now (kept for
  // Next()) and gives its matrix, if any, to the stream. Errors are left for
  // Next() to meet (deferred_error_ keeps one met sending a packet).
  void TakeFirstFrameOrientation(AVStream* video);
  // Counts a decoded frame and wraps it as an item.
  Item VideoFrameItem(AvFramePtr frame);
  // Sends packet_ (of the video) to the decoder. A packet it refuses is
  // skipped, unless its frame is over max_decode_pixels_ (DecodeLimitError)
  // or memory ran out: those end the reading.
  absl::Status SendVideoPacket();
  // After the decoder failed with `error`: INVALID_ARGUMENT if it was for a
  // frame size over max_decode_pixels_ (or one it could not take), else OK.
  absl::Status FrameSizeRefusal(int error) const;
  // av_read_frame, after the packets read ahead; the video's and audio's
  // packets come out with timestamp_jumps_ followed.
  int ReadPacket(AVPacket* packet);
  void FollowTimestampJumps(AVPacket* packet);
  // A packet of a stream that is neither the video nor the audio: where it
  // ends counts towards the container's declared end.
  void NoteOtherStreamPacket(const AVPacket& packet);

  std::unique_ptr<SpoolIo> io_;
  AvInputPtr format_;
  AvCodecContextPtr decoder_;
  AvPacketPtr packet_;
  std::deque<AvPacketPtr> read_ahead_;
  int64_t read_ahead_bytes_ = 0;  // the sizes of the packets in read_ahead_
  // The duration is FFmpeg's guess from the bit rate (MPEG-TS, MPEG-PS):
  // good for a progress estimate, not for telling a truncated input.
  bool duration_is_estimate_ = false;
  // An error (not the end) met reading ahead, for ReadPacket to return once
  // read_ahead_ is empty; 0 if none.
  int read_ahead_error_ = 0;
  AvFramePtr first_frame_;  // decoded by TakeFirstFrameOrientation
  int video_index_ = -1;
  int audio_index_ = -1;
  bool demux_done_ = false;
  bool decoder_flushed_ = false;
  int64_t frames_decoded_ = 0;
  // Video packets read that the edit list shows (the truncation rule's).
  int64_t video_packets_read_ = 0;
  int64_t packets_skipped_ = 0;
  // Joined recordings' timestamps (set once the streams are found).
  std::unique_ptr<TimestampJumps> timestamp_jumps_;
  // An error TakeFirstFrameOrientation met, for Next() to return first.
  absl::Status deferred_error_;
  int64_t last_end_pts_ = AV_NOPTS_VALUE;  // of the video frames
  double audio_end_ = 0;  // seconds: the end of the last audio packet
  // Seconds: the latest end of a packet of another stream (only read where
  // declared_end_is_container_).
  double other_end_ = 0;
  // What the input declares: the video frames its index lists to be shown
  // (0 if unknown), and where, in seconds on its timestamps' clock, the
  // video ends (when info_.duration_seconds > 0); or, with
  // declared_end_is_container_, where the longest of its streams ends.
  int64_t index_frames_ = 0;
  double declared_end_ = 0;
  bool declared_end_is_container_ = false;
  int64_t max_decode_pixels_ = 0;
  // Each stream's width and height as the container's header gave them,
  // before the probe's decoders (ReadStreamInfo).
  std::vector<std::pair<int, int>> header_sizes_;
  MovieInfo info_;
};

}  // namespace media
}  // namespace stylizer

#endif  // STYLIZER_SERVER_MEDIA_MOVIE_READER_H_
