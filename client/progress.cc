// Terminal bars and plain progress lines; see progress.h.
#include "client/progress.h"

#include <sys/ioctl.h>

#include <algorithm>
#include <cmath>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace stylizer::client {

std::string RenderBar(double fraction, int width) {
  if (!std::isfinite(fraction)) fraction = 0;
  fraction = std::clamp(fraction, 0.0, 1.0);
  const int full = static_cast<int>(std::lround(fraction * width));
  return absl::StrCat("[", std::string(full, '#'),
                      std::string(width - full, '-'), "]");
}

std::string FormatBytes(uint64_t bytes) {
  if (bytes < 1000) return absl::StrCat(bytes, " B");
  const char* units[] = {"KB", "MB", "GB", "TB"};
  double v = static_cast<double>(bytes);
  int u = -1;
  while (v >= 1000 && u < 3) {
    v /= 1000;
    ++u;
  }
  return absl::StrFormat("%.1f %s", v, units[u]);
}

std::string FormatEta(double seconds) {
  // Past a million hours (a server's estimate gone wild) there is nothing
  // to show, and the count would not fit an integer.
  if (!std::isfinite(seconds) || seconds < 0 || seconds >= 3.6e9) return "?";
  const int64_t s = static_cast<int64_t>(std::ceil(seconds));
  if (s >= 3600) {
    return absl::StrFormat("%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
  }
  return absl::StrFormat("%d:%02d", s / 60, s % 60);
}

std::string FormatFps(double fps) {
  if (!std::isfinite(fps) || fps <= 0) return "0";
  return fps < 10 ? absl::StrFormat("%.2f", fps) : absl::StrFormat("%.1f", fps);
}

double EtaSeconds(const ProgressState& st) {
  if (st.frames_estimate == 0 || st.fps <= 0) return -1;
  if (st.frames_done >= st.frames_estimate) return 0;
  return static_cast<double>(st.frames_estimate - st.frames_done) / st.fps;
}

namespace {

// The terminal line with bars of these widths (0: no bar).
std::string RenderTtyLineWithBars(const ProgressState& st, int upload_bar,
                                  int frames_bar) {
  std::string line = "upload ";
  if (st.upload_total > 0) {
    const double f = static_cast<double>(st.upload_sent) / st.upload_total;
    if (upload_bar > 0) absl::StrAppend(&line, RenderBar(f, upload_bar), " ");
    absl::StrAppend(&line,
                    absl::StrFormat("%3d%%", static_cast<int>(f * 100 + 1e-9)));
  } else {
    absl::StrAppend(&line, FormatBytes(st.upload_sent));
  }
  if (!st.accepted) return absl::StrCat(line, "  waiting for the server...");
  absl::StrAppend(&line, "  frames ");
  if (st.frames_estimate > 0) {
    if (frames_bar > 0) {
      absl::StrAppend(
          &line,
          RenderBar(static_cast<double>(st.frames_done) / st.frames_estimate,
                    frames_bar),
          " ");
    }
    absl::StrAppend(&line, st.frames_done, "/", st.frames_estimate);
  } else {
    absl::StrAppend(&line, st.frames_done);
  }
  absl::StrAppend(&line, absl::StrFormat("  %s fps  ETA %s  out %s", FormatFps(st.fps),
                                         FormatEta(EtaSeconds(st)),
                                         FormatBytes(st.output_bytes)));
  return line;
}

}  // namespace

std::string RenderTtyLine(const ProgressState& st, int columns) {
  // Narrower bars, then none, until the line fits: a line wider than the
  // terminal wraps, and each redraw then added a row (93 columns on 80).
  for (const auto [upload_bar, frames_bar] :
       {std::pair{10, 20}, std::pair{0, 20}, std::pair{0, 10},
        std::pair{0, 0}}) {
    std::string line = RenderTtyLineWithBars(st, upload_bar, frames_bar);
    if (columns <= 0 || static_cast<int>(line.size()) < columns) return line;
  }
  std::string line = RenderTtyLineWithBars(st, 0, 0);
  line.resize(static_cast<size_t>(columns - 1));
  return line;
}

std::string RenderPlainLine(const ProgressState& st, absl::Duration elapsed) {
  std::string line = absl::StrFormat("progress: %.1fs elapsed, upload ",
                                     absl::ToDoubleSeconds(elapsed));
  if (st.upload_total > 0) {
    absl::StrAppend(&line,
                    static_cast<int>(100.0 * st.upload_sent / st.upload_total),
                    "% (", FormatBytes(st.upload_sent), " of ",
                    FormatBytes(st.upload_total), ")");
  } else {
    absl::StrAppend(&line, FormatBytes(st.upload_sent));
  }
  if (!st.accepted) return absl::StrCat(line, ", waiting for the server");
  absl::StrAppend(&line, ", frames ", st.frames_done);
  if (st.frames_estimate > 0) {
    absl::StrAppend(&line, " of ~", st.frames_estimate);
  }
  absl::StrAppend(
      &line, absl::StrFormat(", %s fps, ETA %s, %d %s %s", FormatFps(st.fps),
                             FormatEta(EtaSeconds(st)), st.outputs,
                             st.outputs == 1 ? "output" : "outputs",
                             FormatBytes(st.output_bytes)));
  return line;
}

ProgressReporter::ProgressReporter(Options options)
    : options_(std::move(options)),
      out_(options_.out ? options_.out : &std::cerr),
      start_(options_.now ? options_.now() : absl::Now()) {}

void ProgressReporter::OnUpload(uint64_t sent, uint64_t total) {
  absl::MutexLock lock(&mu_);
  state_.upload_sent = sent;
  state_.upload_total = total;
  MaybeDraw(false);
}

void ProgressReporter::OnAccepted(uint64_t frames_estimate, int outputs) {
  absl::MutexLock lock(&mu_);
  state_.accepted = true;
  state_.frames_estimate = frames_estimate;
  state_.outputs = outputs;
  MaybeDraw(false);
}

void ProgressReporter::OnFrames(uint64_t done, uint64_t estimate, double fps) {
  absl::MutexLock lock(&mu_);
  state_.frames_done = done;
  if (estimate > 0) state_.frames_estimate = estimate;
  state_.fps = fps;
  MaybeDraw(false);
}

void ProgressReporter::OnOutputBytes(uint64_t bytes) {
  absl::MutexLock lock(&mu_);
  state_.output_bytes += bytes;
  MaybeDraw(false);
}

void ProgressReporter::Note(const std::string& line) {
  absl::MutexLock lock(&mu_);
  if (options_.tty && drawn_ && !finished_) {
    *out_ << "\r" << std::string(last_width_, ' ') << "\r" << line << "\n";
    last_draw_ = absl::InfinitePast();
    MaybeDraw(true);
  } else {
    *out_ << line << "\n";
  }
  out_->flush();
}

void ProgressReporter::Finish(bool success) {
  absl::MutexLock lock(&mu_);
  if (finished_) return;
  if (success) MaybeDraw(true);
  if (options_.tty && drawn_) *out_ << "\n";
  out_->flush();
  finished_ = true;
}

ProgressState ProgressReporter::state() const {
  absl::MutexLock lock(&mu_);
  return state_;
}

void ProgressReporter::MaybeDraw(bool force) {
  if (finished_) return;
  const absl::Time now = options_.now ? options_.now() : absl::Now();
  const absl::Duration interval =
      options_.tty ? options_.tty_interval : options_.plain_interval;
  if (!force && now - last_draw_ < interval) return;
  last_draw_ = now;
  drawn_ = true;
  if (options_.tty) {
    std::string line = RenderTtyLine(state_, options_.columns);
    const size_t width = line.size();
    if (width < last_width_) line.append(last_width_ - width, ' ');
    last_width_ = width;
    *out_ << "\r" << line;
  } else {
    *out_ << RenderPlainLine(state_, now - start_) << "\n";
  }
  out_->flush();
}

int TerminalColumns(int fd) {
  struct winsize size {};
  if (ioctl(fd, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) {
    return size.ws_col;
  }
  return 80;
}

void SayNote(ProgressReporter* progress, std::ostream* notes,
             const std::string& line) {
  if (progress != nullptr) {
    progress->Note(line);
  } else if (notes != nullptr) {
    *notes << line << std::endl;
  }
}

}  // namespace stylizer::client
