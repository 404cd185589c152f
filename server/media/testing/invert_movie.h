// Runs a whole movie through the video pipeline with the inverting
// FakeJobQueue, for media tests that check what comes out (audio timing,
// colour tags) rather than the pipeline's own flow.
#ifndef STYLIZER_SERVER_MEDIA_TESTING_INVERT_MOVIE_H_
#define STYLIZER_SERVER_MEDIA_TESTING_INVERT_MOVIE_H_

#include <string>

#include "absl/status/statusor.h"
#include "server/media/video_pipeline.h"

namespace stylizer {
namespace media {
namespace testing {

// The bytes of output 0 of `movie` (a file's bytes) stylized with one style
// by FakeJobQueue. `options` gives the encoder settings (preset, crf,
// container...); its style weights and open_job are set here.
absl::StatusOr<std::string> InvertMovie(const std::string& movie,
                                        VideoPipeline::Options options);

}  // namespace testing
}  // namespace media
}  // namespace stylizer

#endif  // STYLIZER_SERVER_MEDIA_TESTING_INVERT_MOVIE_H_
