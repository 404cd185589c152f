// Implementation of the style SPEC parser (see style_spec.h).
#include "client/style_spec.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/terminal_text.h"
#include "server/common/utf8.h"

namespace stylizer::client {
namespace {

using stylizer::v1::ModelInfo;

std::string KnownStyles(const ModelInfo& model) {
  std::vector<std::string> parts;
  for (const auto& s : model.styles()) {
    parts.push_back(absl::StrCat(s.index(), "=", TerminalSafe(s.name())));
  }
  return absl::StrCat("known styles: ", absl::StrJoin(parts, ", "),
                      " (or 'all')");
}

std::string StyleName(const ModelInfo& model, uint32_t index) {
  for (const auto& s : model.styles()) {
    if (s.index() == index && !s.name().empty()) return s.name();
  }
  return absl::StrCat("style", index);
}

// Resolves a style reference (an index or a name) to an index.
absl::StatusOr<uint32_t> ResolveRef(absl::string_view ref,
                                    const ModelInfo& model) {
  uint32_t index = 0;
  // Digits only: an index. A name may start with one ("1920s").
  if (!ref.empty() && std::all_of(ref.begin(), ref.end(), [](char c) {
        return absl::ascii_isdigit(static_cast<unsigned char>(c));
      })) {
    if (!absl::SimpleAtoi(ref, &index)) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad style index '", ref, "'; ", KnownStyles(model)));
    }
    for (const auto& s : model.styles()) {
      if (s.index() == index) return index;
    }
    return absl::InvalidArgumentError(
        absl::StrCat("style index ", index, " is out of range; the model has ",
                     model.styles_size(), " styles; ", KnownStyles(model)));
  }
  for (const auto& s : model.styles()) {
    if (s.name() == ref) return s.index();
  }
  int matches = 0;
  for (const auto& s : model.styles()) {
    if (absl::EqualsIgnoreCase(s.name(), ref)) {
      index = s.index();
      ++matches;
    }
  }
  if (matches == 1) return index;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown style '", ref, "'; ", KnownStyles(model)));
}

struct Term {
  uint32_t index = 0;
  float weight = 1.0f;
  bool has_weight = false;
};

absl::StatusOr<Term> ParseTerm(absl::string_view text, const ModelInfo& model) {
  Term term;
  absl::string_view ref = absl::StripAsciiWhitespace(text);
  const size_t colon = ref.find(':');
  if (colon != absl::string_view::npos) {
    absl::string_view w = absl::StripAsciiWhitespace(ref.substr(colon + 1));
    ref = absl::StripAsciiWhitespace(ref.substr(0, colon));
    if (!absl::SimpleAtof(w, &term.weight) || !std::isfinite(term.weight) ||
        term.weight < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "bad weight '", w, "' in '", text,
          "': a weight is a non-negative number, as in klimt:0.7+mosaic:0.3"));
    }
    term.has_weight = true;
  }
  if (ref.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("missing style name in '", text, "'"));
  }
  auto index = ResolveRef(ref, model);
  if (!index.ok()) return index.status();
  term.index = *index;
  return term;
}

absl::StatusOr<ResolvedStyle> ParseItem(absl::string_view item,
                                        const ModelInfo& model) {
  std::vector<Term> terms;
  std::set<uint32_t> seen;
  for (absl::string_view part : absl::StrSplit(item, '+')) {
    auto term = ParseTerm(part, model);
    if (!term.ok()) return term.status();
    if (!seen.insert(term->index).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("style '", StyleName(model, term->index),
                       "' appears twice in the blend '", item, "'"));
    }
    terms.push_back(*term);
  }
  ResolvedStyle out;
  if (terms.size() == 1) {
    if (terms[0].weight <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("the weight of '", item, "' is zero"));
    }
    out.style.set_index(terms[0].index);
    out.label = SafeLabel(StyleName(model, terms[0].index));
    return out;
  }
  double sum = 0;
  for (const Term& t : terms) sum += t.weight;
  if (sum <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the weights of the blend '", item, "' are all zero"));
  }
  auto* blend = out.style.mutable_blend();
  std::vector<std::string> label_parts;
  for (const Term& t : terms) {
    blend->add_indices(t.index);
    blend->add_weights(static_cast<float>(t.weight / sum));
    label_parts.push_back(absl::StrFormat("%s%.3g", StyleName(model, t.index),
                                          t.weight / sum));
  }
  out.label = SafeLabel(absl::StrJoin(label_parts, "+"));
  return out;
}

}  // namespace

std::string SafeLabel(absl::string_view label) {
  std::string out;
  for (char c : label) {
    // Bytes of UTF-8 characters past ASCII stay ("café", "水墨"): names
    // come from GetModelInfo, whose strings are valid UTF-8.
    const bool ok = absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
                    c == '.' || c == '_' || c == '+' || c == '-' ||
                    static_cast<unsigned char>(c) >= 0x80;
    out.push_back(ok ? c : '_');
  }
  // C1 controls (U+0080..U+009F), which a terminal may obey when the path
  // is printed, and the characters that change the direction or hide, with
  // which a name could show a file name other than the one written, become
  // one '_' each.
  for (size_t i = 0; i < out.size();) {
    const size_t length = Utf8SequenceLength(out, i);
    if (length == 0) {
      ++i;
    } else if (HiddenCharacterAt(out, i, length) != 0) {
      out.replace(i, length, "_");
      ++i;
    } else {
      i += length;
    }
  }
  while (!out.empty() && out[0] == '.') out[0] = '_';
  return out.empty() ? "style" : out;
}

absl::StatusOr<std::vector<ResolvedStyle>> ParseStyleSpec(
    absl::string_view spec, const ModelInfo& model) {
  if (model.styles_size() == 0) {
    return absl::FailedPreconditionError("the server's model has no styles");
  }
  if (absl::StripAsciiWhitespace(spec).empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("empty style list; ", KnownStyles(model)));
  }
  std::vector<ResolvedStyle> out;
  for (absl::string_view raw : absl::StrSplit(spec, ',')) {
    absl::string_view item = absl::StripAsciiWhitespace(raw);
    if (item.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("empty item in style list '", spec, "'"));
    }
    if (absl::EqualsIgnoreCase(item, "all")) {
      for (const auto& s : model.styles()) {
        ResolvedStyle r;
        r.style.set_index(s.index());
        r.label = SafeLabel(StyleName(model, s.index()));
        out.push_back(std::move(r));
      }
      continue;
    }
    auto r = ParseItem(item, model);
    if (!r.ok()) return r.status();
    out.push_back(*std::move(r));
  }
  // The same output twice is an error: the same style, or blends of the
  // same styles with the same normalised weights in any order, terms of
  // weight 0 left out (labels round weights, and two names can clean up to
  // one label: they do not decide).
  std::set<std::vector<std::pair<uint32_t, float>>> outputs;
  for (const ResolvedStyle& r : out) {
    std::vector<std::pair<uint32_t, float>> key;
    if (r.style.has_blend()) {
      for (int i = 0; i < r.style.blend().indices_size(); ++i) {
        if (r.style.blend().weights(i) == 0) continue;
        key.emplace_back(r.style.blend().indices(i),
                         r.style.blend().weights(i));
      }
      std::sort(key.begin(), key.end());
    } else {
      key.emplace_back(r.style.index(), 1.0f);
    }
    if (!outputs.insert(std::move(key)).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "style '", r.label, "' is requested twice in '", spec, "'"));
    }
  }
  // Distinct outputs whose labels meet ("night sky" and "night_sky") get
  // the style's index, or the item's place for a blend, after the label.
  std::set<std::string> labels;
  for (size_t i = 0; i < out.size(); ++i) {
    ResolvedStyle& r = out[i];
    const std::string base = r.label;
    const uint32_t tag =
        r.style.has_blend() ? static_cast<uint32_t>(i + 1) : r.style.index();
    for (int n = 0; !labels.insert(r.label).second; ++n) {
      r.label = n == 0 ? absl::StrCat(base, "-", tag)
                       : absl::StrCat(base, "-", tag, "-", n);
    }
  }
  return out;
}

}  // namespace stylizer::client
