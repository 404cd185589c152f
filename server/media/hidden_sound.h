// HiddenSound: the rule for copied sound that an input's edit list hides
// (packets flagged AV_PKT_FLAG_DISCARD: a lossless trim keeps up to a GOP
// of sound from before its start). Such packets are left out, all but the
// last one before a shown packet, which goes out just ahead of it as the
// decoder's preroll, as AAC's priming packet does. Copied in full, a
// trim's outputs opened with a second of sound from before the cut. Used by
// the server's movie writer and the CLI's --split join, so that both copy
// the same packets.
#ifndef STYLIZER_SERVER_MEDIA_HIDDEN_SOUND_H_
#define STYLIZER_SERVER_MEDIA_HIDDEN_SOUND_H_

#include <deque>

#include "server/media/av_util.h"

extern "C" {
#include <libavcodec/packet.h>
}

namespace stylizer {
namespace media {

class HiddenSound {
 public:
  // Takes `packet`'s contents (it is left blank). A hidden packet is held
  // back, replacing the one held before; a shown one becomes ready, after
  // the held one (its flag cleared).
  void Push(AVPacket* packet);
  // Moves the next ready packet into `out`; false when none is ready.
  bool Pop(AVPacket* out);

 private:
  AvPacketPtr held_;
  std::deque<AvPacketPtr> ready_;
};

}  // namespace media
}  // namespace stylizer

#endif  // STYLIZER_SERVER_MEDIA_HIDDEN_SOUND_H_
