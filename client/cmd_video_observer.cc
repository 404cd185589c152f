// The CLI's view of one video job: the server's messages forwarded to the
// outputs and the progress display, with the retry lines and the
// damaged-packets warning; see cmd_video_internal.h.
#include <algorithm>
#include <cstdint>
#include <ostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/cmd_video_internal.h"
#include "client/rpc_errors.h"
#include "client/terminal_text.h"
#include "client/video_outputs.h"

namespace stylizer::client {

void CliVideoObserver::OnUploadProgress(uint64_t sent, uint64_t total) {
  if (progress_) progress_->OnUpload(sent, total);
}

absl::Status CliVideoObserver::OnAccepted(const stylizer::v1::JobAccepted& a) {
  const auto& in = a.input();
  if (progress_) {
    const std::string scaled =
        in.output_width() > 0 && (in.output_width() != in.width() ||
                                  in.output_height() != in.height())
            ? absl::StrFormat(" -> %dx%d", in.output_width(),
                              in.output_height())
            : "";
    // Counter-clockwise, as ffprobe says it of a matrix without a mirror:
    // why a player shows the outputs turned (and mirrored).
    const std::string rotated =
        absl::StrCat(in.rotation_degrees() != 0
                         ? absl::StrFormat(" rotated %d", in.rotation_degrees())
                         : "",
                     in.mirrored() ? " mirrored" : "");
    const std::string hdr =
        in.hdr_transfer().empty()
            ? ""
            : absl::StrCat(" HDR (", in.hdr_transfer(), ") -> SDR");
    progress_->Note(absl::StrFormat(
        "job %s: %dx%d%s%s%s, %.2f fps, %.1f s, ~%d frames, %s%s; %d %s",
        TerminalSafe(a.job_id()), in.width(), in.height(), rotated, scaled,
        TerminalSafe(hdr), in.fps(), in.duration_seconds(),
        in.frames_estimate(), TerminalSafe(in.video_codec()),
        in.has_audio() ? absl::StrCat(" + ", TerminalSafe(in.audio_codec()))
                       : " (no sound)",
        outputs_, outputs_ == 1 ? "output" : "outputs"));
    progress_->OnAccepted(in.frames_estimate(), outputs_);
  }
  return files_->OnAccepted(a);
}

void CliVideoObserver::OnProgress(const stylizer::v1::Progress& p) {
  if (progress_) {
    progress_->OnFrames(p.frames_done(), p.frames_estimate(), p.fps());
  }
}

void CliVideoObserver::OnRetry(const absl::Status& why, absl::Duration wait,
                               int retry) {
  SayNote(progress_, notes_,
          absl::StrCat("retry ", retry, " of ", max_retries_, " in ",
                       absl::FormatDuration(wait), ": ", ErrorLine(why)));
}

absl::Status CliVideoObserver::OnChunk(uint32_t index, absl::string_view data) {
  if (progress_) progress_->OnOutputBytes(data.size());
  return files_->OnChunk(index, data);
}

absl::Status CliVideoObserver::OnSummary(const stylizer::v1::JobSummary& s) {
  if (progress_) {
    uint64_t frames = 0;
    for (const auto& o : s.outputs()) frames = std::max(frames, o.frames());
    const auto st = progress_->state();
    progress_->OnFrames(frames, frames, st.fps);
  }
  if (const std::string warning = SkippedPacketsWarning(s, input_);
      !warning.empty()) {
    SayNote(progress_, notes_, warning);
  }
  return files_->OnSummary(s);
}

}  // namespace stylizer::client
