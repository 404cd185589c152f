// The fixture of the video pipeline's tests (video_pipeline_*_test.cc): tiny
// movies made with the ffmpeg tool into one directory per test program, a
// job run with the inverting FakeJobQueue into a sink that collects its
// events, and the check of its outputs with ffprobe (they decode, same frame
// count, duration within one frame, size, audio exactly when expected,
// rotation kept, output k holding style k).
#ifndef STYLIZER_SERVER_MEDIA_TESTING_VIDEO_PIPELINE_FIXTURE_H_
#define STYLIZER_SERVER_MEDIA_TESTING_VIDEO_PIPELINE_FIXTURE_H_

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "server/media/spool.h"
#include "server/media/testing/fake_job.h"
#include "server/media/video_pipeline.h"
#include "server/media/video_sink.h"

namespace stylizer {
namespace media {
namespace testing {

// Collects a job's events; can hold back output chunks to act as a slow
// reader.
class CollectingSink : public VideoSink {
 public:
  void OnAccepted(const MovieInfo& info, int w, int h) override {
    absl::MutexLock lock(&mu_);
    info_ = info;
    width_ = w;
    height_ = h;
    accepted_.Notify();
  }
  void OnProgress(const VideoProgress& p) override {
    absl::MutexLock lock(&mu_);
    ++progress_reports_;
    last_progress_ = p;
  }
  absl::Status OnOutputChunk(int index, absl::string_view bytes) override {
    absl::MutexLock lock(&mu_);
    ++chunks_[index];
    if (chunks_[index] > free_chunks_) {
      mu_.Await(absl::Condition(
          +[](CollectingSink* s) ABSL_NO_THREAD_SAFETY_ANALYSIS {
            return s->open_ || s->failing_;
          },
          this));
    }
    if (failing_) return absl::CancelledError("sink gave up");
    outputs_[index].append(bytes.data(), bytes.size());
    return absl::OkStatus();
  }
  void OnFailing(const absl::Status& s) override {
    absl::MutexLock lock(&mu_);
    failing_ = true;
  }
  void OnFinished(absl::StatusOr<VideoSummary> result) override {
    absl::MutexLock lock(&mu_);
    result_ = std::move(result);
    ++finished_calls_;
    finished_.Notify();
  }
  // Lets `n` chunks per output through, then blocks until Open().
  void HoldAfter(int n) {
    absl::MutexLock lock(&mu_);
    free_chunks_ = n;
    open_ = false;
  }
  void Open() {
    absl::MutexLock lock(&mu_);
    open_ = true;
  }

  absl::Notification accepted_;
  absl::Notification finished_;
  absl::Mutex mu_;
  MovieInfo info_;
  int width_ = 0, height_ = 0;
  int progress_reports_ = 0;
  VideoProgress last_progress_;
  std::map<int, std::string> outputs_;
  std::map<int, int> chunks_;
  int free_chunks_ = 1 << 30;
  bool open_ = true;
  bool failing_ = false;
  int finished_calls_ = 0;
  absl::StatusOr<VideoSummary> result_ = absl::UnknownError("not finished");
};

// Each test program derives its own fixture, whose SetUpTestSuite calls
// MakeMovies with the shared movies its tests read.
class VideoPipelineFixture : public ::testing::Test {
 protected:
  // Silences FFmpeg's log below errors, makes the program's directory, and
  // makes in it the shared movies `names` names (video_pipeline_fixture.cc
  // lists them, with what each is) and those they are remuxed from. A name
  // that is not on the list fails the suite.
  static void MakeMovies(const std::vector<std::string>& names);

  static std::string Path(const std::string& name);
  // The file's bytes; "" (and a failed expectation) when unreadable.
  static std::string Bytes(const std::string& name);

  // `outputs` outputs, output k in style k % 4 alone, run by queue_, with
  // progress every 50 ms and x264's ultrafast preset.
  VideoPipeline::Options BaseOptions(int outputs = 2);

  // Uploads `bytes` in chunks and waits for the job to finish.
  void Run(const std::string& bytes, VideoPipeline::Options options,
           CollectingSink* sink, size_t chunk = 4096);

  // A job whose upload arrives in two parts: Start() sends the first three
  // quarters of `bytes`, Finish() the rest, and waits for the job's end.
  class UploadInTwoParts {
   public:
    UploadInTwoParts(std::string bytes, CollectingSink* sink)
        : bytes_(std::move(bytes)), sink_(sink) {}
    void Start(VideoPipeline::Options options);
    void Finish();

   private:
    size_t Part() const { return bytes_.size() * 3 / 4; }
    std::string bytes_;
    CollectingSink* sink_;
    std::unique_ptr<Spool> spool_;
    std::unique_ptr<VideoPipeline> pipeline_;
  };

  // Stylizes the movie at `input` into one output in `container`, which
  // must succeed, and writes it to `out`.
  void RunToFile(const std::string& input, OutputContainer container,
                 const std::string& out, CollectingSink* sink);

  // Writes each output to a file and checks it against the input.
  void ExpectOutputsMatch(const std::string& input, CollectingSink* sink,
                          int outputs, int width, int height, bool audio,
                          const std::string& ext = "mp4");

  // The mean of the first frame's RGB samples of output `i` written by
  // ExpectOutputsMatch.
  std::optional<double> FirstFrameMean(const std::string& input, int i,
                                       const std::string& ext);

  static std::string* dir_;
  FakeJobQueue queue_;
};

// Stream start times (seconds) of `path` as ffprobe reads them, edit lists
// applied: {video, audio}.
std::pair<double, double> StartTimes(const std::string& path);

}  // namespace testing
}  // namespace media
}  // namespace stylizer

#endif  // STYLIZER_SERVER_MEDIA_TESTING_VIDEO_PIPELINE_FIXTURE_H_
