// Parses the CLI's style SPEC ("all", indices, names, blends such as
// "klimt:0.7+waves:0.3", comma-separated) against a model's style list into
// the API's Style messages, each with a label used in output file names.
#ifndef STYLIZER_CLIENT_STYLE_SPEC_H_
#define STYLIZER_CLIENT_STYLE_SPEC_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "stylizer/v1/stylizer.pb.h"

namespace stylizer::client {

// One requested output: what to send and what to call it.
struct ResolvedStyle {
  // The style as the API takes it: an index, or a blend of indices.
  stylizer::v1::Style style;
  // File-name-safe label: the style's name ("klimt"), or for a blend its
  // terms joined by '+' with their normalised weights ("klimt0.7+waves0.3").
  std::string label;
};

// Parses SPEC against the styles of `model`.
//
// Grammar: SPEC := ITEM (',' ITEM)*; ITEM := 'all' | TERM ('+' TERM)*;
// TERM := (INDEX | NAME) [':' WEIGHT]. A lone TERM selects one style (its
// weight, if any, is irrelevant); several TERMs joined by '+' make a blend
// (weights default to 1, must be >= 0, not all 0, and are normalised to sum 1).
// Names match exactly, else case-insensitively when that is unambiguous.
// Errors (InvalidArgument, with a message naming the bad part and the known
// styles): empty spec or item, unknown name, index out of range, bad weight,
// a style repeated inside a blend, the same output requested twice.
absl::StatusOr<std::vector<ResolvedStyle>> ParseStyleSpec(
    absl::string_view spec, const stylizer::v1::ModelInfo& model);

// Makes `label` safe as part of a file name: keeps [A-Za-z0-9._+-], turns
// anything else into '_', never returns "" ("style").
std::string SafeLabel(absl::string_view label);

}  // namespace stylizer::client

#endif  // STYLIZER_CLIENT_STYLE_SPEC_H_
