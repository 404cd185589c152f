// Prometheus text-format parser for tests; see exposition.h.
#include "server/metrics/testing/exposition.h"

#include <cmath>
#include <limits>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace stylizer::testing {
namespace {

absl::Status Bad(absl::string_view line, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("bad exposition line (", why, "): ", line));
}

bool ParseNumber(absl::string_view text, double* value) {
  if (text == "+Inf") {
    *value = std::numeric_limits<double>::infinity();
    return true;
  }
  if (text == "-Inf") {
    *value = -std::numeric_limits<double>::infinity();
    return true;
  }
  if (text == "NaN") {
    *value = std::nan("");
    return true;
  }
  return absl::SimpleAtod(text, value);
}

}  // namespace

absl::StatusOr<std::vector<Sample>> ParseExposition(absl::string_view text) {
  std::vector<Sample> samples;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (line.front() == '#') continue;
    Sample sample;
    size_t pos = line.find_first_of("{ ");
    if (pos == absl::string_view::npos) return Bad(line, "no value");
    sample.name = std::string(line.substr(0, pos));
    if (line[pos] == '{') {
      ++pos;
      while (pos < line.size() && line[pos] != '}') {
        const size_t eq = line.find("=\"", pos);
        if (eq == absl::string_view::npos) return Bad(line, "label");
        std::string key(line.substr(pos, eq - pos));
        std::string value;
        size_t i = eq + 2;
        for (; i < line.size() && line[i] != '"'; ++i) {
          if (line[i] == '\\' && i + 1 < line.size()) {
            ++i;
            value.push_back(line[i] == 'n' ? '\n' : line[i]);
          } else {
            value.push_back(line[i]);
          }
        }
        if (i >= line.size()) return Bad(line, "unterminated label value");
        sample.labels[key] = value;
        pos = i + 1;
        if (pos < line.size() && line[pos] == ',') ++pos;
      }
      if (pos >= line.size()) return Bad(line, "unterminated labels");
      ++pos;  // '}'
    }
    absl::string_view rest =
        absl::StripLeadingAsciiWhitespace(line.substr(pos));
    // An optional timestamp may follow the value.
    absl::string_view value_text = rest.substr(0, rest.find(' '));
    if (!ParseNumber(value_text, &sample.value)) return Bad(line, "value");
    samples.push_back(std::move(sample));
  }
  return samples;
}

std::optional<double> FindValue(
    const std::vector<Sample>& samples, absl::string_view name,
    const std::map<std::string, std::string>& labels) {
  std::optional<double> found;
  for (const Sample& sample : samples) {
    if (sample.name != name) continue;
    bool match = true;
    for (const auto& [key, value] : labels) {
      auto it = sample.labels.find(key);
      if (it == sample.labels.end() || it->second != value) {
        match = false;
        break;
      }
    }
    if (!match) continue;
    if (found.has_value()) return std::nullopt;  // ambiguous
    found = sample.value;
  }
  return found;
}

int CountSeries(const std::vector<Sample>& samples, absl::string_view name) {
  int count = 0;
  for (const Sample& sample : samples) count += sample.name == name ? 1 : 0;
  return count;
}

}  // namespace stylizer::testing
