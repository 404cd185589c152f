// Tests of reading a whole configured file.
#include "server/service/file_read.h"

#include <sys/stat.h>
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

  // Over the limit given.
  auto large = ReadWholeFile(path, "test file", /*max_bytes=*/2);
  EXPECT_EQ(large.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(large.status().message(),
              HasSubstr("is 3 bytes, more than such a file may be (2)"));
}

// A device read forever (--auth_token_file=/dev/zero), and a FIFO blocked
// the start until a writer came: both are refused before they are opened.
TEST(FileReadTest, RefusesWhatIsNotARegularFile) {
  auto zero = ReadWholeFile("/dev/zero", "auth token file");
  EXPECT_EQ(zero.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(zero.status().message(), HasSubstr("not a regular file"));

  const std::string fifo =
      absl::StrCat(::testing::TempDir(), "/file_read_test.", getpid(), ".fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  const absl::Cleanup remove = [&fifo] { std::remove(fifo.c_str()); };
  auto pipe = ReadWholeFile(fifo, "TLS key file");
  EXPECT_EQ(pipe.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(pipe.status().message(), HasSubstr("not a regular file"));
}

// The limit holds for the bytes read too, not only for the size the file
// gives: a file in /proc says it has none.
TEST(FileReadTest, ReadsNoFurtherThanTheLimit) {
  auto status = ReadWholeFile("/proc/self/status", "test file", 10);
  EXPECT_EQ(status.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.status().message()),
              HasSubstr("the test file /proc/self/status holds more than such "
                        "a file may (10 bytes)"));
  auto whole = ReadWholeFile("/proc/self/status", "test file");
  ASSERT_TRUE(whole.ok()) << whole.status();
  EXPECT_THAT(*whole, HasSubstr("VmRSS"));
}

}  // namespace
}  // namespace stylizer
