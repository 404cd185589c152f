// TerminalSafe: see terminal_text.h.
#include "client/terminal_text.h"

#include <cstdint>

#include "absl/strings/str_format.h"
#include "server/common/utf8.h"

namespace stylizer::client {

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
    // C1 controls: U+0080..U+009F, encoded as C2 80..C2 9F.
    if (length == 2 && byte == 0xc2 &&
        static_cast<uint8_t>(text[i + 1]) < 0xa0) {
      absl::StrAppendFormat(&out, "\\u%04x", static_cast<uint8_t>(text[i + 1]));
      i += 2;
      continue;
    }
    out.append(text.data() + i, length);
    i += length;
  }
  return out;
}

}  // namespace stylizer::client
