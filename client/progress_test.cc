// Tests of progress rendering with a fake clock.
#include "client/progress.h"

#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_split.h"

namespace stylizer::client {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(ProgressFormatTest, Pieces) {
  EXPECT_EQ(RenderBar(0.5, 10), "[#####-----]");
  EXPECT_EQ(RenderBar(2, 4), "[####]");
  EXPECT_EQ(RenderBar(-1, 4), "[----]");
  EXPECT_EQ(FormatBytes(999), "999 B");
  EXPECT_EQ(FormatBytes(1500), "1.5 KB");
  EXPECT_EQ(FormatBytes(2600000), "2.6 MB");
  EXPECT_EQ(FormatEta(3.2), "0:04");
  EXPECT_EQ(FormatEta(3723), "1:02:03");
  EXPECT_EQ(FormatEta(-1), "?");
  EXPECT_EQ(FormatEta(3.6e9 - 1), "999999:59:59");
  EXPECT_EQ(FormatEta(1.8446744073709552e19), "?");  // no overflow
  EXPECT_EQ(FormatEta(1e300), "?");
  EXPECT_EQ(FormatFps(0.04), "0.04");
  EXPECT_EQ(FormatFps(31.04), "31.0");
  EXPECT_EQ(FormatFps(0), "0");
  ProgressState st;
  st.frames_done = 40;
  st.frames_estimate = 80;
  st.fps = 10;
  EXPECT_DOUBLE_EQ(EtaSeconds(st), 4);
  st.fps = 0;
  EXPECT_DOUBLE_EQ(EtaSeconds(st), -1);
}

TEST(ProgressFormatTest, Lines) {
  ProgressState st;
  st.upload_sent = 500;
  st.upload_total = 1000;
  EXPECT_THAT(RenderTtyLine(st), HasSubstr("[#####-----]  50%"));
  EXPECT_THAT(RenderTtyLine(st), HasSubstr("waiting for the server"));
  st.accepted = true;
  st.frames_done = 40;
  st.frames_estimate = 80;
  st.fps = 12.34;
  st.outputs = 4;
  const std::string tty = RenderTtyLine(st);
  EXPECT_THAT(tty, HasSubstr("40/80"));
  EXPECT_THAT(tty, HasSubstr("12.3 fps"));
  st.fps = 12.34;
  EXPECT_THAT(tty, HasSubstr("ETA 0:04"));
  const std::string plain = RenderPlainLine(st, absl::Seconds(3));
  EXPECT_THAT(plain, HasSubstr("progress: 3.0s elapsed, upload 50%"));
  EXPECT_THAT(plain, HasSubstr("frames 40 of ~80"));
  EXPECT_THAT(plain, Not(HasSubstr("\r")));
  EXPECT_THAT(plain, HasSubstr("4 outputs"));
  st.outputs = 1;
  EXPECT_THAT(RenderPlainLine(st, absl::Seconds(3)), HasSubstr(" 1 output "));
}

// The live line fits the terminal: at 93 columns on an 80-column one it
// wrapped, and every redraw added a row. Bars shrink, then go.
TEST(ProgressRenderTest, TheLiveLineFitsTheTerminal) {
  ProgressState st;
  st.upload_sent = st.upload_total = 5'000'000;
  st.accepted = true;
  st.frames_done = 12345;
  st.frames_estimate = 67890;
  st.fps = 7.1;
  st.output_bytes = 123'456'789;
  EXPECT_GT(RenderTtyLine(st).size(), 80u);
  for (int columns : {120, 80, 60, 40}) {
    const std::string line = RenderTtyLine(st, columns);
    EXPECT_LT(static_cast<int>(line.size()), columns) << line;
    if (columns >= 60) {
      EXPECT_THAT(line, HasSubstr("12345/67890")) << line;
      EXPECT_THAT(line, HasSubstr("ETA")) << line;
    }
  }
  EXPECT_THAT(RenderTtyLine(st, 120), HasSubstr("[##########] 100%"));
}

TEST(ProgressReporterTest, PlainLinesAreRateLimited) {
  std::ostringstream out;
  absl::Time now = absl::UnixEpoch();
  ProgressReporter::Options o;
  o.out = &out;
  o.now = [&] { return now; };
  ProgressReporter r(o);
  r.OnUpload(10, 100);  // first report draws
  r.OnUpload(20, 100);  // too soon
  now += absl::Seconds(1);
  r.OnUpload(30, 100);  // too soon
  now += absl::Seconds(1);
  r.OnAccepted(10, 2);  // 2 s later: draws
  r.OnFrames(5, 10, 2.5);
  r.Finish();           // always draws
  r.OnFrames(6, 10, 2.5);  // after Finish: nothing more is drawn
  std::vector<std::string> lines = absl::StrSplit(out.str(), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u) << out.str();
  EXPECT_THAT(lines[0], HasSubstr("upload 10%"));
  EXPECT_THAT(lines[1], HasSubstr("upload 30%"));
  EXPECT_THAT(lines[2], HasSubstr("frames 5 of ~10"));
  EXPECT_EQ(r.state().frames_done, 6u);  // the state is still kept
}

TEST(ProgressReporterTest, TtyRedrawsInPlace) {
  std::ostringstream out;
  absl::Time now = absl::UnixEpoch();
  ProgressReporter::Options o;
  o.tty = true;
  o.out = &out;
  o.now = [&] { return now; };
  ProgressReporter r(o);
  r.OnUpload(100, 100);
  now += absl::Seconds(1);
  r.OnAccepted(10, 1);
  r.Finish();
  const std::string s = out.str();
  EXPECT_EQ(s.front(), '\r');
  EXPECT_EQ(s.back(), '\n');
  EXPECT_EQ(std::count(s.begin(), s.end(), '\n'), 1);
  EXPECT_GE(std::count(s.begin(), s.end(), '\r'), 2);
}

TEST(ProgressReporterTest, NotesKeepTheLiveLineIntact) {
  std::ostringstream out;
  ProgressReporter::Options o;
  o.tty = true;
  o.out = &out;
  ProgressReporter r(o);
  r.OnUpload(1, 2);
  r.Note("job 1: accepted");
  const std::string s = out.str();
  // The bar is wiped, the note gets its own line, then the bar comes back.
  const size_t note = s.find("\rjob 1: accepted\n");
  ASSERT_NE(note, std::string::npos) << s;
  EXPECT_NE(s.find("upload [", note), std::string::npos);
  std::ostringstream plain;
  o.tty = false;
  o.out = &plain;
  ProgressReporter p(o);
  p.Note("hello");
  EXPECT_EQ(plain.str(), "hello\n");
}

TEST(ProgressReporterTest, SayNoteGoesThroughTheDisplayWhenThereIsOne) {
  std::ostringstream shown, notes;
  ProgressReporter::Options o;
  o.out = &shown;
  ProgressReporter r(o);
  SayNote(&r, &notes, "retry 1 of 3 in 1s: busy");
  EXPECT_EQ(shown.str(), "retry 1 of 3 in 1s: busy\n");
  EXPECT_EQ(notes.str(), "");
  // Without a display (--progress=none): a line on `notes`.
  SayNote(nullptr, &notes, "segment 2: retry 1 in 1s: busy");
  EXPECT_EQ(notes.str(), "segment 2: retry 1 in 1s: busy\n");
  SayNote(nullptr, nullptr, "nowhere");  // and no crash
}

TEST(ProgressReporterTest, FailureDrawsNoFinalLine) {
  std::ostringstream out;
  ProgressReporter::Options o;
  o.out = &out;
  ProgressReporter r(o);
  r.Finish(false);
  EXPECT_EQ(out.str(), "");
  std::ostringstream tty_out;
  o.tty = true;
  o.out = &tty_out;
  ProgressReporter t(o);
  t.OnUpload(1, 2);
  t.Finish(false);
  EXPECT_EQ(tty_out.str().back(), '\n');  // the bar's line is ended
}

}  // namespace
}  // namespace stylizer::client
