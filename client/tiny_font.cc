// The 5x7 caption font: five column bytes per glyph, bit 0 = top row.
#include "client/tiny_font.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace stylizer::client {
namespace {

struct Glyph {
  char c;
  uint8_t cols[5];
};

constexpr Glyph kGlyphs[] = {
    {' ', {0x00, 0x00, 0x00, 0x00, 0x00}}, {'A', {0x7C, 0x12, 0x11, 0x12, 0x7C}},
    {'B', {0x7F, 0x49, 0x49, 0x49, 0x36}}, {'C', {0x3E, 0x41, 0x41, 0x41, 0x22}},
    {'D', {0x7F, 0x41, 0x41, 0x22, 0x1C}}, {'E', {0x7F, 0x49, 0x49, 0x49, 0x41}},
    {'F', {0x7F, 0x09, 0x09, 0x09, 0x01}}, {'G', {0x3E, 0x41, 0x49, 0x49, 0x7A}},
    {'H', {0x7F, 0x08, 0x08, 0x08, 0x7F}}, {'I', {0x00, 0x41, 0x7F, 0x41, 0x00}},
    {'J', {0x20, 0x40, 0x41, 0x3F, 0x01}}, {'K', {0x7F, 0x08, 0x14, 0x22, 0x41}},
    {'L', {0x7F, 0x40, 0x40, 0x40, 0x40}}, {'M', {0x7F, 0x02, 0x0C, 0x02, 0x7F}},
    {'N', {0x7F, 0x04, 0x08, 0x10, 0x7F}}, {'O', {0x3E, 0x41, 0x41, 0x41, 0x3E}},
    {'P', {0x7F, 0x09, 0x09, 0x09, 0x06}}, {'Q', {0x3E, 0x41, 0x51, 0x21, 0x5E}},
    {'R', {0x7F, 0x09, 0x19, 0x29, 0x46}}, {'S', {0x46, 0x49, 0x49, 0x49, 0x31}},
    {'T', {0x01, 0x01, 0x7F, 0x01, 0x01}}, {'U', {0x3F, 0x40, 0x40, 0x40, 0x3F}},
    {'V', {0x1F, 0x20, 0x40, 0x20, 0x1F}}, {'W', {0x3F, 0x40, 0x38, 0x40, 0x3F}},
    {'X', {0x63, 0x14, 0x08, 0x14, 0x63}}, {'Y', {0x07, 0x08, 0x70, 0x08, 0x07}},
    {'Z', {0x61, 0x51, 0x49, 0x45, 0x43}}, {'0', {0x3E, 0x51, 0x49, 0x45, 0x3E}},
    {'1', {0x00, 0x42, 0x7F, 0x40, 0x00}}, {'2', {0x42, 0x61, 0x51, 0x49, 0x46}},
    {'3', {0x21, 0x41, 0x45, 0x4B, 0x31}}, {'4', {0x18, 0x14, 0x12, 0x7F, 0x10}},
    {'5', {0x27, 0x45, 0x45, 0x45, 0x39}}, {'6', {0x3C, 0x4A, 0x49, 0x49, 0x30}},
    {'7', {0x01, 0x71, 0x09, 0x05, 0x03}}, {'8', {0x36, 0x49, 0x49, 0x49, 0x36}},
    {'9', {0x06, 0x49, 0x49, 0x29, 0x1E}}, {'.', {0x00, 0x60, 0x60, 0x00, 0x00}},
    {'+', {0x08, 0x08, 0x3E, 0x08, 0x08}}, {'-', {0x08, 0x08, 0x08, 0x08, 0x08}},
    {'_', {0x40, 0x40, 0x40, 0x40, 0x40}}, {':', {0x00, 0x36, 0x36, 0x00, 0x00}},
    {'(', {0x00, 0x1C, 0x22, 0x41, 0x00}}, {')', {0x00, 0x41, 0x22, 0x1C, 0x00}},
    {'?', {0x02, 0x01, 0x51, 0x09, 0x06}},
};

const Glyph& GlyphFor(char c) {
  const char up = absl::ascii_toupper(static_cast<unsigned char>(c));
  for (const Glyph& g : kGlyphs) {
    if (g.c == up) return g;
  }
  return kGlyphs[sizeof(kGlyphs) / sizeof(kGlyphs[0]) - 1];
}

}  // namespace

namespace {

// UTF-8 continuation bytes belong to the character before them.
bool Continues(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

}  // namespace

int TextChars(absl::string_view text) {
  int n = 0;
  for (char c : text) n += Continues(c) ? 0 : 1;
  return n;
}

absl::string_view FirstChars(absl::string_view text, int n) {
  size_t end = 0;
  for (int seen = 0; end < text.size(); ++end) {
    if (!Continues(text[end]) && seen++ == n) break;
  }
  return text.substr(0, end);
}

std::vector<std::string> WrapText(absl::string_view text, int chars,
                                  int max_lines) {
  std::vector<std::string> lines;
  if (chars < 1) return lines;
  while (!text.empty() && static_cast<int>(lines.size()) < max_lines) {
    absl::string_view line = FirstChars(text, chars);
    text.remove_prefix(line.size());
    if (!text.empty() && static_cast<int>(lines.size()) + 1 == max_lines &&
        chars > 2) {
      lines.push_back(absl::StrCat(FirstChars(line, chars - 2), ".."));
      return lines;
    }
    lines.emplace_back(line);
  }
  return lines;
}

int TextWidth(absl::string_view text, int scale) {
  return TextChars(text) * 6 * scale;
}

void DrawText(absl::string_view text, int x, int y, int scale,
              const uint8_t rgb[3], uint8_t* buffer, int width, int height) {
  int index = -1;  // of the character
  for (size_t i = 0; i < text.size(); ++i) {
    if (Continues(text[i])) continue;
    ++index;
    // Past ASCII: '?', whatever its bytes.
    const Glyph& g =
        GlyphFor(static_cast<unsigned char>(text[i]) < 0x80 ? text[i] : '?');
    const int gx = x + index * 6 * scale;
    for (int col = 0; col < 5; ++col) {
      for (int row = 0; row < 7; ++row) {
        if (!(g.cols[col] & (1 << row))) continue;
        for (int dy = 0; dy < scale; ++dy) {
          for (int dx = 0; dx < scale; ++dx) {
            const int px = gx + col * scale + dx;
            const int py = y + row * scale + dy;
            if (px < 0 || py < 0 || px >= width || py >= height) continue;
            uint8_t* p = buffer + (static_cast<size_t>(py) * width + px) * 3;
            p[0] = rgb[0];
            p[1] = rgb[1];
            p[2] = rgb[2];
          }
        }
      }
    }
  }
}

}  // namespace stylizer::client
