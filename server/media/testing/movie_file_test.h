// A gtest fixture for MovieReader tests on real files: each suite makes its
// movies with the ffmpeg tool into one temporary directory, and reads them
// back to the end through a spool, as the service does.
#ifndef STYLIZER_SERVER_MEDIA_TESTING_MOVIE_FILE_TEST_H_
#define STYLIZER_SERVER_MEDIA_TESTING_MOVIE_FILE_TEST_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "server/media/movie_reader.h"

namespace stylizer {
namespace media {
namespace testing {

// What reading a movie to its end gave.
struct ReadResult {
  absl::Status status;  // of Open, or of the Next that failed
  MovieInfo info;
  int64_t frames = 0;
  int64_t skipped = 0;  // packets the decoder refused
  // The video stream's start after Open, and the first frame's time, in the
  // stream's time base.
  int64_t start = AV_NOPTS_VALUE;
  int64_t first_pts = AV_NOPTS_VALUE;
};

// Spools `bytes` whole and reads every item with a MovieReader.
ReadResult ReadMovieBytes(const std::string& bytes,
                          const MovieReader::Options& options = {});

class MovieFileTest : public ::testing::Test {
 protected:
  // Silences FFmpeg's log and makes the suite's directory.
  static void SetUpTestSuite();

  static std::string Path(const std::string& name);
  // Makes `name` with `ffmpeg <args>`; a failure is fatal to the test when
  // called inside ASSERT_NO_FATAL_FAILURE.
  static void Make(const std::string& name, const std::string& args);
  // The file's bytes; "" (and a failed expectation) when unreadable.
  static std::string Bytes(const std::string& name);
  static ReadResult Read(const std::string& name) {
    return ReadMovieBytes(Bytes(name));
  }
};

}  // namespace testing
}  // namespace media
}  // namespace stylizer

#endif  // STYLIZER_SERVER_MEDIA_TESTING_MOVIE_FILE_TEST_H_
