// A built-in 5x7 pixel font for captions on contact sheets (letters, digits
// and . + - _ : ( ) ?), so that no font library or font file is needed.
#ifndef STYLIZER_CLIENT_TINY_FONT_H_
#define STYLIZER_CLIENT_TINY_FONT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace stylizer::client {

// `text` is UTF-8: each character past ASCII (a style named "café") is one
// '?', as an unknown ASCII one is; it was one per byte.

// Characters (code points) in `text`.
int TextChars(absl::string_view text);

// The first `n` characters of `text` (never half of one).
absl::string_view FirstChars(absl::string_view text, int n);

// `text` in lines of at most `chars` characters, `max_lines` at most; text
// that does not fit ends the last line with ".." in place of its last two
// characters, so that a cut caption shows it was cut.
std::vector<std::string> WrapText(absl::string_view text, int chars,
                                  int max_lines);

// Width in pixels of `text` drawn at `scale` (6 columns per character,
// including one of spacing, times scale).
int TextWidth(absl::string_view text, int scale);

// Draws `text` into a packed RGB24 buffer of `width` x `height` with its top
// left corner at (x, y), each font pixel a scale x scale square of `rgb`.
// Letters are drawn upper-case; unknown characters as '?'; pixels outside the
// buffer are clipped.
void DrawText(absl::string_view text, int x, int y, int scale,
              const uint8_t rgb[3], uint8_t* buffer, int width, int height);

}  // namespace stylizer::client

#endif  // STYLIZER_CLIENT_TINY_FONT_H_
