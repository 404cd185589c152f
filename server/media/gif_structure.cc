// The GIF block walk; see gif_structure.h.
#include "server/media/gif_structure.h"

#include <algorithm>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"

namespace stylizer {
namespace media {
namespace {

constexpr size_t kBufferSize = 64 * 1024;

// Buffered reads over ReadAtFunction: a GIF's data comes in sub-blocks of at
// most 255 bytes, each preceded by its length.
class GifBytes {
 public:
  explicit GifBytes(ReadAtFunction read_at) : read_at_(read_at) {}

  uint64_t position() const { return position_; }

  // The next byte; false at the end of the file (or on a read error, kept).
  bool Byte(uint8_t* out) {
    if (next_ == filled_ && !Fill()) return false;
    *out = static_cast<uint8_t>(buffer_[next_++]);
    ++position_;
    return true;
  }
  // Skips `n` bytes; false if the file ends first.
  bool Skip(uint64_t n) {
    while (n > 0) {
      if (next_ == filled_ && !Fill()) return false;
      const uint64_t step = std::min<uint64_t>(n, filled_ - next_);
      next_ += step;
      position_ += step;
      n -= step;
    }
    return true;
  }
  // Whether every byte left is 0 (reads them all); false on a read error.
  bool RestIsZero() {
    uint8_t b = 0;
    while (Byte(&b)) {
      if (b != 0) return false;
    }
    return status_.ok();
  }
  const absl::Status& status() const { return status_; }

 private:
  bool Fill() {
    absl::StatusOr<size_t> n = read_at_(position_, buffer_, kBufferSize);
    if (!n.ok()) status_ = n.status();
    if (!n.ok() || *n == 0) return false;
    next_ = 0;
    filled_ = *n;
    return true;
  }

  ReadAtFunction read_at_;
  char buffer_[kBufferSize];
  size_t next_ = 0;
  size_t filled_ = 0;
  uint64_t position_ = 0;
  absl::Status status_;
};

// Skips a colour table of the size a packed field declares.
bool SkipColourTable(GifBytes& in, uint8_t packed) {
  return !(packed & 0x80) || in.Skip(3u << ((packed & 7) + 1));
}

// Skips data sub-blocks up to and including their terminator.
bool SkipSubBlocks(GifBytes& in) {
  uint8_t length = 0;
  while (in.Byte(&length)) {
    if (length == 0) return true;
    if (!in.Skip(length)) return false;
  }
  return false;
}

}  // namespace

absl::Status CheckGifIsWhole(ReadAtFunction read_at) {
  auto in = std::make_unique<GifBytes>(read_at);
  char header[6];
  for (char& c : header) {
    uint8_t b = 0;
    if (!in->Byte(&b)) return in->status();  // the demuxer judged this
    c = static_cast<char>(b);
  }
  if (std::memcmp(header, "GIF", 3) != 0) return absl::OkStatus();
  int frames = 0;  // whole images read
  auto cut = [&](const char* where) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the input is truncated: the GIF ends at byte ", in->position(),
        " inside ", where, frames + 1, " (", frames,
        " whole frames before it); send the complete file"));
  };
  uint8_t screen[7];
  for (uint8_t& b : screen) {
    if (!in->Byte(&b)) return cut("its header, before frame ");
  }
  if (!SkipColourTable(*in, screen[4])) {
    return cut("its colour table, before frame ");
  }
  while (true) {
    uint8_t introducer = 0;
    if (!in->Byte(&introducer)) return in->status();  // no trailer: whole
    if (introducer == 0x3B) return absl::OkStatus();  // the trailer
    if (introducer == 0x21) {                         // an extension
      uint8_t label = 0;
      if (!in->Byte(&label) || !SkipSubBlocks(*in)) {
        if (!in->status().ok()) return in->status();
        return cut("an extension block before frame ");
      }
    } else if (introducer == 0x2C) {  // an image
      uint8_t descriptor[9];
      for (uint8_t& b : descriptor) {
        if (!in->Byte(&b)) return cut("frame ");
      }
      uint8_t lzw_code_size = 0;
      if (!SkipColourTable(*in, descriptor[8]) || !in->Byte(&lzw_code_size) ||
          !SkipSubBlocks(*in)) {
        if (!in->status().ok()) return in->status();
        return cut("frame ");
      }
      ++frames;
    } else if (introducer == 0) {
      // A download made at full size first and filled as its pieces came
      // has zeros where it stopped (read as an empty sub-block, then here).
      const uint64_t at = in->position() - 1;
      if (in->RestIsZero()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "the input is truncated: the GIF holds only zeros from byte ", at,
            " on, after ", frames,
            " frames (a download that did not finish?); send the complete "
            "file"));
      }
      return in->status();  // damage, not a cut: the decoder's to meet
    } else {
      return absl::OkStatus();  // damage, not a cut: the decoder's to meet
    }
  }
}

}  // namespace media
}  // namespace stylizer
