// The input tags an output keeps; see movie_tags.h.
#include "server/media/movie_tags.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

extern "C" {
#include <libavutil/dict.h>
}

namespace stylizer {
namespace media {

bool KeepsTag(absl::string_view key) {
  std::string lower = absl::AsciiStrToLower(key);
  // Where it was recorded: "location", "location-eng", Apple's
  // "com.apple.quicktime.location.ISO6709", any GPS tag.
  if (absl::StrContains(lower, "location") || absl::StrContains(lower, "gps")) {
    return false;
  }
  // Matroska writes per-language variants ("DURATION-eng").
  if (const size_t dash = lower.rfind('-'); dash != std::string::npos) {
    lower.resize(dash);
  }
  // How the input was encoded and muxed: the output's muxer and encoder say
  // their own; a copied timecode or rotation would contradict the output.
  for (absl::string_view dropped :
       {"encoder", "major_brand", "minor_version", "compatible_brands",
        "handler_name", "vendor_id", "duration", "bps", "number_of_frames",
        "number_of_bytes", "timecode", "rotate"}) {
    if (lower == dropped) return false;
  }
  return !absl::StartsWith(lower, "_statistics_");
}

absl::Status CopyKeptTags(const AVDictionary* in, AVDictionary** out) {
  const AVDictionaryEntry* entry = nullptr;
  while ((entry = av_dict_get(in, "", entry, AV_DICT_IGNORE_SUFFIX)) !=
         nullptr) {
    if (!KeepsTag(entry->key)) continue;
    if (av_dict_set(out, entry->key, entry->value, 0) < 0) {
      return absl::ResourceExhaustedError("out of memory copying tags");
    }
  }
  return absl::OkStatus();
}

}  // namespace media
}  // namespace stylizer
