// One movie over many replicas: the segments' calls and the join; see
// split_video.h (the plan: split_video_plan.cc; the progress:
// split_video_progress.cc).
#include "client/split_video.h"

#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <system_error>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "client/byte_source.h"
#include "client/interrupt.h"
#include "client/movie_split.h"
#include "client/output_files.h"
#include "client/retry.h"
#include "client/rpc_errors.h"
#include "client/split_video_internal.h"
#include "client/video_outputs.h"

namespace stylizer::client {
namespace {

namespace fs = std::filesystem;

// A private directory under the system's temporary directory, removed with
// everything in it when this goes away.
class TempDir {
 public:
  static absl::StatusOr<std::unique_ptr<TempDir>> Create() {
    std::error_code ec;
    std::string pattern =
        (fs::temp_directory_path(ec) / "stylizer-split-XXXXXX").string();
    if (ec) pattern = "/tmp/stylizer-split-XXXXXX";
    const std::string shown = pattern;  // mkdtemp fills in the X's
    if (mkdtemp(pattern.data()) == nullptr) {
      const int err = errno;
      return absl::InternalError(absl::StrCat(
          "cannot make a temporary directory for the segments (", shown,
          "): ", std::strerror(err),
          "; --split writes them under $TMPDIR "
          "(else /tmp): set TMPDIR to a writable directory with room"));
    }
    RegisterLeftover(pattern);
    return std::unique_ptr<TempDir>(new TempDir(pattern));
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
    UnregisterLeftover(path_);
  }
  const std::string& path() const { return path_; }

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// A replica that died, drained or broke the stream mid-way: the segment can
// be sent again from its start, to another replica. Not: our own cancel
// ("interrupted"), and not a verdict on the input (INVALID_ARGUMENT, ...).
bool ReplicaFailed(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kUnknown:
      return true;
    case absl::StatusCode::kCancelled:
      return s.message() != "interrupted";
    case absl::StatusCode::kInternal:
      return absl::StrContains(s.message(), "without a summary");
    default:
      return false;
  }
}

}  // namespace

absl::StatusOr<std::vector<std::string>> RunSplitVideo(
    StylizerClient& client, const SplitJob& job, ProgressReporter* progress,
    std::ostream* notes) {
  auto tmp = TempDir::Create();
  if (!tmp.ok()) return tmp.status();
  const std::string in_dir = (*tmp)->path() + "/in";
  std::error_code ec;
  fs::create_directories(in_dir, ec);
  // Ctrl-C cancels the calls; these loops of our own ask for it too.
  const std::function<bool()> stopped =
      job.stopped ? job.stopped : std::function<bool()>(Interrupted);
  auto segments = WriteSegments(job.input, job.cuts, in_dir, stopped);
  if (!segments.ok()) {
    if (segments.status().code() == absl::StatusCode::kCancelled) {
      return segments.status();
    }
    // Where they go is not where the user asked for anything: say so.
    return absl::Status(
        segments.status().code(),
        absl::StrCat(
            "cutting the movie into segments in ", (*tmp)->path(),
            " (under $TMPDIR, else /tmp): ", segments.status().message()));
  }
  const size_t n = segments->size();
  std::vector<uint64_t> segment_sizes;
  for (const Segment& s : *segments) {
    const uintmax_t size = fs::file_size(s.path, ec);
    segment_sizes.push_back(ec ? 0 : static_cast<uint64_t>(size));
  }
  // Round robin sends calls only to replicas already connected: give the
  // others a moment, or every segment may go to the first one.
  const std::set<std::string> replicas =
      client.AwaitReplicas(job.replicas, absl::Seconds(3));
  // The segments' calls: a failed segment cancels the others through it,
  // and leaves `client` usable for the command's next movie.
  // --timeout bounds the segments together, as it bounds an unsplit job:
  // from here, not from each segment's start.
  const absl::Duration timeout = client.options().timeout;
  const std::unique_ptr<StylizerClient> segment_client =
      client.Child(timeout > absl::ZeroDuration() ? absl::Now() + timeout
                                                  : absl::InfiniteFuture());
  // Calls in flight, at most `max_in_flight`; each attempt holds one.
  const int max_in_flight =
      std::max(1, std::max(job.replicas, 1) * job.segments_per_replica);
  SayNote(
      progress, notes,
      absl::StrFormat("split into %d segments at keyframes; sending %s to %d "
                      "replica%s",
                      n,
                      static_cast<int>(n) <= max_in_flight
                          ? std::string("them at once")
                          : absl::StrCat(max_in_flight, " at a time"),
                      replicas.size(), replicas.size() == 1 ? "" : "s"));
  SplitProgress sum(progress, segment_sizes,
                    static_cast<int>(job.labels.size()));

  struct Result {
    std::vector<std::string> paths;  // this segment's stylized movies
    std::string peer;
    uint64_t frames = 0;
    std::unique_ptr<VideoOutputs> files;
  };
  std::vector<Result> results(n);
  absl::Mutex mu;
  absl::Status first_error;  // guarded by mu
  bool failed = false;       // guarded by mu
  auto job_failed = [&] {
    absl::MutexLock lock(&mu);
    return failed;
  };

  // The model archive digest the first segment done was stylized with: the
  // others must be stylized by the same model (replicas serve different
  // archives during a rollout), or the movie would change style part way.
  // Set by a segment done, not by one accepted: an attempt that fails after
  // its acceptance (its replica drained in the rollout) keeps nothing.
  std::string job_model;  // guarded by mu
  int in_flight = 0;  // guarded by mu
  // Lowered when a replica refuses a segment as busy while this job's other
  // segments hold its slots (a replica with fewer stream slots than
  // segments_per_replica): the refused one waits for one of them to end.
  int cap = max_in_flight;  // guarded by mu
  auto take_slot = [&] {
    absl::MutexLock lock(&mu);
    auto free_or_failed = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      return failed || in_flight < cap;
    };
    mu.Await(absl::Condition(&free_or_failed));
    if (failed) return false;
    ++in_flight;
    return true;
  };
  // Gives the attempt's slot back. For a busy refusal while others of this
  // job are in flight, also lowers the cap to them and returns true: the
  // segment is then sent again once one of them ends, as an unsplit job's
  // call would have been made later, and that is not a retry of its own.
  // As many segments done as the cap raise it again by one (the refusal
  // may have been a passing burst of other clients' calls): one probe of a
  // slot more per round, not one per segment.
  int done_since_cut = 0;  // guarded by mu
  auto give_slot = [&](const absl::Status& s) {
    absl::MutexLock lock(&mu);
    --in_flight;
    if (s.ok() && cap < max_in_flight && ++done_since_cut >= cap) {
      ++cap;
      done_since_cut = 0;
    }
    if (failed || !IsBusyRefusal(s) || in_flight == 0) return false;
    cap = std::min(cap, in_flight);
    done_since_cut = 0;
    return true;
  };
  // "" when `digest` (a replica's archive, maybe unnamed) is the job's,
  // else "model archive NEW... , where this job's other segments have
  // OLD...". `done`: the segment is done, and sets the job's archive if it
  // has none yet.
  auto other_archive = [&](const std::string& digest, bool done) {
    absl::MutexLock lock(&mu);
    if (done && job_model.empty()) job_model = digest;
    if (digest.empty() || job_model.empty() || digest == job_model) {
      return std::string();
    }
    return absl::StrFormat(
        "model archive %s... , where this job's other segments have %s...",
        digest.substr(0, 12), job_model.substr(0, 12));
  };

  std::vector<std::thread> threads;
  for (size_t k = 0; k < n; ++k) {
    threads.emplace_back([&, k] {
      const Segment& seg = (*segments)[k];
      for (int attempt = 1; attempt <= job.max_attempts; ++attempt) {
        if (!take_slot()) return;
        auto files = std::make_unique<VideoOutputs>(
            absl::StrCat((*tmp)->path(), "/out-", k, "-", attempt), "segment",
            job.labels, job.ext);
        std::string attempt_model;  // the archive this attempt's replica named
        std::string other_model;    // set when it is not the job's
        SegmentObserver observer(
            files.get(), &sum, k, job.name_input ? job.input : "",
            [&](const std::string& line) { SayNote(progress, notes, line); },
            [&](const std::string& digest) {
              attempt_model = digest;
              other_model = other_archive(digest, /*done=*/false);
              return other_model.empty()
                         ? absl::OkStatus()
                         : absl::AbortedError(absl::StrCat(
                               "the replica serves ", other_model));
            });
        absl::Status s;
        auto source = FileSource::Open(seg.path);
        if (source.ok()) {
          stylizer::v1::VideoJob segment_job = job.job;
          segment_job.set_drop_audio(true);  // joined from the source once
          segment_job.set_input_size((*source)->size());
          s = segment_client->StylizeVideo(segment_job, source->get(),
                                           &observer);
          if (s.ok()) s = files->Commit();
        } else {
          s = source.status();
        }
        if (s.ok()) {
          // The first segment done sets the job's model; one done with
          // another meanwhile (accepted before that) is sent again.
          other_model = other_archive(attempt_model, /*done=*/true);
          if (!other_model.empty()) {
            s = absl::AbortedError(
                absl::StrCat("the replica serves ", other_model));
          }
        }
        if (give_slot(s)) {
          SayNote(progress, notes,
                  absl::StrFormat(
                      "segment %d/%d: refused as busy while this job's other "
                      "segments are in flight; it waits for one of them "
                      "(sending at most %d at a time now)",
                      k + 1, n, [&] {
                        absl::MutexLock lock(&mu);
                        return cap;
                      }()));
          files->Discard();
          sum.Reset(k);
          --attempt;  // not a failure of the replica's
          continue;
        }
        if (s.ok()) {
          results[k].paths = files->Paths();
          results[k].peer = observer.peer();
          results[k].frames = observer.frames();
          results[k].files = std::move(files);
          if (job.verbose) {
            SayNote(progress, notes,
                    absl::StrFormat(
                        "segment %d/%d: %d frame%s from %s", k + 1, n,
                        observer.frames(), observer.frames() == 1 ? "" : "s",
                        observer.peer().empty() ? "?" : observer.peer()));
          }
          return;
        }
        files->Discard();
        sum.Reset(k);
        if (!other_model.empty() && attempt < job.max_attempts &&
            !job_failed()) {
          SayNote(progress, notes,
                  absl::StrFormat(
                      "segment %d/%d: the replica%s serves %s; "
                      "sending it again (attempt %d of %d)",
                      k + 1, n,
                      observer.peer().empty() ? "" : " " + observer.peer(),
                      other_model, attempt + 1, job.max_attempts));
          continue;
        }
        if (!other_model.empty()) {
          s = absl::AbortedError(absl::StrFormat(
              "segment %d/%d: every replica that took it serves %s: the "
              "replicas serve different models (a rollout in progress?), and "
              "a movie split over them would change style part way; run it "
              "again once they serve one model, or without --split",
              k + 1, n, other_model));
        }
        // Not a call that no replica answered with UNAVAILABLE: that is what
        // the client's own retries (--retries) are for, and they were made.
        const bool retried_already = observer.peer().empty() &&
                                     s.code() == absl::StatusCode::kUnavailable;
        if (ReplicaFailed(s) && !retried_already &&
            attempt < job.max_attempts && !job_failed()) {
          SayNote(
              progress, notes,
              absl::StrFormat(
                  "segment %d/%d: the replica%s failed mid-way (%s); sending "
                  "it "
                  "again from its start (attempt %d of %d)",
                  k + 1, n,
                  observer.peer().empty() ? "" : " " + observer.peer(),
                  ErrorLine(s), attempt + 1, job.max_attempts));
          // In slices that Ctrl-C and another segment's failure end: the
          // command has 5 s after a signal to clean up (interrupt.h).
          const absl::Time resume =
              absl::Now() + BackoffFor(client.options().retry, attempt - 1);
          while (absl::Now() < resume && !Interrupted() && !job_failed()) {
            absl::SleepFor(
                std::min(resume - absl::Now(), absl::Milliseconds(50)));
          }
          continue;
        }
        {
          absl::MutexLock lock(&mu);
          if (!failed) {
            failed = true;
            first_error = s;
          }
        }
        // One failed segment fails the job: stop the others now.
        segment_client->CancelAll();
        return;
      }
    });
  }
  for (auto& t : threads) t.join();
  {
    absl::MutexLock lock(&mu);
    if (failed) return first_error;
  }

  if (job.verbose) {
    std::map<std::string, std::pair<int, uint64_t>> per_replica;
    for (const Result& r : results) {
      auto& entry = per_replica[r.peer.empty() ? "?" : r.peer];
      entry.first += 1;
      entry.second += r.frames;
    }
    for (const auto& [peer, counts] : per_replica) {
      SayNote(progress, notes,
              absl::StrFormat("replica %s: %d segment%s, %d frame%s", peer,
                              counts.first, counts.first == 1 ? "" : "s",
                              counts.second, counts.second == 1 ? "" : "s"));
    }
  }

  const std::vector<std::string> targets =
      OutputPaths(job.out_dir, job.stem, job.labels, job.ext);
  if (absl::Status s = CheckOutputTargets(targets); !s.ok()) return s;
  std::string made_dir;
  if (absl::Status s = EnsureDirectory(job.out_dir, &made_dir); !s.ok()) {
    return s;
  }
  // Each style is joined under a hidden name beside its target, and all are
  // renamed into place once every join has worked: a join that fails (or
  // Ctrl-C) leaves the files already at the targets as they were, where the
  // outputs joined before it used to have replaced them and then been
  // deleted.
  std::vector<std::string> joined;
  auto remove_joined = [&] {
    for (const std::string& p : joined) fs::remove(p, ec);
    RemoveMadeDirectories(job.out_dir, made_dir);
  };
  const bool with_audio = !job.job.drop_audio();
  for (size_t i = 0; i < job.labels.size(); ++i) {
    std::vector<std::string> parts;
    for (const Result& r : results) parts.push_back(r.paths.at(i));
    const fs::path target(targets[i]);
    const std::string hidden =
        (target.parent_path() / ("." + target.filename().string() + ".joined"))
            .string();
    absl::Status s = JoinSegments(*segments, parts, job.input, with_audio,
                                  job.matroska, hidden, stopped);
    if (!s.ok()) {
      remove_joined();
      if (stopped()) return absl::CancelledError("interrupted");
      return absl::Status(
          s.code(), absl::StrCat("joining the segments of ", job.labels[i],
                                 ": ", s.message()));
    }
    joined.push_back(hidden);
  }
  for (size_t i = 0; i < joined.size(); ++i) {
    std::error_code moved;
    fs::rename(joined[i], targets[i], moved);
    if (moved) {
      for (size_t j = i; j < joined.size(); ++j) fs::remove(joined[j], ec);
      return absl::InternalError(
          absl::StrCat("cannot move the joined movie to ", targets[i], ": ",
                       moved.message()));
    }
  }
  return targets;
}

}  // namespace stylizer::client
