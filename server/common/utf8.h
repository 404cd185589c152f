// UTF-8 well-formedness, for text that must be UTF-8 (JSON) but may hold
// bytes from elsewhere (an uploaded file, a model archive).
#ifndef STYLIZER_SERVER_COMMON_UTF8_H_
#define STYLIZER_SERVER_COMMON_UTF8_H_

#include <cstddef>

#include "absl/strings/string_view.h"

namespace stylizer {

// The length (1 to 4) of the well-formed UTF-8 sequence that starts at
// text[at], or 0 if none does (RFC 3629: no overlong forms, no surrogates,
// nothing past U+10FFFF; a sequence cut by the end of `text` is not one).
// `at` must be less than text.size().
size_t Utf8SequenceLength(absl::string_view text, size_t at);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_COMMON_UTF8_H_
