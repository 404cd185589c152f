// Tests of the archive read and its SHA-256 (FIPS 180-2 test vectors).
#include "server/archive_file.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stylizer {
namespace {

using ::testing::HasSubstr;

TEST(ArchiveFileTest, Sha256OfKnownInputs) {
  EXPECT_EQ(Sha256Hex(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(ArchiveFileTest, ReadsTheFileOnceWithItsDigest) {
  const std::string path = absl::StrCat(::testing::TempDir(),
                                        "/archive_file_test.", getpid(), ".pt");
  const absl::Cleanup remove = [&path] { std::remove(path.c_str()); };
  {
    std::ofstream out(path, std::ios::binary);
    out << "abc";
  }
  auto file = ReadArchiveFile(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(*file->bytes, "abc");
  EXPECT_EQ(file->sha256, Sha256Hex("abc"));

  auto missing = ReadArchiveFile(path + ".missing");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr(path + ".missing"));
  auto dir = ReadArchiveFile(::testing::TempDir());
  EXPECT_EQ(dir.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace stylizer
