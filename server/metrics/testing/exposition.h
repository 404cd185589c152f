// Parses Prometheus text exposition (what /metrics returns) into samples, so
// tests can look series up by name and labels instead of matching strings.
#ifndef STYLIZER_SERVER_METRICS_TESTING_EXPOSITION_H_
#define STYLIZER_SERVER_METRICS_TESTING_EXPOSITION_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace stylizer::testing {

struct Sample {
  std::string name;  // e.g. stylizer_batch_size_bucket
  std::map<std::string, std::string> labels;
  double value = 0;
};

// Parses every sample line; skips comments. InvalidArgument on a line that
// is not `name{labels} value`.
absl::StatusOr<std::vector<Sample>> ParseExposition(absl::string_view text);

// The value of the one sample named `name` whose labels include all of
// `labels`; nullopt when there is none (or more than one).
std::optional<double> FindValue(
    const std::vector<Sample>& samples, absl::string_view name,
    const std::map<std::string, std::string>& labels = {});

// Number of samples named `name`.
int CountSeries(const std::vector<Sample>& samples, absl::string_view name);

}  // namespace stylizer::testing

#endif  // STYLIZER_SERVER_METRICS_TESTING_EXPOSITION_H_
