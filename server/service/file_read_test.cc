// Tests of reading a whole configured file.
#include "server/service/file_read.h"

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

TEST(FileReadTest, ReadsTheBytesAndNamesWhatFails) {
  const std::string path =
      absl::StrCat(::testing::TempDir(), "/file_read_test.", getpid(), ".bin");
  const absl::Cleanup remove = [&path] { std::remove(path.c_str()); };
  {
    std::ofstream out(path, std::ios::binary);
    out << std::string("a\0b", 3);
  }
  auto data = ReadWholeFile(path, "test file");
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(*data, std::string("a\0b", 3));

  auto missing = ReadWholeFile(path + ".missing", "auth token file");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(),
              HasSubstr("cannot read the auth token file " + path +
                        ".missing: No such file"));

  auto dir = ReadWholeFile(::testing::TempDir(), "model archive");
  EXPECT_EQ(dir.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(dir.status().message(), HasSubstr("is a directory"));
}

}  // namespace
}  // namespace stylizer
