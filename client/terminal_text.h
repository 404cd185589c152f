// Text from the server (model and style names, job notes, error messages)
// made safe to print on a terminal. A hostile or broken server could
// otherwise send escape sequences that move the cursor, retitle the window
// or overwrite the command's one error line with text of its own.
#ifndef STYLIZER_CLIENT_TERMINAL_TEXT_H_
#define STYLIZER_CLIENT_TERMINAL_TEXT_H_

#include <string>

#include "absl/strings/string_view.h"

namespace stylizer::client {

// `text` with every control character (C0, DEL, and C1: U+0080 to U+009F)
// written as \xNN or \u00NN, and every byte that is not part of well-formed
// UTF-8 as \xNN. Printable ASCII and other UTF-8 characters stay as they
// are.
std::string TerminalSafe(absl::string_view text);

}  // namespace stylizer::client

#endif  // STYLIZER_CLIENT_TERMINAL_TEXT_H_
