// Tests of the zip member check: the bundled model and a Zip64 archive from
// Python's zipfile pass; damaged, truncated, foreign and hostile files are
// refused with a message naming the member, and no damage makes the check
// read outside the bytes. Hand-built archives (BuildZip) let each test
// damage a known field.
#include "server/model/zip_check.h"

#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stylizer {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;

std::string EnvDir(const char* name, const char* fallback) {
  const char* dir = std::getenv(name);
  return dir != nullptr ? dir : fallback;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string BundledModel() {
  return ReadFile(EnvDir("STYLIZER_SOURCE_DIR", ".") + "/models/default.pt");
}

// --- A small zip writer: stored or deflated members, plain or Zip64. ---

void Put16(std::string& s, uint64_t v) {
  s.push_back(static_cast<char>(v & 0xFF));
  s.push_back(static_cast<char>((v >> 8) & 0xFF));
}
void Put32(std::string& s, uint64_t v) {
  Put16(s, v & 0xFFFF);
  Put16(s, (v >> 16) & 0xFFFF);
}
void Put64(std::string& s, uint64_t v) {
  Put32(s, v & 0xFFFFFFFF);
  Put32(s, v >> 32);
}
void Set16(std::string& s, size_t at, uint64_t v) {
  std::string b;
  Put16(b, v);
  s.replace(at, 2, b);
}
void Set32(std::string& s, size_t at, uint64_t v) {
  std::string b;
  Put32(b, v);
  s.replace(at, 4, b);
}
void Set64(std::string& s, size_t at, uint64_t v) {
  std::string b;
  Put64(b, v);
  s.replace(at, 8, b);
}

std::string RawDeflate(const std::string& data) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 9, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
            Z_OK);
  std::string out(deflateBound(&zs, data.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

uint32_t Crc(const std::string& data) {
  return static_cast<uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(data.data()),
            static_cast<uInt>(data.size())));
}

struct Member {
  std::string name;
  std::string data;
  bool deflate = false;
};

// Where BuildZip put things, for tests that damage them.
struct Zip {
  std::string bytes;
  std::vector<size_t> local_at;    // each member's local header
  std::vector<size_t> data_at;     // each member's (stored) data
  std::vector<size_t> data_size;   // ... and its length
  std::vector<size_t> central_at;  // each member's central directory entry
  size_t directory_at = 0;
  size_t zip64_end_at = 0;  // Zip64 only
  size_t end_at = 0;
};

// zip64: every central entry keeps its sizes and offset in a Zip64 extra
// field (0xFFFFFFFF in their places), and the directory ends with a Zip64
// end record and locator, as torch.jit.save and large archives write them.
Zip BuildZip(const std::vector<Member>& members, bool zip64 = false) {
  Zip z;
  std::string& s = z.bytes;
  std::vector<std::string> stored;
  for (const Member& m : members) {
    stored.push_back(m.deflate ? RawDeflate(m.data) : m.data);
    const std::string& d = stored.back();
    z.local_at.push_back(s.size());
    Put32(s, 0x04034b50);
    Put16(s, zip64 ? 45 : 20);
    Put16(s, 0);
    Put16(s, m.deflate ? 8 : 0);
    Put32(s, 0);  // time, date
    Put32(s, Crc(m.data));
    Put32(s, zip64 ? 0xFFFFFFFF : d.size());
    Put32(s, zip64 ? 0xFFFFFFFF : m.data.size());
    Put16(s, m.name.size());
    Put16(s, zip64 ? 20 : 0);
    s += m.name;
    if (zip64) {
      Put16(s, 1);
      Put16(s, 16);
      Put64(s, m.data.size());
      Put64(s, d.size());
    }
    z.data_at.push_back(s.size());
    z.data_size.push_back(d.size());
    s += d;
  }
  z.directory_at = s.size();
  for (size_t i = 0; i < members.size(); ++i) {
    const Member& m = members[i];
    z.central_at.push_back(s.size());
    Put32(s, 0x02014b50);
    Put16(s, zip64 ? 45 : 20);
    Put16(s, zip64 ? 45 : 20);
    Put16(s, 0);
    Put16(s, m.deflate ? 8 : 0);
    Put32(s, 0);
    Put32(s, Crc(m.data));
    Put32(s, zip64 ? 0xFFFFFFFF : stored[i].size());
    Put32(s, zip64 ? 0xFFFFFFFF : m.data.size());
    Put16(s, m.name.size());
    Put16(s, zip64 ? 28 : 0);
    Put16(s, 0);  // comment
    Put16(s, 0);  // disk
    Put16(s, 0);  // internal attributes
    Put32(s, 0);  // external attributes
    Put32(s, zip64 ? 0xFFFFFFFF : z.local_at[i]);
    s += m.name;
    if (zip64) {
      Put16(s, 1);
      Put16(s, 24);
      Put64(s, m.data.size());
      Put64(s, stored[i].size());
      Put64(s, z.local_at[i]);
    }
  }
  const size_t directory_size = s.size() - z.directory_at;
  if (zip64) {
    z.zip64_end_at = s.size();
    Put32(s, 0x06064b50);
    Put64(s, 44);
    Put16(s, 45);
    Put16(s, 45);
    Put32(s, 0);
    Put32(s, 0);
    Put64(s, members.size());
    Put64(s, members.size());
    Put64(s, directory_size);
    Put64(s, z.directory_at);
    Put32(s, 0x07064b50);
    Put32(s, 0);
    Put64(s, z.zip64_end_at);
    Put32(s, 1);
  }
  z.end_at = s.size();
  Put32(s, 0x06054b50);
  Put32(s, 0);  // disks
  Put16(s, zip64 ? 0xFFFF : members.size());
  Put16(s, zip64 ? 0xFFFF : members.size());
  Put32(s, zip64 ? 0xFFFFFFFF : directory_size);
  Put32(s, zip64 ? 0xFFFFFFFF : z.directory_at);
  Put16(s, 0);
  return z;
}

std::string Text(size_t n, int seed) {
  std::string s(n, '\0');
  uint32_t x = 2654435761u * (seed + 1);
  for (char& c : s) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>('a' + (x >> 24) % 26);
  }
  return s;
}

// A model-like archive: small stored weights and a deflated code file.
std::vector<Member> ThreeMembers() {
  return {{"m/data/0", Text(300, 0)},
          {"m/code/m.py", Text(2000, 1) + std::string(2000, 'x'), true},
          {"m/data/1", Text(50, 2)}};
}

// The check on a heap copy of exactly `bytes`, so that under ASan a read
// past their end is reported.
absl::Status Check(const std::string& bytes) {
  const std::vector<char> exact(bytes.begin(), bytes.end());
  return CheckZipMembers(absl::string_view(exact.data(), exact.size()), "m.pt");
}

// Refused as damaged, with what a person needs: the file, the member (if
// given), what to do.
void ExpectDamaged(const absl::Status& s, const std::string& member = "") {
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("model archive m.pt is damaged: "));
  if (!member.empty()) {
    EXPECT_THAT(std::string(s.message()),
                HasSubstr(absl::StrCat("member \"", member, "\"")));
  }
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("; copy the file again, or re-export it with "
                        "training/export_seed.py"));
}

TEST(ZipCheckTest, TheBundledModelPasses) {
  // torch.jit.save's form: Zip64 end records, data descriptors, padded
  // local extra fields, stored weights and deflated code.
  EXPECT_TRUE(CheckZipMembers(BundledModel(), "default.pt").ok());
}

TEST(ZipCheckTest, HandBuiltArchivesPass) {
  EXPECT_TRUE(Check(BuildZip(ThreeMembers()).bytes).ok());
  EXPECT_TRUE(Check(BuildZip(ThreeMembers(), /*zip64=*/true).bytes).ok());
  EXPECT_TRUE(
      Check(BuildZip({{"m/empty", ""}, {"m/empty.z", "", true}}).bytes).ok());
}

// The bytes of the damage found by review: 64 bytes XORed at a third, half
// and two thirds of the bundled model, inside its weights.
TEST(ZipCheckTest, TheBundledModelDamagedInItsWeightsIsRefused) {
  std::string bytes = BundledModel();
  ASSERT_GT(bytes.size(), 1000u);
  for (size_t at : {bytes.size() / 3, bytes.size() / 2, bytes.size() * 2 / 3}) {
    for (size_t i = 0; i < 64; ++i) bytes[at + i] ^= 0x5A;
  }
  absl::Status s = CheckZipMembers(bytes, "models/default.pt");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(std::string(s.message()),
              ContainsRegex("^model archive models/default.pt is damaged: "
                            "member \"archive/data/[0-9]+\" fails its CRC-32 "
                            "check \\(stored 0x[0-9a-f]{8}, its bytes give "
                            "0x[0-9a-f]{8}\\); copy the file again, or "
                            "re-export it with training/export_seed.py$"));

  // One bit.
  bytes = BundledModel();
  bytes[bytes.size() / 2] ^= 0x01;
  ExpectDamaged(CheckZipMembers(bytes, "m.pt"));
}

TEST(ZipCheckTest, EveryByteOfEveryMemberIsChecked) {
  for (bool zip64 : {false, true}) {
    const std::vector<Member> members = ThreeMembers();
    const Zip z = BuildZip(members, zip64);
    for (size_t m = 0; m < members.size(); ++m) {
      for (size_t i = 0; i < z.data_size[m]; ++i) {
        std::string bytes = z.bytes;
        bytes[z.data_at[m] + i] ^= 0x10;
        SCOPED_TRACE(
            absl::StrCat("zip64 ", zip64, ", member ", m, ", byte ", i));
        ExpectDamaged(Check(bytes), members[m].name);
      }
    }
  }
}

TEST(ZipCheckTest, AStoredMemberNamesItsCrcs) {
  Zip z = BuildZip(ThreeMembers());
  z.bytes[z.data_at[2]] ^= 1;
  absl::Status s = Check(z.bytes);
  ExpectDamaged(s, "m/data/1");
  EXPECT_THAT(std::string(s.message()),
              ContainsRegex("fails its CRC-32 check \\(stored "
                            "0x[0-9a-f]{8}, its bytes give "
                            "0x[0-9a-f]{8}\\)"));
}

TEST(ZipCheckTest, AZip64ArchiveFromPythonPasses) {
  const std::string path =
      EnvDir("STYLIZER_BUILD_DIR", "build") + "/testdata/zip_check/zip64.zip";
  const std::string good = ReadFile(path);
  ASSERT_NE(good.find("PK\x06\x06"), std::string::npos);
  EXPECT_TRUE(Check(good).ok()) << Check(good);

  // The stored members' bytes are their names repeated; the local header
  // holds the name once, not followed by ';'.
  for (const std::string name : {"zip64/stored", "zip64/forced"}) {
    const size_t at = good.find(name + ";");
    ASSERT_NE(at, std::string::npos) << name;
    std::string bytes = good;
    bytes[at + 3] ^= 0x20;
    ExpectDamaged(Check(bytes), name);
  }
}

TEST(ZipCheckTest, TruncatedArchivesAreRefused) {
  const std::string good = BundledModel();
  for (size_t n : {good.size() / 2, good.size() - 1, good.size() - 22,
                   size_t{100}, size_t{4}}) {
    absl::Status s = Check(good.substr(0, n));
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << n << ": " << s;
    EXPECT_THAT(std::string(s.message()),
                HasSubstr("cannot load model archive m.pt (not a TorchScript "
                          "archive, truncated or corrupt; re-export it with "
                          "training/export_seed.py): "));
  }
  // Cut inside the weights with the directory kept: the members past the
  // cut now lie past the end.
  const Zip z = BuildZip(ThreeMembers());
  std::string cut =
      z.bytes.substr(0, z.data_at[2] + 10) + z.bytes.substr(z.directory_at);
  absl::Status s = Check(cut);
  ExpectDamaged(s);
  EXPECT_THAT(std::string(s.message()), HasSubstr("(cut short?)"));
}

TEST(ZipCheckTest, GarbageIsRefused) {
  for (const std::string& bytes :
       {std::string("this is not a TorchScript archive"), std::string(),
        std::string(21, 'P'), Text(200000, 7)}) {
    absl::Status s = Check(bytes);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_THAT(std::string(s.message()),
                HasSubstr("cannot load model archive m.pt (not a "
                          "TorchScript archive"));
  }
}

TEST(ZipCheckTest, AnEmptyZipHasNothingToCheck) {
  // 22 bytes, as zipfile writes an archive with no members; LibTorch then
  // refuses it for want of its records.
  EXPECT_TRUE(Check(BuildZip({}).bytes).ok());
  EXPECT_TRUE(Check(BuildZip({}, /*zip64=*/true).bytes).ok());
  EXPECT_EQ(BuildZip({}).bytes.size(), 22u);
}

TEST(ZipCheckTest, AFlatbufferModuleIsLeftToLibTorch) {
  std::string bytes("\x10\0\0\0PTMF", 8);
  bytes += Text(100, 3);
  EXPECT_TRUE(Check(bytes).ok());
}

TEST(ZipCheckTest, OffsetsPastTheEndAreRefused) {
  for (bool zip64 : {false, true}) {
    SCOPED_TRACE(zip64 ? "zip64" : "zip");
    const Zip good = BuildZip(ThreeMembers(), zip64);
    // The offset field of member 2's central entry (in its Zip64 extra).
    const size_t offset_field =
        zip64 ? good.central_at[1] + 46 + 11 + 4 + 16 : good.central_at[1] + 42;
    for (uint64_t offset :
         {uint64_t{good.bytes.size()}, uint64_t{good.bytes.size()} - 29,
          uint64_t{0xFFFFFFFE}, ~uint64_t{0}, ~uint64_t{0} - 10}) {
      if (!zip64 && offset > 0xFFFFFFFE) continue;
      std::string bytes = good.bytes;
      if (zip64) {
        Set64(bytes, offset_field, offset);
      } else {
        Set32(bytes, offset_field, offset);
      }
      absl::Status s = Check(bytes);
      ExpectDamaged(s, "m/code/m.py");
      EXPECT_THAT(std::string(s.message()),
                  HasSubstr("past the end of the file's"));
    }
    // A compressed size past the end.
    std::string bytes = good.bytes;
    if (zip64) {
      Set64(bytes, good.central_at[2] + 46 + 8 + 4 + 8, ~uint64_t{0});
    } else {
      Set32(bytes, good.central_at[2] + 20, 0xFFFFFFF0);
    }
    ExpectDamaged(Check(bytes), "m/data/1");

    // The directory past the end, or overflowing.
    for (uint64_t at : {uint64_t{good.bytes.size()}, ~uint64_t{0}}) {
      bytes = good.bytes;
      if (zip64) {
        Set64(bytes, good.zip64_end_at + 48, at);
      } else {
        Set32(bytes, good.end_at + 16, at & 0xFFFFFFFF);
      }
      ExpectDamaged(Check(bytes));
    }
    bytes = good.bytes;
    if (zip64) {
      Set64(bytes, good.zip64_end_at + 40, ~uint64_t{0});
    } else {
      Set32(bytes, good.end_at + 12, 0xFFFFFFFF);
    }
    ExpectDamaged(Check(bytes));
  }
}

TEST(ZipCheckTest, ImpossibleCountsAndLengthsAreRefused) {
  const Zip good = BuildZip(ThreeMembers());
  // More entries than the directory can hold.
  std::string bytes = good.bytes;
  Set16(bytes, good.end_at + 10, 0xFFFF);
  absl::Status s = Check(bytes);
  ExpectDamaged(s);
  EXPECT_THAT(std::string(s.message()), HasSubstr("lists 65535 members in"));
  // Four entries where there are three: the fourth reads the end record.
  bytes = good.bytes;
  Set16(bytes, good.end_at + 10, 4);
  Set32(bytes, good.end_at + 12, good.end_at + 22 - good.directory_at);
  ExpectDamaged(Check(bytes));
  // Name, extra field and comment lengths past the directory.
  for (size_t field : {28, 30, 32}) {
    bytes = good.bytes;
    Set16(bytes, good.central_at[2] + field, 0xFFFF);
    s = Check(bytes);
    ExpectDamaged(s);
    EXPECT_THAT(std::string(s.message()),
                HasSubstr("entry 3 of 3 of its central "
                          "directory runs past the directory's "
                          "end"));
  }
  // A local header whose name and extra run past the end of the file.
  const Zip z64 = BuildZip(ThreeMembers(), /*zip64=*/true);
  bytes = z64.bytes;
  Set16(bytes, z64.local_at[2] + 28, 0xFFFF);
  ExpectDamaged(Check(bytes), "m/data/1");
}

TEST(ZipCheckTest, DamagedZip64RecordsAreRefused) {
  const Zip good = BuildZip(ThreeMembers(), /*zip64=*/true);
  // The locator points nowhere.
  for (uint64_t at : {uint64_t{good.bytes.size()}, uint64_t{3}, ~uint64_t{0}}) {
    std::string bytes = good.bytes;
    Set64(bytes, good.end_at - 20 + 8, at);
    absl::Status s = Check(bytes);
    ExpectDamaged(s);
    EXPECT_THAT(std::string(s.message()),
                HasSubstr("Zip64 end-of-central-directory"));
  }
  // The Zip64 extra field: too short, longer than the extra fields, absent.
  const size_t extra = good.central_at[0] + 46 + 8;  // after "m/data/0"
  std::string bytes = good.bytes;
  Set16(bytes, extra + 2, 8);  // 8 of the 24 bytes its three values need
  ExpectDamaged(Check(bytes), "m/data/0");
  bytes = good.bytes;
  Set16(bytes, extra + 2, 200);
  absl::Status s = Check(bytes);
  ExpectDamaged(s, "m/data/0");
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("longer than its extra fields"));
  bytes = good.bytes;
  Set16(bytes, extra, 0x5455);  // another field's id
  s = Check(bytes);
  ExpectDamaged(s, "m/data/0");
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("Zip64 extra field, and no such field"));
}

TEST(ZipCheckTest, DeflatedMembersAreInflatedToCheck) {
  const Zip good = BuildZip(ThreeMembers());
  const size_t size_field = good.central_at[1] + 24;
  const uint64_t size = 4000;
  std::string bytes = good.bytes;
  Set32(bytes, size_field, size - 1);
  absl::Status s = Check(bytes);
  ExpectDamaged(s, "m/code/m.py");
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("inflates to more than its stated 3999"));
  bytes = good.bytes;
  Set32(bytes, size_field, size + 1);
  s = Check(bytes);
  ExpectDamaged(s, "m/code/m.py");
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("inflates to 4000 bytes, not its stated "
                        "4001"));
  // A deflate stream cut short (its stated compressed size too small).
  bytes = good.bytes;
  Set32(bytes, good.central_at[1] + 20, good.data_size[1] / 2);
  s = Check(bytes);
  ExpectDamaged(s, "m/code/m.py");
  EXPECT_THAT(std::string(s.message()), HasSubstr("inside its deflate stream"));
  // Not a deflate stream at all: its first block of a type that does not
  // exist (0x07: final, type 3).
  Zip junk = BuildZip({{"m/junk", "\x07" + Text(99, 4)}});
  Set16(junk.bytes, junk.central_at[0] + 10, 8);
  s = Check(junk.bytes);
  ExpectDamaged(s, "m/junk");
  EXPECT_THAT(std::string(s.message()), HasSubstr("does not inflate (zlib: "));
}

TEST(ZipCheckTest, HeadersThatDisagreeAreRefused) {
  const Zip good = BuildZip(ThreeMembers());
  std::string bytes = good.bytes;
  bytes[good.local_at[0] + 30] = 'M';  // the local header's name
  absl::Status s = Check(bytes);
  ExpectDamaged(s, "m/data/0");
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("is named \"M/data/0\" in its local "
                        "header"));
  bytes = good.bytes;
  Set32(bytes, good.local_at[1], 0x12345678);  // no local header signature
  ExpectDamaged(Check(bytes), "m/code/m.py");
  bytes = good.bytes;
  Set32(bytes, good.central_at[1], 0x12345678);  // nor a central one
  s = Check(bytes);
  ExpectDamaged(s);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("entry 2 of 3 of its central directory "
                        "has no signature"));
  bytes = good.bytes;
  Set32(bytes, good.central_at[2] + 20, good.data_size[2] - 1);
  s = Check(bytes);
  ExpectDamaged(s, "m/data/1");
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("is stored uncompressed, yet"));
}

TEST(ZipCheckTest, WhatLibTorchCannotReadIsRefused) {
  Zip z = BuildZip(ThreeMembers());
  std::string bytes = z.bytes;
  Set16(bytes, z.central_at[0] + 8, 1);  // encrypted
  absl::Status s = Check(bytes);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("member \"m/data/0\" is encrypted"));
  bytes = z.bytes;
  Set16(bytes, z.central_at[0] + 10, 12);  // bzip2
  s = Check(bytes);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("is compressed with method 12"));
}

TEST(ZipCheckTest, NamesAreEscaped) {
  Zip z = BuildZip({{std::string("m/\x01\"\xff", 5), "abc"}});
  z.bytes[z.data_at[0]] ^= 1;
  ExpectDamaged(Check(z.bytes), "m/\\x01\\\"\\xff");
}

// Every one-byte change and every cut of small archives: the check answers
// (an error or OK) and never reads outside the bytes (which
// scripts/test.d/25-sanitizers.sh checks, running this test under ASan).
TEST(ZipCheckTest, NoDamageReadsOutsideTheBytes) {
  for (bool zip64 : {false, true}) {
    const std::string good =
        BuildZip({{"m/a", "abc"}, {"m/b", Text(40, 5), true}}, zip64).bytes;
    for (size_t i = 0; i < good.size(); ++i) {
      for (int v : {0x00, 0xFF, good[i] ^ 0x01, good[i] ^ 0x80}) {
        std::string bytes = good;
        bytes[i] = static_cast<char>(v);
        absl::Status s = Check(bytes);
        EXPECT_TRUE(s.ok() || s.code() == absl::StatusCode::kInvalidArgument)
            << s;
      }
    }
    for (size_t n = 0; n < good.size(); ++n) {
      absl::Status s = Check(good.substr(0, n));
      EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << n;
    }
  }
}

}  // namespace
}  // namespace stylizer
