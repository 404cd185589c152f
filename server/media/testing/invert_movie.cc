// See invert_movie.h.
#include "server/media/testing/invert_movie.h"

#include <map>
#include <memory>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "server/media/spool.h"
#include "server/media/testing/fake_job.h"

namespace stylizer {
namespace media {
namespace testing {
namespace {

// Keeps every output's bytes and the job's result.
class OutputSink : public VideoSink {
 public:
  void OnAccepted(const MovieInfo&, int, int) override {}
  void OnProgress(const VideoProgress&) override {}
  absl::Status OnOutputChunk(int index, absl::string_view bytes) override {
    absl::MutexLock lock(&mu_);
    outputs_[index].append(bytes.data(), bytes.size());
    return absl::OkStatus();
  }
  void OnFinished(absl::StatusOr<VideoSummary> result) override {
    {
      absl::MutexLock lock(&mu_);
      result_ = std::move(result);
    }
    finished_.Notify();
  }

  absl::Mutex mu_;
  std::map<int, std::string> outputs_;
  absl::StatusOr<VideoSummary> result_ = absl::UnknownError("not finished");
  absl::Notification finished_;
};

}  // namespace

absl::StatusOr<std::string> InvertMovie(const std::string& movie,
                                        VideoPipeline::Options options) {
  FakeJobQueue queue;
  options.style_weights = {{1.f, 0.f, 0.f, 0.f}};
  options.open_job = [&queue](JobOptions o) {
    return queue.OpenJob(std::move(o));
  };
  OutputSink sink;
  absl::StatusOr<std::unique_ptr<Spool>> spool = Spool::Create({});
  if (!spool.ok()) return spool.status();
  absl::StatusOr<std::unique_ptr<VideoPipeline>> pipeline =
      VideoPipeline::Start(std::move(options), spool->get(), &sink);
  if (!pipeline.ok()) return pipeline.status();
  if (absl::Status s = (*spool)->Append(movie); !s.ok()) return s;
  (*spool)->Finish();
  sink.finished_.WaitForNotification();
  pipeline->reset();
  if (!sink.result_.ok()) return sink.result_.status();
  return sink.outputs_[0];
}

}  // namespace testing
}  // namespace media
}  // namespace stylizer
