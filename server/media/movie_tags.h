// What an output movie keeps of its input's tags (container and stream
// metadata): the ones that describe the recording (title, creation_time,
// language, artist, comment, ...), not the ones that describe the input's
// encoding (encoder, brands, handler, Matroska's statistics), which the
// output's muxer writes for itself, nor where it was recorded (location,
// GPS), which a stylized copy made by a service is not asked to pass on.
#ifndef STYLIZER_SERVER_MEDIA_MOVIE_TAGS_H_
#define STYLIZER_SERVER_MEDIA_MOVIE_TAGS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

struct AVDictionary;

namespace stylizer {
namespace media {

// Whether the tag `key` (any case; Matroska's "-eng"-style suffixes
// included) is one an output keeps.
bool KeepsTag(absl::string_view key);

// Adds the kept tags of `in` (may be null) to `*out`. RESOURCE_EXHAUSTED
// when FFmpeg cannot allocate.
absl::Status CopyKeptTags(const AVDictionary* in, AVDictionary** out);

}  // namespace media
}  // namespace stylizer

#endif  // STYLIZER_SERVER_MEDIA_MOVIE_TAGS_H_
