// TerminalSafe: see terminal_text.h.
#include "client/terminal_text.h"

#include <cstdint>

#include "absl/strings/str_format.h"
#include "server/common/utf8.h"

namespace stylizer::client {

uint32_t HiddenCharacterAt(absl::string_view text, size_t i, size_t length) {
  const auto at = [&](size_t k) { return static_cast<uint8_t>(text[i + k]); };
  // C1 controls: U+0080..U+009F, encoded as C2 80..C2 9F.
  if (length == 2 && at(0) == 0xc2 && at(1) < 0xa0) return at(1);
  if (length == 2 && at(0) == 0xd8 && at(1) == 0x9c) return 0x061c;
  if (length != 3) return 0;
  const uint32_t cp = (uint32_t{at(0)} & 0x0f) << 12 |
                      (uint32_t{at(1)} & 0x3f) << 6 | (at(2) & 0x3f);
  // Not the joiners U+200C and U+200D: Persian, Indic scripts and emoji
  // need them.
  const bool hit = cp == 0x200b || cp == 0x200e || cp == 0x200f ||
                   (cp >= 0x202a && cp <= 0x202e) ||
                   (cp >= 0x2066 && cp <= 0x2069) || cp == 0xfeff;
  return hit ? cp : 0;
}

std::string TerminalSafe(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const auto byte = static_cast<uint8_t>(text[i]);
    const size_t length = Utf8SequenceLength(text, i);
    if (length == 0 || byte < 0x20 || byte == 0x7f) {
      absl::StrAppendFormat(&out, "\\x%02x", byte);
      ++i;
      continue;
    }
    if (const uint32_t cp = HiddenCharacterAt(text, i, length)) {
      absl::StrAppendFormat(&out, "\\u%04x", cp);
      i += length;
      continue;
    }
    out.append(text.data() + i, length);
    i += length;
  }
  return out;
}

}  // namespace stylizer::client
