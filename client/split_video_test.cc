// Tests of RunSplitVideo against the in-process fake server, whose
// "stylized" movie of a segment is the segment itself: the outputs of a job
// whose join is stopped part-way.
#include "client/split_video.h"

#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/movie_split.h"
#include "client/progress.h"
#include "client/stylizer_client.h"
#include "client/testing/fake_stylizer_service.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stylizer::client {
namespace {

namespace fs = std::filesystem;

std::string Contents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class SplitVideoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        fs::temp_directory_path() / absl::StrCat("split_video_test.", getpid());
    fs::create_directories(dir_ / "out");
    movie_ = (dir_ / "clip.mp4").string();
    const std::string cmd = absl::StrCat(
        "ffmpeg -nostdin -loglevel error -y -f lavfi -i "
        "testsrc2=s=96x64:r=10:d=4 -c:v libx264 -g 10 -pix_fmt yuv420p ",
        movie_);
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Options of a client of `server`.
  static ClientOptions OptionsFor(const testing::FakeServer& server) {
    ClientOptions options;
    options.server = server.address();
    return options;
  }

  // A job of two styles (klimt, mosaic) cut in two.
  SplitJob Job() {
    SplitJob job;
    job.input = movie_;
    job.job.add_styles()->set_index(0);
    job.job.add_styles()->set_index(1);
    job.cuts = {2.0};
    job.labels = {"klimt", "mosaic"};
    job.out_dir = (dir_ / "out").string();
    job.stem = "clip";
    job.ext = "mp4";
    return job;
  }

  // Runs Job() against `server`, one segment at a time (the second waits
  // for the first), and sets *text to its plain progress lines.
  void RunOneSegmentAtATime(const testing::FakeServer& server,
                            std::string* text) {
    auto client = StylizerClient::Create(OptionsFor(server));
    ASSERT_TRUE(client.ok()) << client.status();
    std::ostringstream lines;
    ProgressReporter::Options progress_options;
    progress_options.out = &lines;
    progress_options.plain_interval = absl::ZeroDuration();
    ProgressReporter progress(progress_options);
    SplitJob job = Job();
    job.segments_per_replica = 1;
    auto paths = RunSplitVideo(**client, job, &progress, nullptr);
    ASSERT_TRUE(paths.ok()) << paths.status();
    *text = lines.str();
  }

  fs::path dir_;
  std::string movie_;
};

// Each segment's damaged packets are said with its number, and with the
// input's name when the command names its inputs.
TEST_F(SplitVideoTest, DamagedPacketsAreSaidPerSegment) {
  testing::FakeServer server;
  server.service().skipped_packets = 1;
  auto client = StylizerClient::Create(OptionsFor(server));
  ASSERT_TRUE(client.ok()) << client.status();
  std::ostringstream notes;
  SplitJob job = Job();
  auto paths = RunSplitVideo(**client, job, nullptr, &notes);
  ASSERT_TRUE(paths.ok()) << paths.status();
  for (int k : {1, 2}) {
    EXPECT_THAT(notes.str(),
                ::testing::HasSubstr(absl::StrCat(
                    "stylizer: warning: segment ", k,
                    ": 1 damaged video packet was skipped, as ffmpeg skips "
                    "them: the outputs are missing its frame\n")));
  }
  notes.str("");
  job.name_input = true;
  paths = RunSplitVideo(**client, job, nullptr, &notes);
  ASSERT_TRUE(paths.ok()) << paths.status();
  EXPECT_THAT(notes.str(), ::testing::HasSubstr(absl::StrCat(
                               "stylizer: warning: ", movie_,
                               ": segment 2: 1 damaged video packet")));
}

// Ctrl-C (or any failure) while the second style is joined: the file that
// was at the first style's target is still there, unchanged. The first
// output used to replace it, and then be deleted with it.
TEST_F(SplitVideoTest, AJoinThatStopsLeavesTheTargetsAsTheyWere) {
  testing::FakeServer server;
  auto client = StylizerClient::Create(OptionsFor(server));
  ASSERT_TRUE(client.ok()) << client.status();

  // How often a whole job asks whether to stop.
  SplitJob job = Job();
  int asked = 0;
  job.stopped = [&asked] {
    ++asked;
    return false;
  };
  auto paths = RunSplitVideo(**client, job, nullptr, nullptr);
  ASSERT_TRUE(paths.ok()) << paths.status();
  ASSERT_EQ(paths->size(), 2u);
  const int whole = asked;
  ASSERT_GT(whole, 20);

  // Again over files already there, stopped near the end of the last join.
  for (const std::string& path : *paths) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << "kept";
  }
  asked = 0;
  job.stopped = [&asked, whole] { return ++asked >= whole - 3; };
  auto stopped = RunSplitVideo(**client, job, nullptr, nullptr);
  EXPECT_EQ(stopped.status(), absl::CancelledError("interrupted"));
  for (const std::string& path : *paths) {
    EXPECT_EQ(Contents(path), "kept") << path;
  }
  // Nothing else is left in the output directory.
  int entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir_ / "out")) {
    ++entries;
  }
  EXPECT_EQ(entries, 2);
}

// A failed segment cancels the job's other segments, but not the client:
// the command's next movie runs. It used to fail "interrupted", as after
// Ctrl-C, which still ends every segment.
TEST_F(SplitVideoTest, AFailedJobLeavesTheClientUsableForTheNextMovie) {
  testing::FakeServer server;
  auto client = StylizerClient::Create(OptionsFor(server));
  ASSERT_TRUE(client.ok()) << client.status();

  server.service().refuse_video_after_bytes = 1;
  auto refused = RunSplitVideo(**client, Job(), nullptr, nullptr);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument)
      << refused.status();

  server.service().refuse_video_after_bytes = 0;
  auto paths = RunSplitVideo(**client, Job(), nullptr, nullptr);
  ASSERT_TRUE(paths.ok()) << paths.status();
  EXPECT_EQ(paths->size(), 2u);

  (*client)->CancelAll();  // Ctrl-C
  auto interrupted = RunSplitVideo(**client, Job(), nullptr, nullptr);
  EXPECT_EQ(interrupted.status(), absl::CancelledError("interrupted"));
}

// The segments are written under $TMPDIR, not where the user asked for
// anything: a full disk there is told with that place and what to set. The
// file size limit stands in for a full disk, in a child process.
TEST_F(SplitVideoTest, AFullTemporaryDirectoryIsNamed) {
  testing::FakeServer server;
  auto client = StylizerClient::Create(OptionsFor(server));
  ASSERT_TRUE(client.ok()) << client.status();
  const fs::path tmp = dir_ / "tmp";
  fs::create_directories(tmp);
  const auto cut_on_a_full_disk = [&] {
    setenv("TMPDIR", tmp.c_str(), 1);
    std::signal(SIGXFSZ, SIG_IGN);
    rlimit limit;
    limit.rlim_cur = limit.rlim_max = 1024;
    setrlimit(RLIMIT_FSIZE, &limit);
    auto paths = RunSplitVideo(**client, Job(), nullptr, nullptr);
    std::fprintf(stderr, "%s\n", paths.status().ToString().c_str());
    std::_Exit(paths.ok() ? 1 : 0);
  };
  EXPECT_EXIT(cut_on_a_full_disk(), ::testing::ExitedWithCode(0),
              "cutting the movie into segments in .*/tmp/stylizer-split-"
              ".* \\(under \\$TMPDIR, else /tmp\\): .*File too large");
  EXPECT_TRUE(fs::is_empty(tmp));
  EXPECT_TRUE(fs::is_empty(dir_ / "out"));
}

// Replicas that serve different model archives (a rollout): a segment
// stylized by another model than the job's others is sent again, and the
// job fails, saying why, when every replica that takes it has another. A
// split movie changed style part way without a word.
TEST_F(SplitVideoTest, SegmentsOfAnotherModelAreSentAgain) {
  const std::string a(64, 'a');
  const std::string b(64, 'b');
  testing::FakeServer server;
  server.service().archive_sha256s = {a, b, a};
  auto client = StylizerClient::Create(OptionsFor(server));
  ASSERT_TRUE(client.ok()) << client.status();
  SplitJob job = Job();
  job.segments_per_replica = 1;
  std::ostringstream notes;
  auto paths = RunSplitVideo(**client, job, nullptr, &notes);
  ASSERT_TRUE(paths.ok()) << paths.status();
  EXPECT_EQ(paths->size(), 2u);
  // Whichever segment takes the one slot first is the first done: the
  // other is the one sent again.
  EXPECT_THAT(notes.str(),
              ::testing::ContainsRegex(
                  "segment [12]/2: the replica ipv4:" + server.address() +
                  " serves model archive bbbbbbbbbbbb\\.\\.\\. , where this "
                  "job's other segments have aaaaaaaaaaaa\\.\\.\\.; sending "
                  "it again \\(attempt 2 of 3\\)"));

  testing::FakeServer rollout;
  rollout.service().archive_sha256s = {a, b};
  auto other = StylizerClient::Create(OptionsFor(rollout));
  ASSERT_TRUE(other.ok()) << other.status();
  job.out_dir = (dir_ / "out2").string();
  paths = RunSplitVideo(**other, job, nullptr, nullptr);
  EXPECT_EQ(paths.status().code(), absl::StatusCode::kAborted)
      << paths.status();
  EXPECT_THAT(std::string(paths.status().message()),
              ::testing::ContainsRegex(
                  "segment [12]/2: every replica that took it serves model "
                  "archive bbbbbbbbbbbb\\.\\.\\. , where this job's other "
                  "segments have aaaaaaaaaaaa\\.\\.\\.: the replicas serve "
                  "different models \\(a rollout in progress\\?\\)"));
  EXPECT_FALSE(fs::exists(dir_ / "out2"));
}

// A segment that no replica answered at all has had its retries (the
// client's, --retries): it is not sent again as if its replica had failed
// mid-way, which made each segment 3 x (1 + --retries) calls when every
// replica was gone.
TEST_F(SplitVideoTest, ASegmentNoReplicaAnsweredIsNotSentAgain) {
  testing::FakeServer server;
  server.service().fail_unavailable = 1000;
  ClientOptions options = OptionsFor(server);
  options.retry.max_retries = 2;
  options.retry.initial_backoff = absl::Milliseconds(1);
  options.retry.max_backoff = absl::Milliseconds(2);
  auto client = StylizerClient::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();
  SplitJob job = Job();
  job.segments_per_replica = 1;
  auto paths = RunSplitVideo(**client, job, nullptr, nullptr);
  EXPECT_EQ(paths.status().code(), absl::StatusCode::kUnavailable)
      << paths.status();
  // 1 + 2 retries for the first segment, and maybe the second's, begun
  // before the first's failure stopped the job; 3 attempts of 3 before.
  EXPECT_LE(server.service().video_calls.load(), 6);
}

// Segments served as bytes that are not movies fail the job, with the
// output named, before any join; the output directory stays empty.
TEST_F(SplitVideoTest, SegmentsServedAsBytesThatAreNotMoviesFailTheJob) {
  testing::FakeServer server;
  server.service().serve_not_a_movie = true;
  auto client = StylizerClient::Create(OptionsFor(server));
  ASSERT_TRUE(client.ok()) << client.status();
  auto paths = RunSplitVideo(**client, Job(), nullptr, nullptr);
  EXPECT_EQ(paths.status().code(), absl::StatusCode::kDataLoss)
      << paths.status();
  EXPECT_THAT(std::string(paths.status().message()),
              ::testing::HasSubstr("as bytes that are not an MP4 movie"));
  EXPECT_TRUE(fs::is_empty(dir_ / "out"));
}

// The frame estimate counts the segments still waiting for a call slot (at
// the frames per byte of those accepted): it counted only the accepted ones,
// so with one segment at a time the first half read as the whole job.
TEST_F(SplitVideoTest, TheFrameEstimateCountsSegmentsNotYetSent) {
  testing::FakeServer server;
  std::string text;
  ASSERT_NO_FATAL_FAILURE(RunOneSegmentAtATime(server, &text));
  // Every estimate printed, the first included, is near the last (the
  // fake server's 10 frames per segment: 20).
  std::vector<int> estimates;
  for (size_t at = text.find("of ~"); at != std::string::npos;
       at = text.find("of ~", at + 4)) {
    estimates.push_back(std::atoi(text.c_str() + at + 4));
  }
  ASSERT_FALSE(estimates.empty()) << text;
  EXPECT_EQ(estimates.back(), 20);
  for (int estimate : estimates) {
    EXPECT_GE(estimate, estimates.back() * 3 / 4) << text;
  }
}

// A server's estimate near 2^64 frames per segment: the sum is capped, it
// does not wrap around (nor go through an out-of-range conversion).
TEST_F(SplitVideoTest, AServersHugeEstimatesAreCappedNotWrapped) {
  testing::FakeServer server;
  server.service().frames_estimate = UINT64_MAX;
  std::string text;
  ASSERT_NO_FATAL_FAILURE(RunOneSegmentAtATime(server, &text));
  // Each line's estimate: at least the frames done, at most the cap.
  int seen = 0;
  for (size_t at = text.find("frames "); at != std::string::npos;
       at = text.find("frames ", at + 7)) {
    char* rest = nullptr;
    const uint64_t done = std::strtoull(text.c_str() + at + 7, &rest, 10);
    if (std::string(rest, 5) != " of ~") continue;
    const uint64_t estimate = std::strtoull(rest + 5, nullptr, 10);
    EXPECT_GE(estimate, done) << text;
    EXPECT_LE(estimate, 1000000000000000000ULL) << text;
    ++seen;
  }
  EXPECT_GT(seen, 0) << text;
}

// --timeout bounds a split job as a whole, as it bounds an unsplit one:
// each segment's call had a deadline of its own, so a job of 16 segments
// could run 16 times as long.
TEST_F(SplitVideoTest, TheTimeoutBoundsTheWholeJob) {
  testing::FakeServer server;
  server.service().video_delay_ms = 700;
  ClientOptions options = OptionsFor(server);
  options.timeout = absl::Seconds(1);
  options.retry.max_retries = 0;
  auto client = StylizerClient::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();
  SplitJob job = Job();
  job.segments_per_replica = 1;  // one after the other: 1.4 s in all
  auto paths = RunSplitVideo(**client, job, nullptr, nullptr);
  EXPECT_EQ(paths.status().code(), absl::StatusCode::kDeadlineExceeded)
      << paths.status();
}

}  // namespace
}  // namespace stylizer::client
