// Text from the server (model and style names, job notes, error messages)
// made safe to print on a terminal. A hostile or broken server could
// otherwise send escape sequences that move the cursor, retitle the window
// or overwrite the command's one error line with text of its own.
#ifndef STYLIZER_CLIENT_TERMINAL_TEXT_H_
#define STYLIZER_CLIENT_TERMINAL_TEXT_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace stylizer::client {

// `text` with every control character (C0, DEL, and C1: U+0080 to U+009F)
// written as \xNN or \u00NN, and every byte that is not part of well-formed
// UTF-8 as \xNN. Printable ASCII and other UTF-8 characters stay as they
// are.
// Also the characters that change the direction or hide in text (U+061C,
// U+200B, U+200E, U+200F, U+202A to U+202E, U+2066 to U+2069, U+FEFF; not
// the joiners U+200C and U+200D, which scripts and emoji need), as \uNNNN:
// a style name with a right-to-left override showed "in.x<U+202E>gnp.exe.png"
// as "in.xexe.png".
std::string TerminalSafe(absl::string_view text);

// The code point of a C1 control or of such a character at `text[i]`
// (`length` bytes of well-formed UTF-8), else 0.
uint32_t HiddenCharacterAt(absl::string_view text, size_t i, size_t length);

}  // namespace stylizer::client

#endif  // STYLIZER_CLIENT_TERMINAL_TEXT_H_
