// What MovieReader refuses, and what it says: frames over the decode limit
// fail with their size and what to do. Movies are made with the ffmpeg
// tool.
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/media/movie_reader.h"
#include "server/media/testing/test_movies.h"

extern "C" {
#include <libavutil/log.h>
}

namespace stylizer {
namespace media {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

// What reading a movie to its end gave.
struct ReadResult {
  absl::Status status;  // of Open, or of the Next that failed
  int64_t frames = 0;
};

ReadResult ReadBytes(const std::string& bytes, int64_t max_decode_pixels) {
  ReadResult result;
  auto spool = Spool::Create({});
  if (!spool.ok()) {
    result.status = spool.status();
    return result;
  }
  result.status = (*spool)->Append(bytes);
  if (!result.status.ok()) return result;
  (*spool)->Finish();
  MovieReader::Options options;
  options.max_decode_pixels = max_decode_pixels;
  auto reader = MovieReader::Open(spool->get(), options);
  if (!reader.ok()) {
    result.status = reader.status();
    return result;
  }
  while (true) {
    absl::StatusOr<MovieReader::Item> item = (*reader)->Next();
    if (!item.ok()) {
      result.status = item.status();
      break;
    }
    if (item->kind == MovieReader::Item::Kind::kEnd) break;
  }
  result.frames = (*reader)->frames_decoded();
  return result;
}

class MovieReaderRefusalTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    av_log_set_level(AV_LOG_QUIET);
    dir_ = new std::string(testing::MakeTempDir("movie-reader-refusal-test"));
  }

  static std::string Path(const std::string& name) {
    return absl::StrCat(*dir_, "/", name);
  }

  // Makes `name` with `ffmpeg <args>`.
  static void Make(const std::string& name, const std::string& args) {
    absl::Status s = testing::MakeMovie(args, Path(name));
    ASSERT_TRUE(s.ok()) << s;
  }

  static std::string Bytes(const std::string& name) {
    auto bytes = testing::ReadFile(Path(name));
    EXPECT_TRUE(bytes.ok()) << bytes.status();
    return bytes.value_or("");
  }

  static std::string* dir_;
};

std::string* MovieReaderRefusalTest::dir_ = nullptr;

// The limit of these tests: under 640x480.
constexpr int64_t kLimit = 256 * 256;

// Frames over the limit from the start are refused by the probe, with what
// to do: max_side would not help, the frames must be made smaller.
TEST_F(MovieReaderRefusalTest, FramesOverTheLimitSayHowToFit) {
  ASSERT_NO_FATAL_FAILURE(
      Make("big.mkv",
           "-f lavfi -i testsrc=s=640x480:r=5:d=0.4 -c:v libx264 "
           "-preset ultrafast"));
  ReadResult read = ReadBytes(Bytes("big.mkv"), kLimit);
  EXPECT_EQ(read.status.code(), absl::StatusCode::kInvalidArgument)
      << read.status;
  EXPECT_THAT(std::string(read.status.message()),
              AllOf(HasSubstr("the input's frames (640x480) are larger than "
                              "the limit of 65536 pixels (256x256)"),
                    HasSubstr("max_side cannot help"),
                    HasSubstr("scale the movie down before sending it, e.g. "
                              "ffmpeg -i in.mp4 -vf scale=256:256:force_"
                              "original_aspect_ratio=decrease:force_"
                              "divisible_by=2 out.mp4")));
  // A limit that is no square names the largest square within it.
  read = ReadBytes(Bytes("big.mkv"), 300 * 200);
  EXPECT_THAT(std::string(read.status.message()),
              HasSubstr("the limit of 60000 pixels (244x244 fits)"));
}

}  // namespace
}  // namespace media
}  // namespace stylizer
