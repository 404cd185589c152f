// Tests of keyframe cuts and joins on movies made with the ffmpeg CLI: a
// movie cut into segments and joined again (no server in between) has the
// source's frames and sound at the source's times.
#include "client/movie_split.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

extern "C" {
#include <libavformat/avformat.h>
}

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace stylizer::client {
namespace {

namespace fs = std::filesystem;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

TEST(ChooseCutsTest, EvenSharesAtKeyframes) {
  std::vector<double> keys;
  for (int i = 0; i < 15; ++i) keys.push_back(2.0 * i);  // 0, 2, ..., 28
  EXPECT_THAT(ChooseCuts(keys, 30, 3, 10), ElementsAre(10, 20));
  EXPECT_THAT(ChooseCuts(keys, 30, 2, 0), ElementsAre(14));  // nearest to 15
  // Three segments of >= 10 s do not fit in 25 s: two do.
  EXPECT_THAT(ChooseCuts(keys, 25, 3, 10), ElementsAre(12));
  EXPECT_THAT(ChooseCuts(keys, 19, 4, 10), IsEmpty());
  EXPECT_THAT(ChooseCuts(keys, 30, 1, 0), IsEmpty());
}

// A span of more seconds than an int holds (a timestamp jump in the file)
// still gets its cut: the segment count went through an int, out of range.
TEST(ChooseCutsTest, AHugeSpanIsCutAsAnyOther) {
  const std::vector<double> cuts = ChooseCuts({0, 5e10}, 1e11, 2, 10);
  ASSERT_EQ(cuts.size(), 1u);
  EXPECT_EQ(cuts[0], 5e10);
}

TEST(ChooseCutsTest, FewKeyframesGiveFewerSegments) {
  EXPECT_THAT(ChooseCuts({0}, 60, 4, 0), IsEmpty());
  EXPECT_THAT(ChooseCuts({0, 2, 4}, 6, 5, 0), ElementsAre(2, 4));
  // A keyframe is never used twice, and a segment is never empty.
  EXPECT_THAT(ChooseCuts({0, 29}, 30, 3, 0), ElementsAre(29));
}

// Presentation times (seconds, sorted) of the packets of the best stream of
// `type` in `path`.
std::vector<double> PacketTimes(const std::string& path, AVMediaType type) {
  std::vector<double> times;
  AVFormatContext* f = nullptr;
  if (avformat_open_input(&f, path.c_str(), nullptr, nullptr) < 0) return times;
  avformat_find_stream_info(f, nullptr);
  const int index = av_find_best_stream(f, type, -1, -1, nullptr, 0);
  AVPacket* p = av_packet_alloc();
  while (index >= 0 && av_read_frame(f, p) >= 0) {
    if (p->stream_index == index) {
      times.push_back(p->pts * av_q2d(f->streams[index]->time_base));
    }
    av_packet_unref(p);
  }
  av_packet_free(&p);
  avformat_close_input(&f);
  std::sort(times.begin(), times.end());
  return times;
}

void ExpectSameTimes(const std::vector<double>& got,
                     const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i], want[i], 1e-6) << "packet " << i;
  }
}

class MovieSplitTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() /
                        absl::StrCat("movie_split_test.", getpid()));
    fs::create_directories(*dir_);
    // 6 s at 10 fps with every 7th frame dropped (variable frame rate), a
    // keyframe every second, B-frames, and AAC sound.
    const std::string cmd = absl::StrCat(
        "ffmpeg -nostdin -loglevel error -y -f lavfi -i "
        "testsrc2=s=96x64:r=10:d=6 "
        "-f lavfi -i sine=f=440:d=6 -vf \"select='not(eq(mod(n\\,7)\\,3))'\" "
        "-fps_mode vfr -c:v libx264 -g 10 -bf 2 -pix_fmt yuv420p -c:a aac "
        "-shortest ",
        Path("vfr.mp4"));
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  static std::string Path(const std::string& name) {
    return (*dir_ / name).string();
  }
  static fs::path* dir_;
};
fs::path* MovieSplitTest::dir_ = nullptr;

TEST_F(MovieSplitTest, ProbeListsKeyframes) {
  auto probe = ProbeForSplit(Path("vfr.mp4"));
  ASSERT_TRUE(probe.ok()) << probe.status();
  EXPECT_EQ(probe->unsplittable, "");
  EXPECT_TRUE(probe->has_audio);
  EXPECT_EQ(probe->audio_not_copyable_mp4, "");
  EXPECT_GE(probe->keyframes.size(), 5u);
  EXPECT_NEAR(probe->duration_seconds, 6, 0.2);
}

// MP3 under 16 kHz: the server's MP4 muxer refuses to copy it (and the
// server re-encodes it), so a split into MP4, which copies the sound from the
// source when joining, is not planned; Matroska takes it.
TEST_F(MovieSplitTest, ProbeKnowsTheMuxerRefusesLowRateMp3InMp4) {
  const std::string cmd = absl::StrCat(
      "ffmpeg -nostdin -loglevel error -y -f lavfi -i testsrc2=s=96x64:r=10:d=2 "
      "-f lavfi -i sine=f=440:d=2:sample_rate=8000 -c:v libx264 -g 10 "
      "-pix_fmt yuv420p -c:a libmp3lame -shortest ",
      Path("mp3_8khz.mov"));
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto probe = ProbeForSplit(Path("mp3_8khz.mov"));
  ASSERT_TRUE(probe.ok()) << probe.status();
  EXPECT_TRUE(probe->has_audio);
  EXPECT_THAT(probe->audio_not_copyable_mp4,
              ::testing::HasSubstr("would be transcoded"));
  EXPECT_EQ(probe->audio_not_copyable_mkv, "");
}

// x264's open GOPs with a fixed B-frame pattern and a keyframe every 8
// frames: each keyframe after the first is shown after a frame that follows
// it in decode order and refers to the GOP before, except one forced IDR
// frame at 3 s. Cutting at an open keyframe loses such frames (the server
// cannot decode them); only the IDR frame is a cut.
TEST_F(MovieSplitTest, ProbeLeavesOutKeyframesThatOpenTheirGop) {
  const std::string cmd = absl::StrCat(
      "ffmpeg -nostdin -loglevel error -y -f lavfi -i "
      "testsrc2=s=96x64:r=10:d=6 -c:v libx264 -x264-params "
      "open-gop=1:keyint=8:min-keyint=8:bframes=2:b-adapt=0:scenecut=0 "
      "-force_key_frames \"expr:eq(n,30)\" -forced-idr 1 -pix_fmt yuv420p ",
      Path("open_gop.mp4"));
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto probe = ProbeForSplit(Path("open_gop.mp4"));
  ASSERT_TRUE(probe.ok()) << probe.status();
  ASSERT_EQ(probe->keyframes.size(), 2u);
  EXPECT_NEAR(probe->keyframes[0], 0, 1e-6);
  EXPECT_NEAR(probe->keyframes[1], 3, 1e-6);
  EXPECT_EQ(probe->open_keyframes, 6);
  EXPECT_EQ(ChooseCuts(probe->keyframes, probe->duration_seconds, 3, 0),
            std::vector<double>{3.0});
}

// AVI stores decode times only: with B-frames, many packets have no
// presentation time, and cuts lost frames (4 of 600 came back short). Such a
// movie is not split; an AVI without B-frames has every time and is.
TEST_F(MovieSplitTest, ProbeRefusesPacketsWithoutPresentationTimes) {
  for (const bool b_frames : {true, false}) {
    SCOPED_TRACE(b_frames ? "with B-frames" : "without B-frames");
    const std::string path = Path(b_frames ? "bframes.avi" : "plain.avi");
    const std::string cmd = absl::StrCat(
        "ffmpeg -nostdin -loglevel error -y -f lavfi -i "
        "testsrc2=s=96x64:r=10:d=6 -c:v mpeg4 -g 10 -bf ",
        b_frames ? 2 : 0, " ", path);
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    auto probe = ProbeForSplit(path);
    ASSERT_TRUE(probe.ok()) << probe.status();
    if (b_frames) {
      EXPECT_THAT(probe->unsplittable,
                  ::testing::HasSubstr("video packets carry no presentation "
                                       "time (avi)"));
    } else {
      EXPECT_EQ(probe->unsplittable, "");
      EXPECT_EQ(probe->keyframes.size(), 6u);
    }
  }
}

// ffmpeg's MP4 of a movie whose frame rate drops from 30 to 10 fps ends its
// edit list before its last frame. The server honours the edit list (it
// shows one frame fewer); a segment would show that frame, so a split gave
// one frame more than the unsplit job. Such a movie is not split.
TEST_F(MovieSplitTest, ProbeRefusesAnEditListThatHidesTheLastFrame) {
  const std::string path = Path("hidden_end.mp4");
  const std::string cmd = absl::StrCat(
      "ffmpeg -nostdin -loglevel error -y -f lavfi -i "
      "testsrc2=s=96x64:r=30:d=3 -f lavfi -i testsrc2=s=96x64:r=10:d=3 "
      "-filter_complex \"[0][1]concat=n=2:v=1:a=0\" -fps_mode vfr "
      "-c:v libx264 -g 30 -pix_fmt yuv420p ",
      path);
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto probe = ProbeForSplit(path);
  ASSERT_TRUE(probe.ok()) << probe.status();
  EXPECT_EQ(probe->unsplittable,
            "its edit list hides its last frame, which a segment would show");
  // An edit list that hides frames at the start (a lossless trim) is kept
  // by the first segment: such a movie is split.
  const std::string trimmed = Path("trimmed.mp4");
  const std::string trim = absl::StrCat(
      "ffmpeg -nostdin -loglevel error -y -ss 0.5 -i ", Path("vfr.mp4"),
      " -c copy ", trimmed);
  ASSERT_EQ(std::system(trim.c_str()), 0) << trim;
  probe = ProbeForSplit(trimmed);
  ASSERT_TRUE(probe.ok()) << probe.status();
  EXPECT_EQ(probe->unsplittable, "");
}

// A movie cut off part way (a download that stopped) still opens: its
// index, or its header, says how long it was. Its segments, each a complete
// movie, would hide the cut from the server, which refuses the movie sent
// whole: a split job came out 57 % long and OK. It is sent whole.
TEST_F(MovieSplitTest, ProbeSendsACutOffMovieWhole) {
  const std::string fast = Path("fast.mp4");
  const std::string mkv = Path("whole.mkv");
  for (const std::string& cmd :
       {absl::StrCat("ffmpeg -nostdin -loglevel error -y -i ", Path("vfr.mp4"),
                     " -c copy -movflags +faststart ", fast),
        absl::StrCat("ffmpeg -nostdin -loglevel error -y -i ", Path("vfr.mp4"),
                     " -c copy ", mkv)}) {
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  for (const std::string& whole : {fast, mkv}) {
    auto probe = ProbeForSplit(whole);
    ASSERT_TRUE(probe.ok()) << probe.status();
    EXPECT_EQ(probe->unsplittable, "") << whole;
    // Its first 60 %.
    const std::string cut =
        whole + ".cut" + fs::path(whole).extension().string();
    fs::copy_file(whole, cut, fs::copy_options::overwrite_existing);
    fs::resize_file(cut, fs::file_size(whole) * 6 / 10);
    probe = ProbeForSplit(cut);
    ASSERT_TRUE(probe.ok()) << probe.status();
    EXPECT_THAT(probe->unsplittable, HasSubstr("it looks cut off: "));
    EXPECT_THAT(probe->unsplittable,
                HasSubstr("; sent whole, the server judges it"));
  }
  // The MP4's index counts its frames; the Matroska's header has only a
  // duration.
  auto probe = ProbeForSplit(fast + ".cut.mp4");
  ASSERT_TRUE(probe.ok()) << probe.status();
  EXPECT_THAT(probe->unsplittable,
              HasSubstr("its index lists 51 video frames"));
  probe = ProbeForSplit(mkv + ".cut.mkv");
  ASSERT_TRUE(probe.ok()) << probe.status();
  EXPECT_THAT(probe->unsplittable, HasSubstr("it declares 5.9"));
}

// An MP4 cut out of a longer one keeping its times (ffmpeg -ss 2 -copyts)
// starts at 2 s behind an empty edit, and its movie header's duration
// counts from 0: the probe counted the start twice and called the whole
// movie cut off ("it declares 5 s, but its streams reach only 3 s").
TEST_F(MovieSplitTest, AnMp4ThatStartsLateIsNotCutOff) {
  const std::string source = Path("five.mp4");
  const std::string late = Path("late.mp4");
  for (const std::string& cmd :
       {absl::StrCat("ffmpeg -nostdin -loglevel error -y -f lavfi -i "
                     "testsrc2=s=96x64:r=10:d=5 -c:v libx264 -g 5 "
                     "-pix_fmt yuv420p ",
                     source),
        absl::StrCat("ffmpeg -nostdin -loglevel error -y -ss 2 -i ", source,
                     " -copyts -c copy ", late)}) {
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  auto probe = ProbeForSplit(late);
  ASSERT_TRUE(probe.ok()) << probe.status();
  EXPECT_EQ(probe->unsplittable, "");
  EXPECT_GT(probe->keyframes.size(), 2u);
}

// An MPEG-TS whose 33-bit clock wraps 2.5 s in (a long capture): FFmpeg
// gives the frames before the wrap negative times. Split, the first
// segment kept 4 of its 30 frames, and the job ended OK.
TEST_F(MovieSplitTest, ProbeRefusesTimestampsThatWrap) {
  const std::string wrap = Path("wrap.ts");
  const std::string cmd = absl::StrCat(
      "ffmpeg -nostdin -loglevel error -y -f lavfi -i "
      "testsrc2=s=96x64:r=10:d=6 -c:v libx264 -g 10 -bf 0 -pix_fmt yuv420p "
      "-output_ts_offset 95439.8 -f mpegts ",
      wrap);
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto probe = ProbeForSplit(wrap);
  ASSERT_TRUE(probe.ok()) << probe.status();
  EXPECT_EQ(probe->unsplittable,
            "its times start before 0, where FFmpeg puts those near a wrap "
            "of the 33-bit clock of mpegts (every 26.5 hours), which "
            "segments cannot keep");
}

// Two recordings joined byte for byte (`cat a.ts a.ts`): the timestamps
// start again halfway. Segments could not be written ("writing a movie:
// Invalid argument", and the command failed); such a movie is not split.
TEST_F(MovieSplitTest, ProbeRefusesTimestampsThatGoBack) {
  const std::string ts = Path("once.ts");
  const std::string cmd = absl::StrCat(
      "ffmpeg -nostdin -loglevel error -y -f lavfi -i "
      "testsrc2=s=96x64:r=10:d=2 -c:v libx264 -g 10 -pix_fmt yuv420p "
      "-f mpegts ",
      ts);
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const std::string twice = Path("twice.ts");
  ASSERT_EQ(
      std::system(absl::StrCat("cat ", ts, " ", ts, " > ", twice).c_str()), 0);
  auto probe = ProbeForSplit(twice);
  ASSERT_TRUE(probe.ok()) << probe.status();
  EXPECT_EQ(probe->unsplittable,
            "its video's timestamps go back 1 time (joined recordings?), "
            "which no segment can keep");
  probe = ProbeForSplit(ts);
  ASSERT_TRUE(probe.ok()) << probe.status();
  EXPECT_EQ(probe->unsplittable, "");
}

// Two captures joined byte for byte, the second one's picture going on
// forward but its sound going back 2 s: the server moves what follows the
// sound's jump, picture too (media::TimestampJumps), so segments cut after
// it would come back at other times than the whole movie's.
TEST_F(MovieSplitTest, ProbeRefusesTimestampsTheServerMoves) {
  std::string joined;
  for (const char* at : {"-itsoffset 0 -f lavfi -i testsrc2=s=96x64:r=10:d=3 "
                         "-itsoffset 0 -f lavfi -i sine=f=440:d=3",
                         "-itsoffset 4 -f lavfi -i testsrc2=s=96x64:r=10:d=3 "
                         "-itsoffset 1 -f lavfi -i sine=f=440:d=3"}) {
    const std::string part = Path(absl::StrCat("part", joined.size(), ".ts"));
    const std::string cmd = absl::StrCat(
        "ffmpeg -nostdin -loglevel error -y ", at,
        " -c:v libx264 -g 10 -pix_fmt yuv420p -c:a aac -f mpegts ", part);
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    auto probe = ProbeForSplit(part);
    ASSERT_TRUE(probe.ok()) << probe.status();
    EXPECT_EQ(probe->unsplittable, "") << part;
    joined += absl::StrCat(" ", part);
  }
  const std::string path = Path("sound_back.ts");
  ASSERT_EQ(std::system(absl::StrCat("cat", joined, " > ", path).c_str()), 0);
  auto probe = ProbeForSplit(path);
  ASSERT_TRUE(probe.ok()) << probe.status();
  EXPECT_EQ(probe->unsplittable,
            "its timestamps jump 1 time (joined recordings?), and the server "
            "moves what follows a jump, which a segment cut after it could "
            "not be");
}

TEST_F(MovieSplitTest, CutAndJoinedAgainIsTheSource) {
  const std::string source = Path("vfr.mp4");
  auto probe = ProbeForSplit(source);
  ASSERT_TRUE(probe.ok()) << probe.status();
  const auto cuts = ChooseCuts(probe->keyframes, probe->duration_seconds, 3, 0);
  ASSERT_EQ(cuts.size(), 2u);
  const std::string dir = Path("segments");
  fs::create_directories(dir);
  auto segments = WriteSegments(source, cuts, dir);
  ASSERT_TRUE(segments.ok()) << segments.status();
  ASSERT_EQ(segments->size(), 3u);
  const auto want_video = PacketTimes(source, AVMEDIA_TYPE_VIDEO);
  size_t total = 0;
  std::vector<std::string> paths;
  for (size_t i = 0; i < segments->size(); ++i) {
    const std::string& path = (*segments)[i].path;
    paths.push_back(path);
    const auto times = PacketTimes(path, AVMEDIA_TYPE_VIDEO);
    ASSERT_FALSE(times.empty());
    // Segments keep the source's times: segment i starts at its cut.
    if (i > 0) {
      EXPECT_NEAR(times.front(), cuts[i - 1], 1e-6);
    }
    EXPECT_TRUE(PacketTimes(path, AVMEDIA_TYPE_AUDIO).empty());
    total += times.size();
  }
  EXPECT_EQ(total, want_video.size());

  // The unsplit movie through the same muxer is the reference (a fragmented
  // MP4 delays a movie with B-frames as a whole; the join must do the same).
  const std::string whole_dir = Path("whole");
  fs::create_directories(whole_dir);
  auto whole = WriteSegments(source, {}, whole_dir);
  ASSERT_TRUE(whole.ok()) << whole.status();
  ASSERT_EQ(whole->size(), 1u);
  for (bool matroska : {false, true}) {
    const std::string ext = matroska ? ".mkv" : ".mp4";
    const std::string ref = Path("reference" + ext);
    ASSERT_TRUE(
        JoinSegments(*whole, {(*whole)[0].path}, source, true, matroska, ref)
            .ok());
    ASSERT_EQ(PacketTimes(ref, AVMEDIA_TYPE_VIDEO).size(), want_video.size());
    // Stand-ins for the server's outputs: each segment alone through the
    // output muxer (a fragmented MP4 delays only the first one).
    std::vector<std::string> stylized;
    for (size_t i = 0; i < segments->size(); ++i) {
      stylized.push_back(Path(absl::StrCat("stylized-", i, ext)));
      ASSERT_TRUE(JoinSegments({(*segments)[i]}, {paths[i]}, source, false,
                               matroska, stylized.back())
                      .ok());
    }
    const std::string out = Path("joined" + ext);
    absl::Status s =
        JoinSegments(*segments, stylized, source, true, matroska, out);
    ASSERT_TRUE(s.ok()) << s << " matroska=" << matroska;
    ExpectSameTimes(PacketTimes(out, AVMEDIA_TYPE_VIDEO),
                    PacketTimes(ref, AVMEDIA_TYPE_VIDEO));
    ExpectSameTimes(PacketTimes(out, AVMEDIA_TYPE_AUDIO),
                    PacketTimes(ref, AVMEDIA_TYPE_AUDIO));
  }
  const std::string silent = Path("silent.mp4");
  ASSERT_TRUE(
      JoinSegments(*segments, paths, source, false, false, silent).ok());
  EXPECT_TRUE(PacketTimes(silent, AVMEDIA_TYPE_AUDIO).empty());
}

// MPEG-TS carries AAC in ADTS form, which MP4 and Matroska take only
// converted (configuration in the header, bare packets), as the server's
// outputs have it. The join copied the packets as they were, and every
// --split of such a movie failed at the end ("writing a movie: Operation not
// permitted").
// The sound a lossless trim's edit list hides is left out of the join, as
// the server leaves it out of an unsplit job's outputs (but for one packet
// of preroll): it opened the joined movie with a second of sound from before
// the trim.
TEST_F(MovieSplitTest, SoundATrimHidesStaysHiddenInTheJoin) {
  const std::string source = Path("trimmed.mp4");
  const std::string cmd =
      absl::StrCat("ffmpeg -nostdin -loglevel error -y -ss 1.5 -i ",
                   Path("vfr.mp4"), " -t 3 -c copy ", source);
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const std::string dir = Path("trimmed-whole");
  fs::create_directories(dir);
  auto whole = WriteSegments(source, {}, dir);
  ASSERT_TRUE(whole.ok()) << whole.status();
  for (bool matroska : {false, true}) {
    SCOPED_TRACE(matroska ? "matroska" : "mp4");
    const std::string out =
        Path(matroska ? "trimmed-joined.mkv" : "trimmed-joined.mp4");
    ASSERT_TRUE(
        JoinSegments(*whole, {(*whole)[0].path}, source, true, matroska, out)
            .ok());
    const auto video = PacketTimes(out, AVMEDIA_TYPE_VIDEO);
    const auto audio = PacketTimes(out, AVMEDIA_TYPE_AUDIO);
    ASSERT_FALSE(video.empty());
    ASSERT_FALSE(audio.empty());
    // One AAC packet (23 ms at 44.1 kHz) of preroll at most.
    EXPECT_GT(audio.front() - video.front(), -0.05);
    EXPECT_LE(audio.front() - video.front(), 0.002);
  }
}

TEST_F(MovieSplitTest, TsWithAdtsSoundJoins) {
  const std::string source = Path("adts.ts");
  const std::string cmd = absl::StrCat(
      "ffmpeg -nostdin -loglevel error -y -f lavfi -i "
      "testsrc2=s=96x64:r=10:d=6 -f lavfi -i sine=f=440:d=6 -c:v libx264 "
      "-g 10 -bf 2 -pix_fmt yuv420p -c:a aac -f mpegts ",
      source);
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto probe = ProbeForSplit(source);
  ASSERT_TRUE(probe.ok()) << probe.status();
  EXPECT_EQ(probe->audio_not_copyable_mp4, "");
  EXPECT_EQ(probe->audio_not_copyable_mkv, "");
  const auto cuts = ChooseCuts(probe->keyframes, probe->duration_seconds, 2, 0);
  ASSERT_EQ(cuts.size(), 1u);
  const std::string dir = Path("adts-segments");
  fs::create_directories(dir);
  auto segments = WriteSegments(source, cuts, dir);
  ASSERT_TRUE(segments.ok()) << segments.status();
  std::vector<std::string> paths;
  for (const Segment& seg : *segments) paths.push_back(seg.path);
  const auto want_audio = PacketTimes(source, AVMEDIA_TYPE_AUDIO);
  ASSERT_FALSE(want_audio.empty());
  // An MPEG-TS starts at 1.4 s or so: the joined movie, like an unsplit
  // job's output, is moved back to start at 0.
  const double start =
      std::min(PacketTimes(source, AVMEDIA_TYPE_VIDEO).front(), want_audio[0]);
  ASSERT_GT(start, 1);
  for (bool matroska : {false, true}) {
    const std::string out = Path(matroska ? "adts.mkv" : "adts.mp4");
    absl::Status s = JoinSegments(*segments, paths, source, true, matroska, out);
    ASSERT_TRUE(s.ok()) << s << " matroska=" << matroska;
    const auto got_audio = PacketTimes(out, AVMEDIA_TYPE_AUDIO);
    ASSERT_EQ(got_audio.size(), want_audio.size());
    // The joined file keeps the source's times, less its start; Matroska
    // rounds to 1 ms.
    for (size_t i = 0; i < got_audio.size(); ++i) {
      EXPECT_NEAR(got_audio[i], want_audio[i] - start, 1e-3) << "packet " << i;
    }
    // ffmpeg decodes the sound: it is AAC with its configuration.
    const std::string check = absl::StrCat(
        "ffmpeg -nostdin -loglevel error -xerror -i ", out,
        " -map 0:a -f null -");
    EXPECT_EQ(std::system(check.c_str()), 0) << check;
  }
}

// Two recordings joined byte for byte whose sound restarts earlier than the
// picture (`cat a.ts b.ts`, b's sound a second ahead of its picture). The
// video goes forward, so the movie is split, but the join failed at the
// first sound packet that went back ("writing a movie: Invalid argument")
// after every segment had been stylized. Such packets are left out, as the
// server leaves them out of an unsplit job's outputs. The sound goes back by
// less than the 0.1 s the server takes for a jump of joined recordings
// (media::TimestampJumps): a movie whose sound goes back further is not
// split (ProbeRefusesTimestampsTheServerMoves).
TEST_F(MovieSplitTest, SoundThatGoesBackIsLeftOut) {
  const std::string first = Path("first.ts"), second = Path("second.ts");
  const std::string make = absl::StrCat(
      "ffmpeg -nostdin -loglevel error -y -f lavfi -i "
      "testsrc2=s=96x64:r=10:d=2 -f lavfi -i sine=f=440:d=2 -c:v libx264 "
      "-g 10 -pix_fmt yuv420p -c:a aac -f mpegts ",
      first,
      " && ffmpeg -nostdin -loglevel error -y -itsoffset 3 -f lavfi -i "
      "testsrc2=s=96x64:r=10:d=2 -itsoffset 2.15 -f lavfi -i sine=f=440:d=2 "
      "-c:v libx264 -g 10 -pix_fmt yuv420p -c:a aac -f mpegts ",
      second);
  ASSERT_EQ(std::system(make.c_str()), 0) << make;
  const std::string source = Path("sound-goes-back.ts");
  ASSERT_EQ(
      std::system(
          absl::StrCat("cat ", first, " ", second, " > ", source).c_str()),
      0);
  // The sound packets a muxer takes: those whose decode time goes forward.
  std::vector<double> kept;
  {
    AVFormatContext* f = nullptr;
    ASSERT_GE(avformat_open_input(&f, source.c_str(), nullptr, nullptr), 0);
    avformat_find_stream_info(f, nullptr);
    const int a =
        av_find_best_stream(f, AVMEDIA_TYPE_AUDIO, -1, -1, nullptr, 0);
    ASSERT_GE(a, 0);
    AVPacket* p = av_packet_alloc();
    int64_t last = AV_NOPTS_VALUE;
    while (av_read_frame(f, p) >= 0) {
      if (p->stream_index == a && (last == AV_NOPTS_VALUE || p->dts > last)) {
        last = p->dts;
        kept.push_back(p->pts * av_q2d(f->streams[a]->time_base));
      }
      av_packet_unref(p);
    }
    av_packet_free(&p);
    avformat_close_input(&f);
  }
  const auto all_audio = PacketTimes(source, AVMEDIA_TYPE_AUDIO);
  ASSERT_LT(kept.size() + 2, all_audio.size());  // a few packets go
  std::sort(kept.begin(), kept.end());

  auto probe = ProbeForSplit(source);
  ASSERT_TRUE(probe.ok()) << probe.status();
  ASSERT_EQ(probe->unsplittable, "");
  const auto cuts = ChooseCuts(probe->keyframes, probe->duration_seconds, 2, 0);
  ASSERT_EQ(cuts.size(), 1u);
  const std::string dir = Path("back-segments");
  fs::create_directories(dir);
  auto segments = WriteSegments(source, cuts, dir);
  ASSERT_TRUE(segments.ok()) << segments.status();
  std::vector<std::string> paths;
  for (const Segment& seg : *segments) paths.push_back(seg.path);
  const double start = std::min(PacketTimes(source, AVMEDIA_TYPE_VIDEO).front(),
                                all_audio.front());
  for (bool matroska : {false, true}) {
    const std::string out = Path(matroska ? "back.mkv" : "back.mp4");
    absl::Status s =
        JoinSegments(*segments, paths, source, true, matroska, out);
    ASSERT_TRUE(s.ok()) << s << " matroska=" << matroska;
    const auto got = PacketTimes(out, AVMEDIA_TYPE_AUDIO);
    ASSERT_EQ(got.size(), kept.size()) << "matroska=" << matroska;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_NEAR(got[i], kept[i] - start, 1e-3) << "packet " << i;
    }
  }
}

// Ctrl-C while segments are written or joined (no call is in flight then):
// asked between packets, both stop with "interrupted" and leave nothing. They
// used to run on, and the command ended as if no signal had come.
TEST_F(MovieSplitTest, CuttingAndJoiningStopWhenAsked) {
  const std::string source = Path("vfr.mp4");
  auto probe = ProbeForSplit(source);
  ASSERT_TRUE(probe.ok()) << probe.status();
  const auto cuts = ChooseCuts(probe->keyframes, probe->duration_seconds, 2, 0);
  ASSERT_EQ(cuts.size(), 1u);
  const std::string dir = Path("stopped-segments");
  fs::create_directories(dir);
  int asked = 0;
  auto after_ten = [&asked] { return ++asked > 10; };
  auto stopped = WriteSegments(source, cuts, dir, after_ten);
  EXPECT_EQ(stopped.status(), absl::CancelledError("interrupted"));
  EXPECT_TRUE(fs::is_empty(dir));

  auto segments = WriteSegments(source, cuts, dir);
  ASSERT_TRUE(segments.ok()) << segments.status();
  std::vector<std::string> paths;
  for (const Segment& seg : *segments) paths.push_back(seg.path);
  const std::string out = Path("stopped-join.mp4");
  asked = 0;
  EXPECT_EQ(JoinSegments(*segments, paths, source, true, false, out, after_ten),
            absl::CancelledError("interrupted"));
  EXPECT_FALSE(fs::exists(out));
  EXPECT_GT(asked, 10);
}

// The effective sample aspect ratio of a movie's video: the container's,
// else the bitstream's (what players use).
AVRational SampleAspectRatio(const std::string& path) {
  AVFormatContext* f = nullptr;
  if (avformat_open_input(&f, path.c_str(), nullptr, nullptr) < 0) {
    return AVRational{-1, 1};
  }
  avformat_find_stream_info(f, nullptr);
  const int v = av_find_best_stream(f, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  AVRational sar =
      v < 0 ? AVRational{-1, 1}
            : av_guess_sample_aspect_ratio(f, f->streams[v], nullptr);
  avformat_close_input(&f);
  return sar;
}

// `-c copy -aspect 16:9` stores the aspect ratio in the container only, the
// bitstream keeps 1:1. The segment muxer refused the two different ratios,
// and the trailer was then written on a segment without a header: SIGSEGV.
TEST_F(MovieSplitTest, AContainerAspectRatioIsKeptThroughCutAndJoin) {
  const std::string square = Path("square.mp4");
  const std::string wide = Path("container-sar.mp4");
  const std::string cmd = absl::StrCat(
      "ffmpeg -nostdin -loglevel error -y -f lavfi -i "
      "testsrc2=s=96x64:r=10:d=3 -c:v libx264 -g 10 -pix_fmt yuv420p ",
      square, " && ffmpeg -nostdin -loglevel error -y -i ", square,
      " -c copy -aspect 16:9 ", wide);
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const AVRational sar = SampleAspectRatio(wide);
  ASSERT_EQ(av_cmp_q(sar, AVRational{32, 27}), 0)  // 16:9 over 96x64
      << sar.num << ":" << sar.den;
  const std::string dir = Path("sar-segments");
  fs::create_directories(dir);
  auto segments = WriteSegments(wide, {1.0, 2.0}, dir);
  ASSERT_TRUE(segments.ok()) << segments.status();
  ASSERT_EQ(segments->size(), 3u);
  std::vector<std::string> paths;
  for (const Segment& segment : *segments) {
    paths.push_back(segment.path);
    const AVRational got = SampleAspectRatio(segment.path);
    EXPECT_EQ(av_cmp_q(got, sar), 0) << got.num << ":" << got.den;
  }
  for (bool matroska : {false, true}) {
    const std::string out = Path(matroska ? "sar.mkv" : "sar.mp4");
    absl::Status s = JoinSegments(*segments, paths, wide, false, matroska, out);
    ASSERT_TRUE(s.ok()) << s;
    const AVRational got = SampleAspectRatio(out);
    EXPECT_EQ(av_cmp_q(got, sar), 0) << got.num << ":" << got.den;
  }
  // The stylized parts' ratio wins over the source's: a server that turned
  // a rotated movie upright for Matroska inverted it.
  const std::string part = Path("sar-part.mkv");
  const std::string remux = absl::StrCat(
      "ffmpeg -nostdin -loglevel error -y -i ", paths[0],
      " -c copy -aspect 3:4 ", part);
  ASSERT_EQ(std::system(remux.c_str()), 0) << remux;
  const std::string out = Path("sar-turned.mkv");
  ASSERT_TRUE(
      JoinSegments({(*segments)[0]}, {part}, wide, false, true, out).ok());
  const AVRational got = SampleAspectRatio(out);
  EXPECT_EQ(av_cmp_q(got, AVRational{1, 2}), 0)  // 3:4 over 96x64
      << got.num << ":" << got.den;
}

// The container's and the streams' tags, "key=value" each, of the file at
// `path`.
std::vector<std::string> Tags(const std::string& path) {
  std::vector<std::string> tags;
  AVFormatContext* f = nullptr;
  if (avformat_open_input(&f, path.c_str(), nullptr, nullptr) < 0) return tags;
  auto add = [&](const AVDictionary* d) {
    const AVDictionaryEntry* e = nullptr;
    while ((e = av_dict_get(d, "", e, AV_DICT_IGNORE_SUFFIX)) != nullptr) {
      tags.push_back(absl::StrCat(e->key, "=", e->value));
    }
  };
  add(f->metadata);
  for (unsigned i = 0; i < f->nb_streams; ++i) add(f->streams[i]->metadata);
  avformat_close_input(&f);
  return tags;
}

// A split movie's outputs used to lose the recording's tags, which an
// unsplit job's outputs keep: the segments are cut without them.
TEST_F(MovieSplitTest, AJoinKeepsTheRecordingsTags) {
  const std::string source = Path("tagged.mp4");
  const std::string cmd =
      absl::StrCat("ffmpeg -nostdin -loglevel error -y -i ", Path("vfr.mp4"),
                   " -c copy -metadata title=Holiday "
                   "-metadata creation_time=2024-05-01T10:00:00Z "
                   "-metadata location=+48.8577+002.2950/ "
                   "-metadata:s:a:0 language=fra -metadata:s:v:0 language=ita ",
                   source);
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const std::string dir = Path("tagged-segments");
  fs::create_directories(dir);
  auto segments = WriteSegments(source, {3.0}, dir);
  ASSERT_TRUE(segments.ok()) << segments.status();
  std::vector<std::string> paths;
  for (const Segment& segment : *segments) paths.push_back(segment.path);
  for (bool matroska : {false, true}) {
    SCOPED_TRACE(matroska ? "matroska" : "mp4");
    const std::string out = Path(matroska ? "tagged.mkv" : "tagged.out.mp4");
    absl::Status s =
        JoinSegments(*segments, paths, source, true, matroska, out);
    ASSERT_TRUE(s.ok()) << s;
    const std::vector<std::string> tags = Tags(out);
    const std::string all = absl::StrJoin(tags, "; ");
    EXPECT_THAT(tags, Contains("title=Holiday")) << all;
    EXPECT_THAT(tags, Contains(HasSubstr("2024-05-01T10:00:00"))) << all;
    EXPECT_THAT(tags, Contains("language=fra")) << all;
    EXPECT_THAT(tags, Contains("language=ita")) << all;
    EXPECT_THAT(all, Not(HasSubstr("48.8577")));
  }
}

TEST_F(MovieSplitTest, FailedJoinLeavesNothing) {
  const std::string out = Path("never.mp4");
  Segment missing;
  missing.path = Path("missing.mp4");
  EXPECT_FALSE(
      JoinSegments({missing}, {missing.path}, Path("vfr.mp4"), true, false, out)
          .ok());
  EXPECT_FALSE(fs::exists(out));
  for (const auto& entry : fs::directory_iterator(*dir_)) {
    EXPECT_EQ(entry.path().string().find(".part-"), std::string::npos)
        << entry.path();
  }
}

// A disk that fills up under the join: the error names the file and why,
// where it said "writing a movie: Input/output error" (the muxer's word for
// any failed write). The file size limit stands in for a full disk, in a
// child process of its own.
TEST_F(MovieSplitTest, AFailedWriteSaysWhereAndWhy) {
  const std::string source = Path("vfr.mp4");
  auto probe = ProbeForSplit(source);
  ASSERT_TRUE(probe.ok()) << probe.status();
  const auto cuts = ChooseCuts(probe->keyframes, probe->duration_seconds, 2, 0);
  const std::string dir = Path("segments-full");
  fs::create_directories(dir);
  auto segments = WriteSegments(source, cuts, dir);
  ASSERT_TRUE(segments.ok()) << segments.status();
  std::vector<std::string> paths;
  for (const Segment& segment : *segments) paths.push_back(segment.path);
  const std::string out = Path("full.mp4");
  const auto join_on_a_full_disk = [&] {
    av_log_set_level(AV_LOG_QUIET);
    std::signal(SIGXFSZ, SIG_IGN);
    rlimit limit;
    limit.rlim_cur = limit.rlim_max = 8192;
    setrlimit(RLIMIT_FSIZE, &limit);
    const absl::Status s =
        JoinSegments(*segments, paths, source, true, false, out);
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    std::_Exit(s.ok() ? 1 : 0);
  };
  EXPECT_EXIT(join_on_a_full_disk(), ::testing::ExitedWithCode(0),
              "cannot write .*full\\.mp4.*File too large");
  EXPECT_FALSE(fs::exists(out));
  for (const auto& entry : fs::directory_iterator(*dir_)) {
    EXPECT_EQ(entry.path().string().find(".part-"), std::string::npos)
        << entry.path();
  }
}

}  // namespace
}  // namespace stylizer::client
