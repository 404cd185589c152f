// The CRC check of a model archive's zip members; see zip_check.h.
#include "server/model/zip_check.h"

#include <zlib.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace stylizer {
namespace {

// Record sizes and signatures (PKWARE's APPNOTE.TXT, 4.3).
constexpr uint64_t kEndSize = 22;           // end of central directory
constexpr uint64_t kZip64LocatorSize = 20;  // Zip64 end locator
constexpr uint64_t kZip64EndSize = 56;      // Zip64 end record (fixed part)
constexpr uint64_t kCentralSize = 46;       // central directory entry
constexpr uint64_t kLocalSize = 30;         // local file header
constexpr uint32_t kEndSignature = 0x06054b50;
constexpr uint32_t kZip64LocatorSignature = 0x07064b50;
constexpr uint32_t kZip64EndSignature = 0x06064b50;
constexpr uint32_t kCentralSignature = 0x02014b50;
constexpr uint32_t kLocalSignature = 0x04034b50;
constexpr uint16_t kZip64ExtraId = 0x0001;
constexpr uint32_t kZip64Marker = 0xFFFFFFFF;  // "in the Zip64 extra field"
constexpr uint64_t kMaxCommentSize = 0xFFFF;

// zlib takes lengths as uInt: larger spans go in parts of this size.
constexpr uint64_t kZlibPart = uint64_t{1} << 30;

// Little-endian fields; callers check the bounds first.
uint16_t Le16(absl::string_view b, uint64_t at) {
  const auto* p = reinterpret_cast<const unsigned char*>(b.data() + at);
  return static_cast<uint16_t>(p[0] | (p[1] << 8));
}
uint32_t Le32(absl::string_view b, uint64_t at) {
  return Le16(b, at) | (static_cast<uint32_t>(Le16(b, at + 2)) << 16);
}
uint64_t Le64(absl::string_view b, uint64_t at) {
  return Le32(b, at) | (static_cast<uint64_t>(Le32(b, at + 4)) << 32);
}

// Whether [offset, offset + length) lies within `size` bytes (no overflow).
bool Fits(uint64_t offset, uint64_t length, uint64_t size) {
  return offset <= size && length <= size - offset;
}

std::string Hex32(uint32_t v) { return absl::StrFormat("0x%08x", v); }

// A member's name as read from the file, quoted and escaped (a damaged or
// hostile name may hold any bytes), at most 200 of its bytes.
std::string Quoted(absl::string_view name) {
  constexpr size_t kMaxShown = 200;
  return absl::StrCat("\"", absl::CHexEscape(name.substr(0, kMaxShown)),
                      name.size() > kMaxShown ? "...\"" : "\"");
}

// The bytes disagree with the zip's own records: changed or cut short after
// they were written.
absl::Status Damaged(absl::string_view path, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("model archive ", path, " is damaged: ", what,
                   "; copy the file again, or re-export it with "
                   "training/export_seed.py"));
}

// Not a zip LibTorch can read at all: worded as the runtime's other load
// errors (torch_archive.cc).
absl::Status NotAnArchive(absl::string_view path, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("cannot load model archive ", path,
                   " (not a TorchScript archive, truncated or corrupt; "
                   "re-export it with training/export_seed.py): ",
                   what));
}

uint32_t Crc32(absl::string_view data) {
  uLong crc = crc32(0L, Z_NULL, 0);
  for (uint64_t pos = 0; pos < data.size(); pos += kZlibPart) {
    const uint64_t n = std::min<uint64_t>(kZlibPart, data.size() - pos);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data.data() + pos),
                static_cast<uInt>(n));
  }
  return static_cast<uint32_t>(crc);
}

// What inflating a deflated member gave: its CRC-32, or why it failed (a
// phrase that follows the member's name).
struct Inflated {
  std::string error;
  uint32_t crc = 0;
};

// Inflates the raw deflate stream `data`, which should give exactly
// `size` bytes; stops at the first byte past `size`.
Inflated Inflate(absl::string_view data, uint64_t size) {
  Inflated result;
  z_stream zs{};
  if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) {
    result.error = "could not be inflated (zlib did not start)";
    return result;
  }
  unsigned char out[64 * 1024];
  uLong crc = crc32(0L, Z_NULL, 0);
  uint64_t in_pos = 0;
  uint64_t produced = 0;
  int ret = Z_OK;
  while (ret != Z_STREAM_END) {
    if (zs.avail_in == 0 && in_pos < data.size()) {
      const uint64_t n = std::min<uint64_t>(kZlibPart, data.size() - in_pos);
      zs.next_in =
          reinterpret_cast<Bytef*>(const_cast<char*>(data.data())) + in_pos;
      zs.avail_in = static_cast<uInt>(n);
      in_pos += n;
    }
    zs.next_out = out;
    zs.avail_out = sizeof(out);
    ret = inflate(&zs, Z_NO_FLUSH);
    const uint64_t n = sizeof(out) - zs.avail_out;
    if (n > size - produced) {
      result.error =
          absl::StrCat("inflates to more than its stated ", size, " bytes");
      break;
    }
    crc = crc32(crc, out, static_cast<uInt>(n));
    produced += n;
    if (ret == Z_BUF_ERROR && zs.avail_in == 0 && in_pos == data.size()) {
      result.error = absl::StrCat("ends, after ", data.size(),
                                  " compressed bytes, inside its deflate "
                                  "stream");
      break;
    }
    if (ret != Z_OK && ret != Z_STREAM_END && ret != Z_BUF_ERROR) {
      result.error = absl::StrCat(
          "does not inflate (zlib: ",
          zs.msg != nullptr ? std::string(zs.msg) : absl::StrCat("error ", ret),
          ")");
      break;
    }
  }
  inflateEnd(&zs);
  if (result.error.empty() && produced != size) {
    result.error =
        absl::StrCat("inflates to ", produced, " bytes, not its stated ", size);
  }
  result.crc = static_cast<uint32_t>(crc);
  return result;
}

// A central directory entry's fields that the check uses.
struct Entry {
  absl::string_view name;
  uint16_t flags = 0;
  uint16_t method = 0;
  uint32_t crc = 0;
  uint64_t compressed = 0;
  uint64_t size = 0;
  uint64_t local_offset = 0;
};

// Reads the values that `e` marks as 0xFFFFFFFF from its Zip64 extra field
// (in the order APPNOTE gives: size, compressed size, local header offset),
// and checks that the extra fields fit their length. An error phrase that
// follows the member's name, or empty.
std::string ReadExtraFields(absl::string_view extra, Entry& e) {
  const bool need_size = e.size == kZip64Marker;
  const bool need_compressed = e.compressed == kZip64Marker;
  const bool need_offset = e.local_offset == kZip64Marker;
  bool found_zip64 = false;
  uint64_t at = 0;
  while (at < extra.size()) {
    if (extra.size() - at < 4) {
      return "has a cut-off extra field in the central directory";
    }
    const uint16_t id = Le16(extra, at);
    const uint16_t length = Le16(extra, at + 2);
    at += 4;
    if (length > extra.size() - at) {
      return absl::StrFormat(
          "has an extra field (id 0x%04x) longer than its extra fields", id);
    }
    if (id == kZip64ExtraId && !found_zip64) {
      found_zip64 = true;
      const uint64_t needed =
          8 * (int{need_size} + int{need_compressed} + int{need_offset});
      if (length < needed) {
        return absl::StrCat("has a Zip64 extra field of ", length,
                            " bytes, too short for the ", needed,
                            " its sizes and offset need");
      }
      uint64_t field = at;
      if (need_size) e.size = Le64(extra, field), field += 8;
      if (need_compressed) e.compressed = Le64(extra, field), field += 8;
      if (need_offset) e.local_offset = Le64(extra, field);
    }
    at += length;
  }
  if ((need_size || need_compressed || need_offset) && !found_zip64) {
    return "has sizes or an offset kept in a Zip64 extra field, and no such "
           "field";
  }
  return "";
}

// Checks the data of `e` (its local header, then its bytes against its size
// and CRC-32). An error phrase that follows the member's name, or empty.
std::string CheckMember(absl::string_view bytes, const Entry& e) {
  const uint64_t size = bytes.size();
  if (!Fits(e.local_offset, kLocalSize, size)) {
    return absl::StrCat("has its local header at offset ", e.local_offset,
                        ", past the end of the file's ", size,
                        " bytes (cut short?)");
  }
  if (Le32(bytes, e.local_offset) != kLocalSignature) {
    return absl::StrCat("has no local header at offset ", e.local_offset,
                        ", where the central directory puts it");
  }
  const uint64_t name_length = Le16(bytes, e.local_offset + 26);
  const uint64_t extra_length = Le16(bytes, e.local_offset + 28);
  const uint64_t name_at = e.local_offset + kLocalSize;
  if (!Fits(name_at, name_length + extra_length, size)) {
    return absl::StrCat("has a local header at offset ", e.local_offset,
                        " that runs past the end of the file's ", size,
                        " bytes (cut short?)");
  }
  const absl::string_view local_name = bytes.substr(name_at, name_length);
  if (local_name != e.name) {
    return absl::StrCat("is named ", Quoted(local_name),
                        " in its local header");
  }
  const uint64_t data_at = name_at + name_length + extra_length;
  if (!Fits(data_at, e.compressed, size)) {
    return absl::StrCat("has its ", e.compressed, " bytes of data at offset ",
                        data_at, " run past the end of the file's ", size,
                        " bytes (cut short?)");
  }
  const absl::string_view data = bytes.substr(data_at, e.compressed);
  uint32_t crc = 0;
  if (e.method == 0) {
    if (e.compressed != e.size) {
      return absl::StrCat("is stored uncompressed, yet its stored size ",
                          e.compressed, " differs from its size ", e.size);
    }
    crc = Crc32(data);
  } else {
    Inflated inflated = Inflate(data, e.size);
    if (!inflated.error.empty()) return inflated.error;
    crc = inflated.crc;
  }
  if (crc != e.crc) {
    return absl::StrCat("fails its CRC-32 check (stored ", Hex32(e.crc),
                        ", its bytes give ", Hex32(crc), ")");
  }
  return "";
}

}  // namespace

absl::Status CheckZipMembers(absl::string_view bytes, absl::string_view path) {
  const uint64_t size = bytes.size();
  // LibTorch reads a file with "PTMF" at offset 4 as a flatbuffer module,
  // not as a zip.
  if (size >= 8 && bytes.substr(4, 4) == "PTMF") return absl::OkStatus();

  // The end of central directory record: the last one within the last
  // 22 + 65535 bytes (its comment is at most 65535) whose comment fits.
  if (size < kEndSize) {
    return NotAnArchive(
        path, absl::StrCat("its ", size, " bytes are too few for a zip"));
  }
  const uint64_t lowest =
      size - kEndSize - std::min(size - kEndSize, kMaxCommentSize);
  uint64_t end_at = size;
  for (uint64_t at = size - kEndSize + 1; at-- > lowest;) {
    if (Le32(bytes, at) == kEndSignature &&
        Le16(bytes, at + 20) <= size - kEndSize - at) {
      end_at = at;
      break;
    }
  }
  if (end_at == size) {
    return NotAnArchive(path,
                        "no zip end-of-central-directory record at its end");
  }
  uint64_t entries = Le16(bytes, end_at + 10);
  uint64_t directory_size = Le32(bytes, end_at + 12);
  uint64_t directory_at = Le32(bytes, end_at + 16);

  // Zip64: a locator right before the end record points to the Zip64 end
  // record, whose 64-bit values replace the 16- and 32-bit ones.
  if (end_at >= kZip64LocatorSize &&
      Le32(bytes, end_at - kZip64LocatorSize) == kZip64LocatorSignature) {
    const uint64_t zip64_end_at = Le64(bytes, end_at - kZip64LocatorSize + 8);
    if (!Fits(zip64_end_at, kZip64EndSize, size) ||
        Le32(bytes, zip64_end_at) != kZip64EndSignature) {
      return Damaged(
          path, absl::StrCat("its Zip64 end-of-central-directory locator "
                             "points to offset ",
                             zip64_end_at, ", where no Zip64 end record is"));
    }
    entries = Le64(bytes, zip64_end_at + 32);
    directory_size = Le64(bytes, zip64_end_at + 40);
    directory_at = Le64(bytes, zip64_end_at + 48);
  }
  if (!Fits(directory_at, directory_size, size)) {
    return Damaged(path, absl::StrCat("its central directory (", directory_size,
                                      " bytes at offset ", directory_at,
                                      ") runs past the end of the file's ",
                                      size, " bytes (cut short?)"));
  }
  if (entries > directory_size / kCentralSize) {
    return Damaged(path, absl::StrCat("its central directory lists ", entries,
                                      " members in ", directory_size,
                                      " bytes, too few for them"));
  }

  const absl::string_view directory =
      bytes.substr(directory_at, directory_size);
  uint64_t at = 0;
  for (uint64_t i = 0; i < entries; ++i) {
    const std::string which = absl::StrCat("entry ", i + 1, " of ", entries,
                                           " of its central directory");
    if (directory.size() - at < kCentralSize) {
      return Damaged(path, absl::StrCat(which, " is cut off"));
    }
    if (Le32(directory, at) != kCentralSignature) {
      return Damaged(path, absl::StrCat(which, " has no signature"));
    }
    Entry e;
    e.flags = Le16(directory, at + 8);
    e.method = Le16(directory, at + 10);
    e.crc = Le32(directory, at + 16);
    e.compressed = Le32(directory, at + 20);
    e.size = Le32(directory, at + 24);
    const uint64_t name_length = Le16(directory, at + 28);
    const uint64_t extra_length = Le16(directory, at + 30);
    const uint64_t comment_length = Le16(directory, at + 32);
    e.local_offset = Le32(directory, at + 42);
    if (!Fits(at + kCentralSize, name_length + extra_length + comment_length,
              directory.size())) {
      return Damaged(path,
                     absl::StrCat(which, " runs past the directory's end"));
    }
    e.name = directory.substr(at + kCentralSize, name_length);
    const absl::string_view extra =
        directory.substr(at + kCentralSize + name_length, extra_length);
    at += kCentralSize + name_length + extra_length + comment_length;

    const std::string member = absl::StrCat("member ", Quoted(e.name));
    if (std::string error = ReadExtraFields(extra, e); !error.empty()) {
      return Damaged(path, absl::StrCat(member, " ", error));
    }
    if ((e.flags & 1) != 0) {
      return NotAnArchive(path, absl::StrCat(member, " is encrypted"));
    }
    if (e.method != 0 && e.method != 8) {
      return NotAnArchive(
          path, absl::StrCat(member, " is compressed with method ", e.method,
                             "; LibTorch reads stored (0) and deflated (8) "
                             "members only"));
    }
    if (std::string error = CheckMember(bytes, e); !error.empty()) {
      return Damaged(path, absl::StrCat(member, " ", error));
    }
  }
  return absl::OkStatus();
}

}  // namespace stylizer
