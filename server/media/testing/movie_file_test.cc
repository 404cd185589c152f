// See movie_file_test.h.
#include "server/media/testing/movie_file_test.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/media/spool.h"
#include "server/media/testing/test_movies.h"

extern "C" {
#include <libavutil/log.h>
}

namespace stylizer {
namespace media {
namespace testing {
namespace {

// The running suite's directory (suites run one after another).
std::string& SuiteDir() {
  static auto* dir = new std::string;
  return *dir;
}

}  // namespace

ReadResult ReadMovieBytes(const std::string& bytes,
                          const MovieReader::Options& options) {
  ReadResult result;
  auto spool = Spool::Create({});
  if (!spool.ok()) {
    result.status = spool.status();
    return result;
  }
  result.status = (*spool)->Append(bytes);
  if (!result.status.ok()) return result;
  (*spool)->Finish();
  auto reader = MovieReader::Open(spool->get(), options);
  if (!reader.ok()) {
    result.status = reader.status();
    return result;
  }
  result.info = (*reader)->info();
  result.start = (*reader)->video_stream()->start_time;
  while (true) {
    absl::StatusOr<MovieReader::Item> item = (*reader)->Next();
    if (!item.ok()) {
      result.status = item.status();
      break;
    }
    if (item->kind == MovieReader::Item::Kind::kEnd) break;
    if (item->kind == MovieReader::Item::Kind::kVideoFrame &&
        result.first_pts == AV_NOPTS_VALUE) {
      result.first_pts = item->frame->pts;
    }
  }
  result.frames = (*reader)->frames_decoded();
  result.skipped = (*reader)->packets_skipped();
  return result;
}

void MovieFileTest::SetUpTestSuite() {
  av_log_set_level(AV_LOG_QUIET);
  SuiteDir() = MakeTempDir(
      ::testing::UnitTest::GetInstance()->current_test_suite()->name());
}

std::string MovieFileTest::Path(const std::string& name) {
  return absl::StrCat(SuiteDir(), "/", name);
}

void MovieFileTest::Make(const std::string& name, const std::string& args) {
  absl::Status s = MakeMovie(args, Path(name));
  ASSERT_TRUE(s.ok()) << s;
}

std::string MovieFileTest::Bytes(const std::string& name) {
  auto bytes = ReadFile(Path(name));
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.value_or("");
}

}  // namespace testing
}  // namespace media
}  // namespace stylizer
