// FFmpeg's complaints about an upload that was abandoned (a client's
// cancel, a full disk) are dropped: "moov atom not found" followed every
// cancelled upload in the server's log, with no job, reading like a broken
// file. Its own binary: it replaces FFmpeg's log callback.
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "server/media/av_util.h"
#include "server/media/movie_reader.h"
#include "server/media/spool.h"
#include "server/media/testing/test_movies.h"

extern "C" {
#include <libavutil/log.h>
}

namespace stylizer {
namespace media {
namespace {

absl::Mutex g_mu;
std::vector<std::string>* g_lines = new std::vector<std::string>;

// As the server's callback (server/library_logs.cc): errors, unless this
// thread's FFmpeg lines are quiet.
void Record(void*, int level, const char* format, va_list args) {
  if (level > AV_LOG_ERROR || FfmpegLogsQuietOnThisThread()) return;
  char line[1024];
  vsnprintf(line, sizeof(line), format, args);
  absl::MutexLock lock(&g_mu);
  g_lines->push_back(line);
}

std::vector<std::string> TakeLines() {
  absl::MutexLock lock(&g_mu);
  return std::exchange(*g_lines, {});
}

// Opens a reader on the first half of an MP4 whose index is at its end (so
// the probe waits for the rest), then ends the upload: abandoned, or
// finished as it is (cut short).
absl::Status OpenHalf(bool abandon) {
  static const std::string* movie = [] {
    const std::string path =
        testing::MakeTempDir("abandoned-upload-logs-test") + "/late_index.mp4";
    auto made = testing::MakeMovie(
        "-f lavfi -i testsrc2=size=160x96:rate=10:duration=3 -c:v libx264 "
        "-preset ultrafast -pix_fmt yuv420p",
        path);
    return new std::string(testing::ReadFile(path).value_or(""));
  }();
  auto spool = Spool::Create({});
  if (!spool.ok()) return spool.status();
  if (absl::Status s = (*spool)->Append(movie->substr(0, movie->size() / 2));
      !s.ok()) {
    return s;
  }
  std::thread ender([&] {
    absl::SleepFor(absl::Milliseconds(300));  // the probe waits by then
    if (abandon) {
      (*spool)->Abort(absl::CancelledError("the call ended"));
    } else {
      (*spool)->Finish();
    }
  });
  absl::StatusOr<std::unique_ptr<MovieReader>> reader =
      MovieReader::Open(spool->get(), {});
  ender.join();
  return reader.status();
}

TEST(AbandonedUploadLogsTest,
     FfmpegsComplaintsAboutAnAbandonedUploadAreDropped) {
  av_log_set_level(AV_LOG_ERROR);
  av_log_set_callback(&Record);
  // Cut short: FFmpeg's complaint is the news, and stays.
  EXPECT_FALSE(OpenHalf(/*abandon=*/false).ok());
  EXPECT_FALSE(TakeLines().empty());
  // Abandoned: the call's own status says it all.
  const absl::Status abandoned = OpenHalf(/*abandon=*/true);
  EXPECT_TRUE(absl::IsCancelled(abandoned)) << abandoned;
  const std::vector<std::string> lines = TakeLines();
  EXPECT_TRUE(lines.empty()) << lines.front();
  // The quiet ended with the reader's call: this thread logs again.
  EXPECT_FALSE(FfmpegLogsQuietOnThisThread());
}

}  // namespace
}  // namespace media
}  // namespace stylizer
