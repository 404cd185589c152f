// Tests of writing a video job's outputs: complete files appear only on
// success; a failed job leaves nothing behind.
#include "client/video_outputs.h"

#include <filesystem>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "client/testing/fake_stylizer_service.h"

namespace stylizer::client {
namespace {

namespace fs = std::filesystem;

class VideoOutputsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("video_outputs_test." + std::to_string(getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
    ClientOptions o;
    o.server = server_.address();
    o.upload_chunk_bytes = 777;
    client_ = *StylizerClient::Create(o);
    movie_ = std::string("\0\0\0\x18", 4) + "ftypmp42";
    movie_.resize(5000, 'x');
  }
  void TearDown() override { fs::remove_all(root_); }
  testing::FakeServer server_;
  std::unique_ptr<StylizerClient> client_;
  fs::path root_;
  std::string movie_;
};

TEST(SkippedPacketsWarningTest, SaysHowManyAndNamesWhatItIsGiven) {
  stylizer::v1::JobSummary summary;
  EXPECT_EQ(SkippedPacketsWarning(summary), "");
  EXPECT_EQ(SkippedPacketsWarning(summary, "a.mp4"), "");
  summary.set_skipped_packets(1);
  EXPECT_EQ(SkippedPacketsWarning(summary),
            "stylizer: warning: 1 damaged video packet was skipped, as ffmpeg "
            "skips them: the outputs are missing its frame");
  summary.set_skipped_packets(2);
  EXPECT_EQ(SkippedPacketsWarning(summary, "a.mp4"),
            "stylizer: warning: a.mp4: 2 damaged video packets were skipped, "
            "as ffmpeg skips them: the outputs are missing their frames");
  EXPECT_EQ(SkippedPacketsWarning(summary, "a.mp4: segment 3"),
            "stylizer: warning: a.mp4: segment 3: 2 damaged video packets "
            "were skipped, as ffmpeg skips them: the outputs are missing "
            "their frames");
}

TEST_F(VideoOutputsTest, WritesEveryOutputOnSuccess) {
  const std::string dir = (root_ / "out/demo").string();
  VideoOutputs outputs(dir, "clip", {"klimt", "mosaic"}, "mp4");
  StringSource source(movie_);
  stylizer::v1::VideoJob job;
  job.add_styles()->set_index(0);
  job.add_styles()->set_index(1);
  ASSERT_TRUE(client_->StylizeVideo(job, &source, &outputs).ok());
  ASSERT_TRUE(outputs.Commit().ok());
  for (const std::string& p : outputs.Paths()) {
    EXPECT_TRUE(fs::exists(p)) << p;
    EXPECT_EQ(fs::file_size(p), movie_.size());
  }
  EXPECT_EQ(outputs.Paths()[1], dir + "/clip.mosaic.mp4");
  int entries = 0;
  for (auto& e : fs::directory_iterator(dir)) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 2);  // no temporary files left
}

TEST_F(VideoOutputsTest, FailedJobLeavesNothing) {
  server_.service().fail_after_chunks = 3;
  const fs::path dir = root_ / "fresh";
  {
    VideoOutputs outputs(dir.string(), "clip", {"a", "b"}, "mp4");
    StringSource source(movie_);
    stylizer::v1::VideoJob job;
    job.add_styles()->set_index(0);
    job.add_styles()->set_index(1);
    EXPECT_FALSE(client_->StylizeVideo(job, &source, &outputs).ok());
    EXPECT_TRUE(fs::exists(dir));  // temporary files exist until discarded
  }
  EXPECT_FALSE(fs::exists(dir));  // the directory it made is gone too
}

TEST_F(VideoOutputsTest, ExistingDirectoryIsKept) {
  server_.service().fail_after_chunks = 1;
  {
    VideoOutputs outputs(root_.string(), "clip", {"a"}, "mkv");
    StringSource source(movie_);
    EXPECT_FALSE(
        client_->StylizeVideo(stylizer::v1::VideoJob(), &source, &outputs).ok());
  }
  EXPECT_TRUE(fs::exists(root_));
  EXPECT_TRUE(fs::is_empty(root_));
}

TEST_F(VideoOutputsTest, MissingOutputIsAnError) {
  VideoOutputs outputs(root_.string(), "clip", {"a", "b", "c"}, "mp4");
  StringSource source(movie_);
  stylizer::v1::VideoJob job;
  job.add_styles()->set_index(0);
  job.add_styles()->set_index(1);  // the server sends 2 of the 3 expected
  ASSERT_TRUE(client_->StylizeVideo(job, &source, &outputs).ok());
  absl::Status s = outputs.Commit();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("(c)"));
}

// Outputs were renamed into place unchecked when the summary listed none of
// them, or 0 bytes; with --out=- bytes after the summary reached standard
// output after its check.
TEST_F(VideoOutputsTest, ASummaryThatProvesNothingIsAnError) {
  stylizer::v1::VideoJob job;
  job.add_styles()->set_index(0);
  for (int bad : {1, 2}) {
    server_.service().bad_summary = bad;
    VideoOutputs outputs(root_.string(), "clip", {"a"}, "mp4");
    StringSource source(movie_);
    ASSERT_TRUE(client_->StylizeVideo(job, &source, &outputs).ok());
    absl::Status s = outputs.Commit();
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << bad << ": " << s;
    EXPECT_FALSE(fs::exists(outputs.Paths()[0])) << bad;
  }
  server_.service().bad_summary = 3;
  std::ostringstream out;
  StreamVideoOutput output(&out, "standard output");
  StringSource source(movie_);
  absl::Status s = client_->StylizeVideo(job, &source, &output);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
  EXPECT_THAT(std::string(s.message()),
              ::testing::HasSubstr("after the job's summary"));
  EXPECT_EQ(out.str(), movie_);
  server_.service().bad_summary = 0;
}

TEST_F(VideoOutputsTest, UnexpectedOutputIndexIsAnError) {
  VideoOutputs outputs(root_.string(), "clip", {"a"}, "mp4");
  StringSource source(movie_);
  // An empty style list makes the fake send 4 outputs.
  absl::Status s =
      client_->StylizeVideo(stylizer::v1::VideoJob(), &source, &outputs);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
}

TEST_F(VideoOutputsTest, OneOutputStreamsIntoAnOstream) {
  std::ostringstream out;
  StreamVideoOutput output(&out, "standard output");
  StringSource source(movie_);
  stylizer::v1::VideoJob job;
  job.add_styles()->set_index(2);
  ASSERT_TRUE(client_->StylizeVideo(job, &source, &output).ok());
  EXPECT_EQ(out.str(), movie_);  // the fake sends the upload back
  EXPECT_EQ(output.bytes_written(), movie_.size());

  // Several outputs cannot share one stream.
  std::ostringstream several;
  StreamVideoOutput refused(&several, "standard output");
  StringSource again(movie_);
  absl::Status s =
      client_->StylizeVideo(stylizer::v1::VideoJob(), &again, &refused);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);

  // A summary that disagrees with the bytes written.
  std::ostringstream short_out;
  StreamVideoOutput checked(&short_out, "standard output");
  ASSERT_TRUE(checked.OnChunk(0, movie_.substr(0, 20)).ok());
  stylizer::v1::JobSummary summary;
  summary.add_outputs()->set_bytes(21);
  s = checked.OnSummary(summary);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(s.message()),
              ::testing::HasSubstr("20 bytes written to standard output"));

  // A reader that went away.
  std::ostringstream closed;
  closed.setstate(std::ios::badbit);
  StreamVideoOutput gone(&closed, "standard output");
  EXPECT_EQ(gone.OnChunk(0, movie_).code(), absl::StatusCode::kUnavailable);
}

// Bytes served as a movie that do not begin as the container asked for
// does (a broken server's, or one that is not a stylizer server): DATA_LOSS,
// and no file, nor a byte on standard output. They were saved as *.mp4.
TEST_F(VideoOutputsTest, BytesThatAreNotAMovieAreNotWritten) {
  server_.service().serve_not_a_movie = true;
  stylizer::v1::VideoJob job;
  job.add_styles()->set_index(0);
  job.add_styles()->set_index(1);
  const fs::path dir = root_ / "not_a_movie";
  {
    VideoOutputs outputs(dir.string(), "clip", {"klimt", "mosaic"}, "mp4");
    StringSource source(movie_);
    absl::Status s = client_->StylizeVideo(job, &source, &outputs);
    if (s.ok()) s = outputs.Commit();
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
    EXPECT_EQ(std::string(s.message()),
              "the server returned output 0 (klimt) as bytes that are not an "
              "MP4 movie (they begin 3c 21 44 4f 43 54 59 50); nothing was "
              "written for this input");
  }
  EXPECT_FALSE(fs::exists(dir));

  stylizer::v1::VideoJob one;
  one.add_styles()->set_index(0);
  std::ostringstream out;
  StreamVideoOutput output(&out, "standard output");
  StringSource source(movie_);
  absl::Status s = client_->StylizeVideo(one, &source, &output);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_THAT(std::string(s.message()),
              ::testing::HasSubstr("not an MP4 movie"));
  EXPECT_EQ(out.str(), "");
  server_.service().serve_not_a_movie = false;

  // An MP4 movie where Matroska was asked for.
  {
    VideoOutputs outputs(dir.string(), "clip", {"klimt"}, "mkv");
    StringSource again(movie_);
    s = client_->StylizeVideo(one, &again, &outputs);
    if (s.ok()) s = outputs.Commit();
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
    EXPECT_THAT(std::string(s.message()),
                ::testing::HasSubstr(
                    "output 0 (klimt) as bytes that are not a Matroska movie "
                    "(they begin 00 00 00 18 66 74 79 70)"));
  }
  EXPECT_FALSE(fs::exists(dir));
}

// Outputs too short to tell are no movie either; a movie's first bytes in
// pieces are.
TEST_F(VideoOutputsTest, OutputsTooShortToBeAMovieAreNotWritten) {
  stylizer::v1::JobSummary summary;
  auto* listed = summary.add_outputs();
  listed->set_bytes(3);
  {
    VideoOutputs outputs(root_.string(), "clip", {"a"}, "mp4");
    ASSERT_TRUE(outputs.OnChunk(0, std::string("\0\0\0", 3)).ok());
    ASSERT_TRUE(outputs.OnSummary(summary).ok());
    const absl::Status s = outputs.Commit();
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
    EXPECT_EQ(std::string(s.message()),
              "the server returned output 0 (a) as 3 bytes that are not an MP4 "
              "movie; nothing was written for this input");
    EXPECT_FALSE(fs::exists(outputs.Paths()[0]));
  }
  {
    std::ostringstream out;
    StreamVideoOutput output(&out, "standard output");
    ASSERT_TRUE(output.OnChunk(0, "abc").ok());
    const absl::Status s = output.OnSummary(summary);
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
    EXPECT_THAT(std::string(s.message()),
                ::testing::HasSubstr("as 3 bytes that are not an MP4 movie"));
    EXPECT_EQ(out.str(), "");
  }
  // A Matroska movie, and an MP4 one a byte at a time.
  const std::string mkv = std::string("\x1a\x45\xdf\xa3", 4) + "matroska";
  listed->set_bytes(mkv.size());
  {
    VideoOutputs outputs(root_.string(), "clip", {"a"}, "mkv");
    ASSERT_TRUE(outputs.OnChunk(0, mkv).ok());
    ASSERT_TRUE(outputs.OnSummary(summary).ok());
    EXPECT_TRUE(outputs.Commit().ok());
  }
  listed->set_bytes(movie_.size());
  std::ostringstream out;
  StreamVideoOutput output(&out, "standard output");
  for (char c : movie_) {
    ASSERT_TRUE(output.OnChunk(0, absl::string_view(&c, 1)).ok());
  }
  EXPECT_TRUE(output.OnSummary(summary).ok());
  EXPECT_EQ(out.str(), movie_);
  EXPECT_EQ(output.bytes_written(), movie_.size());
}

}  // namespace
}  // namespace stylizer::client
