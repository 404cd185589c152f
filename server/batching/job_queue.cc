// JobQueue::Create: validates the options, builds the shared state and starts
// the threads (per worker one host and one device thread, plus one notifier
// thread for callbacks that must not run on a caller's thread).
#include "server/batching/job_queue.h"

#include <map>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/batching/job_queue_options.h"
#include "server/batching/queue_core.h"
#include "server/model/style_model.h"

namespace stylizer {
namespace {

using batching_internal::JobState;
using batching_internal::QueueCore;

class JobHandle final : public Job {
 public:
  JobHandle(std::shared_ptr<QueueCore> core, std::shared_ptr<JobState> job)
      : core_(std::move(core)), job_(std::move(job)) {}
  ~JobHandle() override { core_->CloseJob(job_); }

  absl::Status TrySubmit(FrameRequest* request) override {
    return core_->Submit(job_, request, /*wait=*/false);
  }
  absl::Status Submit(FrameRequest* request) override {
    return core_->Submit(job_, request, /*wait=*/true);
  }
  void NotifyWhenRoom(std::function<void()> callback) override {
    core_->NotifyWhenRoom(job_, std::move(callback));
  }
  void Cancel() override { core_->Cancel(job_); }

 private:
  const std::shared_ptr<QueueCore> core_;
  const std::shared_ptr<JobState> job_;
};

class JobQueueImpl final : public JobQueue {
 public:
  explicit JobQueueImpl(std::shared_ptr<QueueCore> core)
      : core_(std::move(core)) {
    for (int w = 0; w < core_->num_workers(); ++w) {
      workers_.emplace_back([core = core_.get(), w] { core->RunHost(w); });
      workers_.emplace_back([core = core_.get(), w] { core->RunDevice(w); });
    }
    notifier_ = std::thread([core = core_.get()] { core->RunNotifier(); });
  }

  ~JobQueueImpl() override {
    core_->Abort();
    for (std::thread& thread : workers_) thread.join();
    core_->StopNotifier();
    notifier_.join();
  }

  absl::StatusOr<std::unique_ptr<Job>> OpenJob(JobOptions options) override {
    absl::StatusOr<std::shared_ptr<JobState>> job =
        core_->OpenJob(std::move(options));
    if (!job.ok()) return job.status();
    return std::unique_ptr<Job>(new JobHandle(core_, *std::move(job)));
  }

  void Drain() override { core_->Drain(); }
  absl::Status CheckFrameFits(int width, int height,
                              int64_t items) const override {
    return core_->CheckFrameFits(width, height, items);
  }
  int64_t queued_items() const override { return core_->queued_items(); }
  int64_t queued_bytes() const override { return core_->queued_bytes(); }
  int64_t queued_lanes() const override { return core_->queued_lanes(); }

 private:
  // Shared with every Job handle, which may outlive the queue.
  const std::shared_ptr<QueueCore> core_;
  std::vector<std::thread> workers_;
  std::thread notifier_;
};

// One mutex per distinct model instance, shared by its workers.
class ModelLocks {
 public:
  absl::Mutex* For(StyleModel* model) {
    std::unique_ptr<absl::Mutex>& mu = locks_[model];
    if (mu == nullptr) mu = std::make_unique<absl::Mutex>();
    return mu.get();
  }

 private:
  std::map<StyleModel*, std::unique_ptr<absl::Mutex>> locks_;
};

}  // namespace

absl::Status JobQueue::ValidateOptions(const JobQueue::Options& o) {
  if (o.max_batch_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_batch_size must be at least 1, got ", o.max_batch_size));
  }
  if (o.batch_timeout < absl::ZeroDuration() ||
      o.batch_timeout == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch_timeout must be finite and non-negative, got ",
                     absl::FormatDuration(o.batch_timeout)));
  }
  if (o.max_batch_pixels < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_batch_pixels must be 0 (no cap) or more, got ",
                     o.max_batch_pixels));
  }
  if (o.max_queued_items < o.max_batch_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_queued_items (", o.max_queued_items,
        ") must be at least max_batch_size (", o.max_batch_size, ")"));
  }
  if (o.max_queued_bytes <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_queued_bytes must be positive, got ", o.max_queued_bytes));
  }
  if (o.max_frames_in_flight_per_job < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_frames_in_flight_per_job must be at least 1, got ",
                     o.max_frames_in_flight_per_job));
  }
  if (o.workers < 1 || o.workers > kMaxWorkersPerModel) {
    return absl::InvalidArgumentError(absl::StrCat(
        "workers must be in [1, ", kMaxWorkersPerModel, "], got ", o.workers));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<JobQueue>> JobQueue::Create(
    const Options& options, StyleModel* model, QueueObserver* observer) {
  return Create(options, std::vector<StyleModel*>{model}, observer);
}

absl::StatusOr<std::unique_ptr<JobQueue>> JobQueue::Create(
    const Options& options, const std::vector<StyleModel*>& models,
    QueueObserver* observer) {
  absl::Status valid = ValidateOptions(options);
  if (!valid.ok()) return valid;
  if (models.empty()) return absl::InvalidArgumentError("no model given");
  int num_styles = -1;
  for (StyleModel* model : models) {
    if (model == nullptr) return absl::InvalidArgumentError("model is null");
    if (model->num_styles() < 1) {
      return absl::InvalidArgumentError("model has no styles");
    }
    if (num_styles >= 0 && model->num_styles() != num_styles) {
      return absl::InvalidArgumentError(
          absl::StrCat("models disagree on the style count: ", num_styles,
                       " vs ", model->num_styles()));
    }
    num_styles = model->num_styles();
  }
  // The mutexes live as long as the core: keep them in a shared holder.
  auto locks = std::make_shared<ModelLocks>();
  std::vector<QueueCore::WorkerModel> workers;
  for (StyleModel* model : models) {
    for (int w = 0; w < options.workers; ++w) {
      workers.push_back({model, locks->For(model)});
    }
  }
  const Clock* clock = options.clock != nullptr ? options.clock : Clock::Real();
  // The core owns the locks through its deleter so they outlive every worker.
  std::shared_ptr<QueueCore> core(
      new QueueCore(options, clock, std::move(workers), num_styles, observer),
      [locks](QueueCore* core) { delete core; });
  return std::unique_ptr<JobQueue>(new JobQueueImpl(std::move(core)));
}

}  // namespace stylizer
