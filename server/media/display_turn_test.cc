// Tests of reading a display matrix (GetDisplayTurn) and of the EXIF
// orientation that shows it (UprightOrientation), on FFmpeg's own matrices.
#include <cstdint>
#include <cstring>

#include "gtest/gtest.h"
#include "server/media/av_util.h"
#include "server/media/rgb_turn.h"
#include "server/media/testing/test_movies.h"

extern "C" {
#include <libavformat/avformat.h>
#include <libavutil/display.h>
}

namespace stylizer {
namespace media {
namespace {

// The matrix FFmpeg's MJPEG decoder gives a JPEG with EXIF orientation
// `orientation` (1-8): a clockwise angle, then for 2, 4, 5 and 7 a mirror.
void ExifMatrix(int orientation, int32_t matrix[9]) {
  const double clockwise[] = {0, 0, 0, 180, 180, 90, 90, -90, -90};
  av_display_rotation_set(matrix, clockwise[orientation]);
  const bool mirror = orientation == 2 || orientation == 4 ||
                      orientation == 5 || orientation == 7;
  if (mirror) av_display_matrix_flip(matrix, /*hflip=*/1, /*vflip=*/0);
}

DisplayTurn StreamTurn(const int32_t matrix[9]) {
  testing::BareStream bare;
  EXPECT_NE(bare.stream(), nullptr);
  uint8_t* data = av_stream_new_side_data(
      bare.stream(), AV_PKT_DATA_DISPLAYMATRIX, 9 * sizeof(int32_t));
  EXPECT_NE(data, nullptr);
  std::memcpy(data, matrix, 9 * sizeof(int32_t));
  return GetDisplayTurn(bare.stream());
}

TEST(DisplayTurnTest, EveryExifOrientationComesBack) {
  const DisplayTurn want[] = {{},           {0, false},  {0, true},
                              {180, false}, {180, true}, {270, true},
                              {270, false}, {90, true},  {90, false}};
  for (int orientation = 1; orientation <= 8; ++orientation) {
    SCOPED_TRACE(orientation);
    int32_t matrix[9];
    ExifMatrix(orientation, matrix);
    const DisplayTurn turn = StreamTurn(matrix);
    EXPECT_EQ(turn.ccw_degrees, want[orientation].ccw_degrees);
    EXPECT_EQ(turn.mirrored, want[orientation].mirrored);
    EXPECT_EQ(UprightOrientation(turn.ccw_degrees, turn.mirrored), orientation);
    // A photo's frame carries the same matrix.
    AvFramePtr frame = MakeFrame();
    AVFrameSideData* side = av_frame_new_side_data(
        frame.get(), AV_FRAME_DATA_DISPLAYMATRIX, 9 * sizeof(int32_t));
    ASSERT_NE(side, nullptr);
    std::memcpy(side->data, matrix, 9 * sizeof(int32_t));
    EXPECT_EQ(GetDisplayTurn(frame.get()).ccw_degrees, turn.ccw_degrees);
    EXPECT_EQ(GetDisplayTurn(frame.get()).mirrored, turn.mirrored);
  }
}

// A pure mirror, as a front camera's movie may carry it: FFmpeg reads its
// angle as 180 (av_display_rotation_get), and it was reported so.
TEST(DisplayTurnTest, APureMirrorIsNoTurn) {
  const int32_t mirror[9] = {-65536, 0, 0, 0, 65536, 0, 0, 0, 1 << 30};
  const DisplayTurn turn = StreamTurn(mirror);
  EXPECT_EQ(turn.ccw_degrees, 0);
  EXPECT_TRUE(turn.mirrored);
  // Upside down (a mirror top-bottom) is a half turn, then a mirror.
  const int32_t flip[9] = {65536, 0, 0, 0, -65536, 0, 0, 0, 1 << 30};
  EXPECT_EQ(StreamTurn(flip).ccw_degrees, 180);
  EXPECT_TRUE(StreamTurn(flip).mirrored);
  // The largest mirror a hostile file can write (INT32_MIN has no negative).
  const int32_t huge[9] = {INT32_MIN, 0, 0, 0, 65536, 0, 0, 0, 1 << 30};
  EXPECT_EQ(StreamTurn(huge).ccw_degrees, 0);
  EXPECT_TRUE(StreamTurn(huge).mirrored);
}

TEST(DisplayTurnTest, NoMatrixIsNoTurn) {
  testing::BareStream bare;
  ASSERT_NE(bare.stream(), nullptr);
  EXPECT_EQ(GetDisplayTurn(bare.stream()).ccw_degrees, 0);
  EXPECT_FALSE(GetDisplayTurn(bare.stream()).mirrored);
  // A matrix that is not one (scale 0) is none either.
  const int32_t zero[9] = {};
  EXPECT_EQ(StreamTurn(zero).ccw_degrees, 0);
  EXPECT_FALSE(StreamTurn(zero).mirrored);
}

}  // namespace
}  // namespace media
}  // namespace stylizer
