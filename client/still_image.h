// Whether a file given to `stylizer video` is a still picture: a PNG or a
// JPEG makes a movie of one frame per style, and `stylizer image` was often
// meant (the command says so in a note).
#ifndef STYLIZER_CLIENT_STILL_IMAGE_H_
#define STYLIZER_CLIENT_STILL_IMAGE_H_

#include <string>

#include "absl/strings/string_view.h"

namespace stylizer::client {

// "PNG" or "JPEG" when the file at `path` is such a still picture; empty
// otherwise (a movie, an animated PNG, an unreadable file: the upload then
// says what is wrong). Reads the signature, and a PNG's chunk headers up to
// its first image data, where an animated PNG has its acTL.
absl::string_view StillImageKind(const std::string& path);

}  // namespace stylizer::client

#endif  // STYLIZER_CLIENT_STILL_IMAGE_H_
