// `stylizer video --split`: one movie over many replicas. The upload is cut
// at keyframes into segments (movie_split.h), each segment is its own
// StylizeVideo call, all in flight at once so that the client's round-robin
// balancer spreads them over the replicas, and each style's segments are
// joined back into one movie with the source's sound. A segment whose
// replica dies or drains mid-way is sent again from its start (at most
// twice); any other failure cancels the whole job at once; nothing partial
// is left behind.
#ifndef STYLIZER_CLIENT_SPLIT_VIDEO_H_
#define STYLIZER_CLIENT_SPLIT_VIDEO_H_

#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/progress.h"
#include "client/stylizer_client.h"

namespace stylizer::client {

// How to split: `requested` segments (0 = auto: one per replica, each at
// least `min_auto_seconds` long).
struct SplitRequest {
  int requested = 0;
  int replicas = 1;
  double min_auto_seconds = 10;
};

// The cut points chosen for `input`, or none (with the reason in `note`)
// when the movie is run unsplit.
struct SplitPlan {
  std::vector<double> cuts;
  std::string note;
};

// Decides how `input` is split for a job writing `matroska` (else MP4)
// outputs with or without sound. Errors only for unreadable input.
absl::StatusOr<SplitPlan> PlanSplit(const std::string& input,
                                    const SplitRequest& request, bool matroska,
                                    bool drop_audio);

struct SplitJob {
  std::string input;
  stylizer::v1::VideoJob job;  // styles, container, crf, ...
  std::vector<double> cuts;    // from PlanSplit, not empty
  std::vector<std::string> labels;
  std::string out_dir;
  std::string stem;
  std::string ext;
  bool matroska = false;
  // Replicas the target names (CountTargetAddresses).
  int replicas = 1;
  // Attempts of one segment whose replica failed mid-way. Default 3.
  int max_attempts = 3;
  // Segments sent at once per replica; the others wait for those to
  // finish. One job already keeps up to 64 frames in a replica's queue
  // (--max_frames_in_flight_per_job), and each call takes one of its stream
  // slots (--max_concurrent_streams, 64): 100 segments sent at once to one
  // replica were refused. Default 4.
  int segments_per_replica = 4;
  // Print per-replica counts and every retry.
  bool verbose = false;
  // Name `input` in the damaged-packets warning (a command of several
  // movies).
  bool name_input = false;
  // Asked between packets while the movie is cut and the outputs joined (no
  // call is in flight then, for Ctrl-C to cancel): true stops the job with
  // "interrupted". Null: client::Interrupted.
  std::function<bool()> stopped;
};

// Runs the job; on success returns the output paths (one per label). Notes
// (retries, per-replica counts) go to `notes` through `progress` when set.
absl::StatusOr<std::vector<std::string>> RunSplitVideo(
    StylizerClient& client, const SplitJob& job, ProgressReporter* progress,
    std::ostream* notes);

}  // namespace stylizer::client

#endif  // STYLIZER_CLIENT_SPLIT_VIDEO_H_
