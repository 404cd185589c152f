// Recordings joined as bytes (MPEG-TS segments put together with `cat`, a
// capture whose clock was reset) start their timestamps again part way
// through. Taken as they are, the later part's frames were squeezed one tick
// apart after the earlier part's last one: a job ended OK with its second
// recording gone from playback, and its sound dropped. As ffmpeg does for
// the formats whose timestamps may jump (AVFMT_TS_DISCONT: MPEG-TS, MPEG-PS,
// live FLV, ...), a jump of a stream's decode time back by more than 0.1 s
// moves every stream's later packets by one shared offset, so that the
// jump's packet follows on where the stream's previous one ended. One offset
// keeps picture and sound together: packets of joined files come in byte
// order, every packet of the earlier part before any of the later one.
//
// Leaps ahead are kept, unlike ffmpeg's (past 10 s): one stream's leap may
// be its own gap (a broadcast's sound dropping out for a while), and moving
// the others with it made each stream leap or jump back in turn at every
// packet, the sound ending up 15 s away from its picture. The offset only
// grows, so a jump makes the other streams leap ahead (kept), never back.
#ifndef STYLIZER_SERVER_MEDIA_TIMESTAMP_JUMPS_H_
#define STYLIZER_SERVER_MEDIA_TIMESTAMP_JUMPS_H_

#include <cstdint>
#include <vector>

extern "C" {
#include <libavcodec/packet.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libavutil/rational.h>
}

namespace stylizer {
namespace media {

class TimestampJumps {
 public:
  // streams: how many streams Follow may be called for (index 0..n-1).
  // enabled: false leaves every packet as it is (formats whose timestamps
  // do not jump: there a jump is damage, repaired where it is written).
  TimestampJumps(int streams, bool enabled);
  // Enabled for the formats whose timestamps may jump (AVFMT_TS_DISCONT).
  TimestampJumps(int streams, const AVInputFormat* format);

  // Moves `packet` (of `stream`, times in `time_base`) by the offset so far,
  // first changing the offset if the packet's decode time jumps. Packets in
  // the order they were read.
  void Follow(int stream, AVRational time_base, AVPacket* packet);

  // Jumps met so far.
  int64_t jumps() const { return jumps_; }

 private:
  struct Clock {
    int64_t last_dts = AV_NOPTS_VALUE;  // microseconds, after the offset
    int64_t step = 0;  // microseconds: the last packet's duration or step
  };

  bool enabled_;
  std::vector<Clock> clocks_;
  int64_t offset_ = 0;  // microseconds, added to every packet
  int64_t jumps_ = 0;
};

}  // namespace media
}  // namespace stylizer

#endif  // STYLIZER_SERVER_MEDIA_TIMESTAMP_JUMPS_H_
