// Parsing of the two JSON files inside a serving archive (see
// docs/model-runtime.md): stylizer/styles.json (the style names in index
// order) and stylizer/model.json (the model's name and notes). Free of
// LibTorch so that it can be tested and fuzzed on its own.
#ifndef STYLIZER_SERVER_MODEL_ARCHIVE_METADATA_H_
#define STYLIZER_SERVER_MODEL_ARCHIVE_METADATA_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace stylizer {

// Paths of the metadata files inside the archive.
inline constexpr char kStylesJsonPath[] = "stylizer/styles.json";
inline constexpr char kModelJsonPath[] = "stylizer/model.json";

// Parses styles.json: a JSON array of {"index": i, "name": "..."} objects
// whose indices are 0..N-1, each once (any order), names non-empty and
// unique. Returns the names in index order. Zero styles is an error.
absl::StatusOr<std::vector<std::string>> ParseStylesJson(absl::string_view json);

// Parses model.json (a JSON object) and returns its "name" string, or
// `fallback` when the object has no "name". Invalid JSON is an error.
absl::StatusOr<std::string> ParseModelName(absl::string_view json,
                                           absl::string_view fallback);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_MODEL_ARCHIVE_METADATA_H_
