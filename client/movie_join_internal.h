// The pieces of the stream-copy join (movie_join.cc): the stylized segments
// opened for it (movie_join_parts.cc), their video with its times mended for
// one movie (movie_join_video.cc) and the output it writes
// (movie_join_output.cc). Internal to the client's media library.
#ifndef STYLIZER_CLIENT_MOVIE_JOIN_INTERNAL_H_
#define STYLIZER_CLIENT_MOVIE_JOIN_INTERNAL_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/movie_split.h"
#include "client/output_files.h"
#include "server/media/aac_adts.h"
#include "server/media/av_util.h"

namespace stylizer::client {

// Presentation and decode times of a movie's packets, in decode order.
using PacketTimes = std::vector<std::pair<int64_t, int64_t>>;

// A stylized segment (the server's movie of one Segment), opened for the
// join.
struct StylizedPart {
  media::AvInputPtr input;
  int video = -1;
  // Ticks (in the part's time base) by which the part's muxer delayed it.
  int64_t shift = 0;
  PacketTimes times;  // as read; moved out by JoinedVideo

  AVRational time_base() const { return input->streams[video]->time_base; }
};

// Reads the times of the server's movie `path` of `segment` (a pass of its
// own), then opens it again for the join.
absl::StatusOr<StylizedPart> OpenPart(const Segment& segment,
                                      const std::string& path);

// Stream copy needs every part encoded alike.
absl::Status CheckPartsAlike(const std::vector<StylizedPart>& parts);

// The duration of each of the source's video frames, by presentation time
// (in the stream's time base).
absl::StatusOr<std::unordered_map<int64_t, int64_t>> SourceFrameDurations(
    const std::string& source, int video);

// A muxer writing into an AtomicFile as a stream (no seeking back), like
// the server's outputs.
class StreamedOutput {
 public:
  static absl::StatusOr<std::unique_ptr<StreamedOutput>> Create(
      const std::string& path, bool matroska);

  AVFormatContext* muxer() const { return muxer_.get(); }

  // Writes the trailer and renames the file into place if `s` is OK and all
  // goes well; else removes it. Returns the first error.
  absl::Status Finish(absl::Status s);

 private:
  explicit StreamedOutput(std::unique_ptr<AtomicFile> file)
      : file_(std::move(file)) {}

  static int Write(void* opaque, uint8_t* data, int size);

  std::unique_ptr<AtomicFile> file_;
  absl::Status write_status_;
  media::AvioContextPtr io_;  // freed after the muxer that writes into it
  media::AvOutputPtr muxer_;
};

// Adds the source's sound stream `audio` to `out` as a stream copy; an ADTS
// AAC one gets its configuration, and `*adts` the filter that bares its
// packets.
absl::StatusOr<AVStream*> AddSound(const std::string& source,
                                   const AVFormatContext* src, int video,
                                   int audio, AVFormatContext* out,
                                   std::unique_ptr<media::AdtsToAsc>* adts);

// The parts' video packets in order, in each part's own time base, with
// the times mended for one movie: each part's muxer delay taken out, decode
// times as one encoder would have made them (fragmented MP4), and each
// frame given its source frame's duration.
class JoinedVideo {
 public:
  JoinedVideo(std::vector<StylizedPart> parts, bool matroska,
              std::unordered_map<int64_t, int64_t> source_durations,
              AVRational source_time_base);

  // Moves the next packet into `p`; false after the last.
  absl::StatusOr<bool> Next(AVPacket* p);

  // Whether a packet follows the one Next gave last.
  absl::StatusOr<bool> More();

  // The time base of the packet Next gave last.
  AVRational time_base() const { return time_base_; }

 private:
  // Reads the next packets once none are ahead: one with a decode time, and
  // those without before it. A Matroska reader knows no decode time for the
  // first packets of a movie with B-frames; the muxer needs increasing
  // ones, so they get the ticks just before the first known one (Matroska
  // stores none anyway).
  absl::Status Fill();

  std::vector<StylizedPart> parts_;
  const std::unordered_map<int64_t, int64_t> source_durations_;
  const AVRational source_time_base_;
  std::vector<int64_t> one_encoder_dts_;  // empty: only moved up
  size_t part_ = 0;
  AVRational time_base_ = {1, 1};
  size_t decode_index_ = 0;
  std::deque<media::AvPacketPtr> ahead_;  // read ahead, of parts_[part_]
};

}  // namespace stylizer::client

#endif  // STYLIZER_CLIENT_MOVIE_JOIN_INTERNAL_H_
