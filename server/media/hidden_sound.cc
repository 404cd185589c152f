// Copied sound an edit list hides; see hidden_sound.h.
#include "server/media/hidden_sound.h"

#include <utility>

namespace stylizer {
namespace media {

void HiddenSound::Push(AVPacket* packet) {
  AvPacketPtr taken = MakePacket();
  av_packet_move_ref(taken.get(), packet);
  if (taken->flags & AV_PKT_FLAG_DISCARD) {
    held_ = std::move(taken);
    return;
  }
  if (held_ != nullptr) {
    held_->flags &= ~AV_PKT_FLAG_DISCARD;
    ready_.push_back(std::move(held_));
  }
  ready_.push_back(std::move(taken));
}

bool HiddenSound::Pop(AVPacket* out) {
  if (ready_.empty()) return false;
  av_packet_unref(out);
  av_packet_move_ref(out, ready_.front().get());
  ready_.pop_front();
  return true;
}

}  // namespace media
}  // namespace stylizer
