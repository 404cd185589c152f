// The first bytes of every PNG and every JPEG file, for the commands that
// tell a picture from a movie before uploading it.
#ifndef STYLIZER_CLIENT_IMAGE_SIGNATURES_H_
#define STYLIZER_CLIENT_IMAGE_SIGNATURES_H_

#include "absl/strings/string_view.h"

namespace stylizer::client {

inline constexpr absl::string_view kPngSignature("\x89PNG\r\n\x1a\n", 8);
inline constexpr absl::string_view kJpegSignature("\xff\xd8\xff", 3);

}  // namespace stylizer::client

#endif  // STYLIZER_CLIENT_IMAGE_SIGNATURES_H_
