// A small recursive-descent JSON reader (RFC 8259 values, UTF-8 passed
// through, \u escapes of the Basic Multilingual Plane) and the two archive
// metadata parsers built on it.
#include "server/model/archive_metadata.h"

#include <cmath>
#include <map>
#include <memory>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/common/utf8.h"

namespace stylizer {
namespace {

struct JsonValue {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<JsonValue> array;
  std::vector<std::pair<std::string, JsonValue>> object;

  const JsonValue* Find(absl::string_view key) const {
    for (const auto& [k, v] : object) {
      if (k == key) return &v;
    }
    return nullptr;
  }
};

class JsonReader {
 public:
  explicit JsonReader(absl::string_view text) : text_(text) {}

  absl::StatusOr<JsonValue> ReadDocument() {
    // JSON is UTF-8 (RFC 8259), and the names and the text itself go into
    // proto3 strings, which must be: a stray byte would break every
    // GetModelInfo answer rather than the load.
    if (!ValidUtf8()) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid JSON at offset ", pos_, ": not UTF-8 text"));
    }
    JsonValue value;
    if (!ReadValue(value, 0)) return Error();
    SkipSpace();
    if (pos_ != text_.size()) {
      error_ = "unexpected text after the JSON value";
      return Error();
    }
    return value;
  }

 private:
  static constexpr int kMaxDepth = 64;

  absl::Status Error() const {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid JSON at offset ", pos_, ": ", error_));
  }

  void SkipSpace() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' ||
            text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  bool Fail(absl::string_view what) {
    error_ = std::string(what);
    return false;
  }

  bool Consume(absl::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  bool ReadValue(JsonValue& out, int depth) {
    if (depth > kMaxDepth) return Fail("nesting too deep");
    SkipSpace();
    if (pos_ >= text_.size()) return Fail("unexpected end of input");
    const char c = text_[pos_];
    if (c == '{') return ReadObject(out, depth);
    if (c == '[') return ReadArray(out, depth);
    if (c == '"') {
      out.kind = JsonValue::Kind::kString;
      return ReadString(out.string);
    }
    if (Consume("true")) {
      out.kind = JsonValue::Kind::kBool;
      out.boolean = true;
      return true;
    }
    if (Consume("false")) {
      out.kind = JsonValue::Kind::kBool;
      return true;
    }
    if (Consume("null")) return true;
    return ReadNumber(out);
  }

  // JSON's number grammar exactly: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?
  // [0-9]+)?, so that what is served also loads in Python's json (no "+1",
  // "01", ".5" or "1.").
  bool ReadNumber(JsonValue& out) {
    const size_t start = pos_;
    auto digits = [&] {
      const size_t from = pos_;
      while (pos_ < text_.size() && absl::ascii_isdigit(text_[pos_])) ++pos_;
      return pos_ - from;
    };
    auto at = [&](char c) { return pos_ < text_.size() && text_[pos_] == c; };
    if (at('-')) ++pos_;
    const size_t int_start = pos_;
    const size_t int_digits = digits();
    bool ok = int_digits > 0 && (text_[int_start] != '0' || int_digits == 1);
    if (ok && at('.')) {
      ++pos_;
      ok = digits() > 0;
    }
    if (ok && (at('e') || at('E'))) {
      ++pos_;
      if (at('+') || at('-')) ++pos_;
      ok = digits() > 0;
    }
    if (!ok ||
        !absl::SimpleAtod(text_.substr(start, pos_ - start), &out.number) ||
        !std::isfinite(out.number)) {
      pos_ = start;
      return Fail("expected a value");
    }
    out.kind = JsonValue::Kind::kNumber;
    return true;
  }

  bool ReadHex4(unsigned& code) {
    if (pos_ + 4 > text_.size()) return Fail("truncated \\u escape");
    code = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = text_[pos_++];
      code <<= 4;
      if (h >= '0' && h <= '9') {
        code |= h - '0';
      } else if (h >= 'a' && h <= 'f') {
        code |= h - 'a' + 10;
      } else if (h >= 'A' && h <= 'F') {
        code |= h - 'A' + 10;
      } else {
        return Fail("bad \\u escape");
      }
    }
    return true;
  }

  // True if text_ is well-formed UTF-8 (no overlong forms, surrogates or
  // code points past U+10FFFF); else false with pos_ at the first bad byte.
  bool ValidUtf8() {
    for (size_t i = 0; i < text_.size();) {
      const size_t n = Utf8SequenceLength(text_, i);
      if (n == 0) {
        pos_ = i;
        return false;
      }
      i += n;
    }
    return true;
  }

  static void AppendUtf8(unsigned code, std::string& out) {
    if (code >= 0x10000) {
      out += static_cast<char>(0xF0 | (code >> 18));
      out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else if (code < 0x80) {
      out += static_cast<char>(code);
    } else if (code < 0x800) {
      out += static_cast<char>(0xC0 | (code >> 6));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else {
      out += static_cast<char>(0xE0 | (code >> 12));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    }
  }

  bool ReadString(std::string& out) {
    ++pos_;  // opening quote
    while (pos_ < text_.size()) {
      const char c = text_[pos_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) {
        return Fail("control character in string");
      }
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= text_.size()) break;
      const char e = text_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned code;
          if (!ReadHex4(code)) return false;
          // Past U+FFFF, JSON writers (Python's json.dumps among them)
          // write a UTF-16 surrogate pair: \ud83c\udfa8 is one emoji.
          if (code >= 0xDC00 && code <= 0xDFFF) {
            return Fail("\\u escape of a lone low surrogate");
          }
          if (code >= 0xD800 && code <= 0xDBFF) {
            unsigned low;
            if (!Consume("\\u") || !ReadHex4(low) || low < 0xDC00 ||
                low > 0xDFFF) {
              return Fail("\\u escape of a high surrogate without its pair");
            }
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
          }
          AppendUtf8(code, out);
          break;
        }
        default:
          return Fail("bad escape in string");
      }
    }
    return Fail("unterminated string");
  }

  bool ReadArray(JsonValue& out, int depth) {
    ++pos_;
    out.kind = JsonValue::Kind::kArray;
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == ']') {
      ++pos_;
      return true;
    }
    while (true) {
      out.array.emplace_back();
      if (!ReadValue(out.array.back(), depth + 1)) return false;
      SkipSpace();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
      } else if (pos_ < text_.size() && text_[pos_] == ']') {
        ++pos_;
        return true;
      } else {
        return Fail("expected ',' or ']'");
      }
    }
  }

  bool ReadObject(JsonValue& out, int depth) {
    ++pos_;
    out.kind = JsonValue::Kind::kObject;
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == '}') {
      ++pos_;
      return true;
    }
    while (true) {
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_] != '"') {
        return Fail("expected a string key");
      }
      std::string key;
      if (!ReadString(key)) return false;
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_] != ':') return Fail("expected ':'");
      ++pos_;
      // Python's json keeps the last of a repeated key, this reader found
      // the first: one archive named its styles two ways. Refused instead.
      if (out.Find(key) != nullptr) {
        return Fail(absl::StrCat("the key \"", key, "\" appears twice"));
      }
      out.object.emplace_back(std::move(key), JsonValue());
      if (!ReadValue(out.object.back().second, depth + 1)) return false;
      SkipSpace();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
      } else if (pos_ < text_.size() && text_[pos_] == '}') {
        ++pos_;
        return true;
      } else {
        return Fail("expected ',' or '}'");
      }
    }
  }

  absl::string_view text_;
  size_t pos_ = 0;
  std::string error_;
};

}  // namespace

absl::StatusOr<std::vector<std::string>> ParseStylesJson(
    absl::string_view json) {
  auto doc = JsonReader(json).ReadDocument();
  if (!doc.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(kStylesJsonPath, ": ", doc.status().message()));
  }
  if (doc->kind != JsonValue::Kind::kArray) {
    return absl::InvalidArgumentError(absl::StrCat(
        kStylesJsonPath, " must be a JSON array of {\"index\", \"name\"}"));
  }
  if (doc->array.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        kStylesJsonPath,
        " lists zero styles; a model needs at least one style"));
  }
  const size_t n = doc->array.size();
  std::vector<std::string> names(n);
  std::set<std::string> seen;
  for (const JsonValue& entry : doc->array) {
    const JsonValue* index = entry.Find("index");
    const JsonValue* name = entry.Find("name");
    if (entry.kind != JsonValue::Kind::kObject || index == nullptr ||
        name == nullptr || index->kind != JsonValue::Kind::kNumber ||
        name->kind != JsonValue::Kind::kString) {
      return absl::InvalidArgumentError(
          absl::StrCat(kStylesJsonPath,
                       ": every entry needs a numeric \"index\" and a "
                       "string \"name\""));
    }
    const double i = index->number;
    if (i < 0 || i >= static_cast<double>(n) || i != std::floor(i)) {
      return absl::InvalidArgumentError(
          absl::StrCat(kStylesJsonPath, ": index ", i, " is not in 0..",
                       n - 1));
    }
    std::string& slot = names[static_cast<size_t>(i)];
    if (!slot.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          kStylesJsonPath, ": index ", i, " appears more than once"));
    }
    if (name->string.empty() || !seen.insert(name->string).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(kStylesJsonPath, ": style name \"", name->string,
                       "\" is empty or not unique"));
    }
    slot = name->string;
  }
  return names;
}

absl::StatusOr<std::string> ParseModelName(absl::string_view json,
                                           absl::string_view fallback) {
  auto doc = JsonReader(json).ReadDocument();
  if (!doc.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(kModelJsonPath, ": ", doc.status().message()));
  }
  if (doc->kind != JsonValue::Kind::kObject) {
    return absl::InvalidArgumentError(
        absl::StrCat(kModelJsonPath, " must be a JSON object"));
  }
  const JsonValue* name = doc->Find("name");
  if (name == nullptr || name->kind != JsonValue::Kind::kString ||
      name->string.empty()) {
    return std::string(fallback);
  }
  return name->string;
}

}  // namespace stylizer
