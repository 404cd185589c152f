// How `stylizer video --split` cuts a movie, or why it does not; see
// split_video.h.
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/movie_split.h"
#include "client/split_video.h"

namespace stylizer::client {

absl::StatusOr<SplitPlan> PlanSplit(const std::string& input,
                                    const SplitRequest& request, bool matroska,
                                    bool drop_audio) {
  auto probe = ProbeForSplit(input);
  if (!probe.ok()) return probe.status();
  SplitPlan plan;
  if (!probe->unsplittable.empty()) {
    plan.note = absl::StrCat("not split: ", probe->unsplittable);
    return plan;
  }
  const std::string& audio =
      matroska ? probe->audio_not_copyable_mkv : probe->audio_not_copyable_mp4;
  if (!drop_audio && probe->has_audio && !audio.empty()) {
    plan.note = absl::StrCat("not split: ", audio,
                             " (split jobs copy the sound from the source)");
    return plan;
  }
  const bool automatic = request.requested <= 0;
  const int wanted = automatic ? request.replicas : request.requested;
  if (wanted < 2) {
    plan.note =
        "not split: the server target names one replica (--split=auto makes "
        "one segment per replica)";
    return plan;
  }
  const double min_seconds = automatic ? request.min_auto_seconds : 0;
  plan.cuts = ChooseCuts(probe->keyframes, probe->duration_seconds, wanted,
                         min_seconds);
  if (plan.cuts.empty()) {
    if (probe->keyframes.size() <= 1 && probe->open_keyframes > 0) {
      plan.note =
          "not split: every keyframe after the first opens its GOP (frames "
          "after it in decode order show before it), so a cut there would "
          "lose frames";
    } else if (probe->keyframes.size() <= 1) {
      plan.note = "not split: the movie has a single keyframe";
    } else if (automatic) {
      plan.note = absl::StrFormat(
          "not split: the movie (%.1f s) is too short for two segments of at "
          "least %.0f s",
          probe->duration_seconds, min_seconds);
    } else {
      plan.note = "not split: no keyframe to cut at";
    }
  } else if (static_cast<int>(plan.cuts.size()) + 1 < wanted) {
    plan.note = absl::StrFormat(
        "split into %d segments, not %d (the movie's keyframes%s allow no "
        "more%s)",
        plan.cuts.size() + 1, wanted, automatic ? " and length" : "",
        probe->open_keyframes > 0
            ? absl::StrFormat("; %d open a GOP and cannot be cut at",
                              probe->open_keyframes)
            : "");
  }
  return plan;
}

}  // namespace stylizer::client
