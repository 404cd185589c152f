// Contact sheets: one PNG with a frame of each movie (the input and every
// stylized output) side by side in a grid, each tile captioned. Frames are
// decoded with FFmpeg's libraries and the PNG is encoded with FFmpeg's PNG
// encoder.
#ifndef STYLIZER_CLIENT_CONTACT_SHEET_H_
#define STYLIZER_CLIENT_CONTACT_SHEET_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace stylizer::client {

// Packed RGB24 pixels.
struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;  // width * height * 3 bytes
};

struct ContactSheetOptions {
  // Height of every tile in pixels; widths keep the first movie's aspect
  // ratio as players show it (turned by its rotation). Default 180.
  int tile_height = 180;
  // Columns of the grid; 0 picks ceil(sqrt(tiles)). Default 0.
  int columns = 0;
  // Where in each movie the frame is taken, as a fraction of its duration.
  // Default 0.5 (the middle).
  double position = 0.5;
  // Pixels between tiles and around the sheet. Default 6.
  int gap = 6;
};

// One tile: a movie file and the caption drawn under its frame.
struct ContactSheetTile {
  std::string movie_path;
  std::string caption;
};

// Decodes the frame at `position` (fraction of the duration) of the first
// video stream of `path`, turned as players show it (the stream's display
// rotation, in steps of 90 degrees) and scaled to width x height. Errors
// carry FFmpeg's text.
absl::StatusOr<RgbImage> GrabFrame(const std::string& path, double position,
                                   int width, int height);

// Encodes `image` as PNG bytes.
absl::StatusOr<std::string> EncodePng(const RgbImage& image);

// Draws the sheet of `tiles` and writes it to `png_path` (temp-then-rename).
absl::Status WriteContactSheet(const std::vector<ContactSheetTile>& tiles,
                               const std::string& png_path,
                               const ContactSheetOptions& options = {});

}  // namespace stylizer::client

#endif  // STYLIZER_CLIENT_CONTACT_SHEET_H_
