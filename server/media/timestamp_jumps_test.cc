// Joined recordings' timestamps: TimestampJumps on packets made here, and
// MovieReader on two MPEG-TS recordings joined with `cat` (made with the
// ffmpeg tool), whose later part used to be squeezed into a millisecond.
#include "server/media/timestamp_jumps.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/media/movie_reader.h"
#include "server/media/spool.h"
#include "server/media/testing/movie_file_test.h"
#include "server/media/testing/test_movies.h"

extern "C" {
#include <libavutil/rational.h>
}

namespace stylizer {
namespace media {
namespace {

constexpr AVRational kTs = {1, 90000};

struct Times {
  int64_t pts;
  int64_t dts;
};

Times Follow(TimestampJumps& jumps, int stream, int64_t dts,
             int64_t duration = 3600) {
  AvPacketPtr packet = MakePacket();
  packet->pts = dts;
  packet->dts = dts;
  packet->duration = duration;
  jumps.Follow(stream, kTs, packet.get());
  return {packet->pts, packet->dts};
}

// 25 frames a second from 1.4 s, then again from 1.4 s (two recordings):
// the second part follows the first's last frame by one frame.
TEST(TimestampJumpsTest, AJumpBackFollowsOnAndMovesEveryStream) {
  TimestampJumps jumps(2, /*enabled=*/true);
  const int64_t start = 126000;
  for (int i = 0; i < 25; ++i) {
    EXPECT_EQ(Follow(jumps, 0, start + i * 3600).dts, start + i * 3600);
  }
  EXPECT_EQ(Follow(jumps, 1, start + 80000, 1920).dts, start + 80000);
  EXPECT_EQ(Follow(jumps, 0, start).dts, start + 25 * 3600);
  EXPECT_EQ(jumps.jumps(), 1);
  // The sound of the second part is moved by the same offset, without a
  // jump of its own.
  EXPECT_EQ(Follow(jumps, 1, start, 1920).dts, start + 25 * 3600);
  EXPECT_EQ(Follow(jumps, 0, start + 3600).pts, start + 26 * 3600);
  EXPECT_EQ(jumps.jumps(), 1);
}

TEST(TimestampJumpsTest, SmallStepsBackAndLeapsAheadStay) {
  TimestampJumps jumps(1, /*enabled=*/true);
  EXPECT_EQ(Follow(jumps, 0, 90000).dts, 90000);
  // 50 ms back: a glitch the writer nudges, not a new recording.
  EXPECT_EQ(Follow(jumps, 0, 90000 - 4500).dts, 90000 - 4500);
  // 9 s and 20 s ahead: pauses in the recording, kept.
  EXPECT_EQ(Follow(jumps, 0, 90000 + 9 * 90000).dts, 90000 + 9 * 90000);
  EXPECT_EQ(Follow(jumps, 0, 90000 + 29 * 90000).dts, 90000 + 29 * 90000);
  EXPECT_EQ(jumps.jumps(), 0);
}

// The sound of a broadcast drops out for 15 s while its picture goes on.
// Collapsing leaps (as ffmpeg does past 10 s) moved the picture with the
// sound, then the picture jumped back, then the sound leapt again: a jump at
// every packet, and the sound ended up 15 s ahead of its picture.
TEST(TimestampJumpsTest, OneStreamsGapMovesNothing) {
  TimestampJumps jumps(2, /*enabled=*/true);
  int64_t video = 0;
  int64_t sound = 0;
  while (video < 30 * 90000) {
    if (video <= sound) {
      EXPECT_EQ(Follow(jumps, 0, video).dts, video);
      video += 3600;
    } else {
      EXPECT_EQ(Follow(jumps, 1, sound, 1920).dts, sound);
      sound += 1920;
      if (sound > 5 * 90000 && sound < 20 * 90000) sound = 20 * 90000;
    }
  }
  EXPECT_EQ(jumps.jumps(), 0);
}

// Joined captures whose sound goes back 2 s while the picture goes on 1 s
// ahead: one jump; the picture after it leaps 3 s (kept), and nothing jumps
// back again.
TEST(TimestampJumpsTest, AJumpMakesTheOtherStreamsLeapNeverJumpBack) {
  TimestampJumps jumps(2, /*enabled=*/true);
  for (int64_t t = 0; t < 3 * 90000; t += 3600) Follow(jumps, 0, t);
  int64_t sound_end = 0;
  for (; sound_end < 3 * 90000; sound_end += 1920) {
    Follow(jumps, 1, sound_end, 1920);
  }
  EXPECT_EQ(Follow(jumps, 1, 90000, 1920).dts, sound_end);
  const int64_t moved = sound_end - 90000;
  for (int64_t t = 4 * 90000; t < 7 * 90000; t += 3600) {
    EXPECT_EQ(Follow(jumps, 0, t).dts, t + moved);
  }
  EXPECT_EQ(jumps.jumps(), 1);
}

TEST(TimestampJumpsTest, WithoutDurationsTheLastStepIsTheFrame) {
  TimestampJumps jumps(1, /*enabled=*/true);
  Follow(jumps, 0, 90000, 0);
  Follow(jumps, 0, 93000, 0);
  EXPECT_EQ(Follow(jumps, 0, 0, 0).dts, 96000);
}

TEST(TimestampJumpsTest, DisabledOrMissingTimesAreLeftAlone) {
  TimestampJumps off(1, /*enabled=*/false);
  Follow(off, 0, 900000);
  EXPECT_EQ(Follow(off, 0, 0).dts, 0);
  EXPECT_EQ(off.jumps(), 0);
  TimestampJumps on(1, /*enabled=*/true);
  EXPECT_EQ(Follow(on, 5, 0).dts, 0);  // a stream it does not follow
  AvPacketPtr packet = MakePacket();
  on.Follow(0, kTs, packet.get());
  EXPECT_EQ(packet->pts, AV_NOPTS_VALUE);
  EXPECT_EQ(packet->dts, AV_NOPTS_VALUE);
}

// Enabled by the format: MPEG-TS and MPEG-PS may jump, MP4 and Matroska not.
TEST(TimestampJumpsTest, TheFormatSaysWhetherToFollow) {
  for (const char* name : {"mpegts", "mpeg"}) {
    TimestampJumps jumps(1, av_find_input_format(name));
    Follow(jumps, 0, 900000);
    EXPECT_EQ(Follow(jumps, 0, 0).dts, 903600) << name;
  }
  for (const char* name : {"mov", "matroska"}) {
    TimestampJumps jumps(1, av_find_input_format(name));
    Follow(jumps, 0, 900000);
    EXPECT_EQ(Follow(jumps, 0, 0).dts, 0) << name;
  }
  TimestampJumps none(1, static_cast<const AVInputFormat*>(nullptr));
  Follow(none, 0, 900000);
  EXPECT_EQ(Follow(none, 0, 0).dts, 0);
}

class JoinedRecordingTest : public testing::MovieFileTest {};

// Seconds of every video frame and audio packet MovieReader gives.
struct Timeline {
  std::vector<double> frames;
  std::vector<double> sound;
  int64_t jumps = 0;
};

Timeline ReadTimeline(const std::string& bytes) {
  Timeline timeline;
  auto spool = Spool::Create({});
  EXPECT_TRUE(spool.ok());
  if (!spool.ok()) return timeline;
  EXPECT_TRUE((*spool)->Append(bytes).ok());
  (*spool)->Finish();
  auto reader = MovieReader::Open(spool->get(), {});
  EXPECT_TRUE(reader.ok()) << reader.status();
  if (!reader.ok()) return timeline;
  const AVStream* video = (*reader)->video_stream();
  const AVStream* audio = (*reader)->audio_stream();
  while (true) {
    auto item = (*reader)->Next();
    EXPECT_TRUE(item.ok()) << item.status();
    if (!item.ok() || item->kind == MovieReader::Item::Kind::kEnd) break;
    if (item->kind == MovieReader::Item::Kind::kVideoFrame) {
      timeline.frames.push_back(item->frame->pts * av_q2d(video->time_base));
    } else {
      timeline.sound.push_back(item->packet->pts * av_q2d(audio->time_base));
    }
  }
  timeline.jumps = (*reader)->timestamp_jumps();
  return timeline;
}

TEST_F(JoinedRecordingTest, TheSecondRecordingFollowsTheFirst) {
  ASSERT_NO_FATAL_FAILURE(
      Make("part.ts",
           "-f lavfi -i testsrc=s=64x48:r=25:d=1 -f lavfi -i "
           "sine=f=440:r=48000:d=1 -c:v libx264 -preset ultrafast "
           "-pix_fmt yuv420p -c:a aac -shortest"));
  const std::string part = Bytes("part.ts");
  const Timeline one = ReadTimeline(part);
  ASSERT_EQ(one.frames.size(), 25u);
  EXPECT_EQ(one.jumps, 0);

  const Timeline two = ReadTimeline(part + part);
  ASSERT_EQ(two.frames.size(), 50u);
  EXPECT_EQ(two.jumps, 1);
  for (size_t i = 1; i < two.frames.size(); ++i) {
    EXPECT_NEAR(two.frames[i] - two.frames[i - 1], 0.04, 0.002) << i;
  }
  ASSERT_FALSE(two.sound.empty());
  // The first part's sound may outlast its picture by a packet (AAC's
  // priming): that much overlap, which the writer leaves out, and no more.
  int overlaps = 0;
  for (size_t i = 1; i < two.sound.size(); ++i) {
    EXPECT_GT(two.sound[i], two.sound[i - 1] - 0.025) << i;
    if (two.sound[i] <= two.sound[i - 1]) ++overlaps;
  }
  EXPECT_LE(overlaps, 1);
  // Picture and sound of the second part start together, 1 s later.
  const double second_picture = two.frames[25];
  const auto second_sound =
      std::find_if(two.sound.begin(), two.sound.end(),
                   [&](double t) { return t >= second_picture - 0.05; });
  ASSERT_NE(second_sound, two.sound.end());
  EXPECT_NEAR(second_picture - two.frames[0], 1.0, 0.002);
  EXPECT_NEAR(*second_sound, second_picture, 0.05);
}

// An MPEG-TS whose picture leaps 15 s ahead: the leap is kept (the
// movie's duration, read from its first and last times, counts it), and the
// movie is read whole.
TEST_F(JoinedRecordingTest, ALeapAheadIsKept) {
  ASSERT_NO_FATAL_FAILURE(
      Make("leap.ts",
           "-f lavfi -i testsrc=s=64x48:r=10:d=2 "
           "-vf \"setpts='if(lt(N,10),N*0.1,15+N*0.1)/TB'\" "
           "-fps_mode passthrough -c:v libx264 -preset ultrafast "
           "-pix_fmt yuv420p"));
  const Timeline timeline = ReadTimeline(Bytes("leap.ts"));
  EXPECT_EQ(timeline.jumps, 0);
  ASSERT_EQ(timeline.frames.size(), 20u);
  EXPECT_GT(timeline.frames[19] - timeline.frames[0], 15.0);
}

// Matroska's timestamps do not jump by design: a jump there is left to the
// writer (nudged), not taken as a new recording.
TEST_F(JoinedRecordingTest, OtherFormatsAreLeftAsTheyAre) {
  ASSERT_NO_FATAL_FAILURE(
      Make("steps.mkv",
           "-f lavfi -i testsrc=s=64x48:r=10:d=1 "
           "-vf \"setpts='if(lt(N,5),N*0.1,(N-5)*0.1)/TB'\" "
           "-fps_mode passthrough -c:v libx264 -preset ultrafast "
           "-pix_fmt yuv420p"));
  const Timeline timeline = ReadTimeline(Bytes("steps.mkv"));
  EXPECT_EQ(timeline.jumps, 0);
}

}  // namespace
}  // namespace media
}  // namespace stylizer
