// libavformat handles and packet reading and writing shared by the cut
// (movie_split.cc) and the join (movie_join.cc) of `stylizer video --split`.
// Internal to the client's media library.
#ifndef STYLIZER_CLIENT_MOVIE_PACKETS_H_
#define STYLIZER_CLIENT_MOVIE_PACKETS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/media/av_util.h"

extern "C" {
#include <libavutil/log.h>
}

namespace stylizer::client {

// FFmpeg's log kept at `most` or quieter while it lives (the level is
// FFmpeg's, process-wide). By default its warnings go (errors still show),
// where they are about files of the CLI's own making (a cut's segments, a
// join) and not the user's: "Timestamps are unset in a packet ... Fix your
// code" told a user of --verbose to fix code.
class QuietAvLog {
 public:
  explicit QuietAvLog(int most = AV_LOG_ERROR);
  ~QuietAvLog();
  QuietAvLog(const QuietAvLog&) = delete;
  QuietAvLog& operator=(const QuietAvLog&) = delete;

 private:
  int level_;
};

// Opens `path` and reads its stream information; InvalidArgument, naming
// the file, if it is no movie FFmpeg reads.
absl::StatusOr<media::AvInputPtr> OpenInput(const std::string& path);

// The stream the server would stylize (-1 if none).
int BestVideo(AVFormatContext* f);

// The sound the server would copy with that video (-1 if none).
int BestAudio(AVFormatContext* f, int video);

// Sets up `out` as a stream copy of the video `in`: codec parameters, time
// base, frame rates, the sample aspect ratio players see, and the rotation.
absl::Status CopyVideoStreamSetup(const AVStream* in, AVStream* out);

// Writes `p` (in time base `from`) as a packet of `to`.
absl::Status WritePacket(AVFormatContext* out, AVPacket* p, AVRational from,
                         AVStream* to);

// Reads the next packet of stream `index` of `f` into `p`; false at the end.
absl::StatusOr<bool> NextPacket(AVFormatContext* f, int index, AVPacket* p);

// AAC in ADTS form (MPEG-TS, raw .aac) carries its configuration in each
// packet's header; MP4 and Matroska want it once, as the stream's extradata,
// and bare packets. The configuration as the server takes it: from the first
// audio packets. NotFound if none of them reveals it (the server then
// transcodes the sound).
absl::StatusOr<std::string> AdtsConfig(const std::string& source, int video,
                                       int audio);

}  // namespace stylizer::client

#endif  // STYLIZER_CLIENT_MOVIE_PACKETS_H_
