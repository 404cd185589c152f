// Tests of the hidden-sound rule on hand-made packets.
#include "server/media/hidden_sound.h"

#include <vector>

#include "gtest/gtest.h"

namespace stylizer {
namespace media {
namespace {

// Pushes packets with these pts (negative: hidden, at -pts) and pops after
// each; returns the pts that came out, marked hidden if the flag stayed.
std::vector<int64_t> Filter(const std::vector<int64_t>& pts) {
  HiddenSound filter;
  std::vector<int64_t> out;
  AvPacketPtr packet = MakePacket();
  for (int64_t p : pts) {
    packet->pts = p < 0 ? -p : p;
    packet->flags = p < 0 ? AV_PKT_FLAG_DISCARD : 0;
    filter.Push(packet.get());
    EXPECT_EQ(packet->pts, AV_NOPTS_VALUE);  // taken
    while (filter.Pop(packet.get())) {
      out.push_back((packet->flags & AV_PKT_FLAG_DISCARD) ? -packet->pts
                                                          : packet->pts);
    }
  }
  return out;
}

TEST(HiddenSoundTest, ShownPacketsPassAsTheyAre) {
  EXPECT_EQ(Filter({1, 2, 3}), (std::vector<int64_t>{1, 2, 3}));
}

TEST(HiddenSoundTest, OnlyTheLastHiddenPacketGoesOutAsPreroll) {
  // A trim's second of sound before the cut: 1-3 hidden, 4 shown.
  EXPECT_EQ(Filter({-1, -2, -3, 4, 5}), (std::vector<int64_t>{3, 4, 5}));
  // Hidden sound later on (another edit) is treated alike.
  EXPECT_EQ(Filter({1, -2, -3, 4}), (std::vector<int64_t>{1, 3, 4}));
}

TEST(HiddenSoundTest, HiddenSoundAtTheEndIsLeftOut) {
  EXPECT_EQ(Filter({1, 2, -3, -4}), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(Filter({-1}), (std::vector<int64_t>{}));
}

}  // namespace
}  // namespace media
}  // namespace stylizer
