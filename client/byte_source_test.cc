// Tests of FileSource against files that change while they are read.
#include "client/byte_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"

namespace stylizer::client {
namespace {

using ::testing::HasSubstr;

class FileSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() /
             absl::StrCat("byte_source_test.", getpid(), ".bin"))
                .string();
    std::ofstream(path_, std::ios::binary) << std::string(1000, 'a');
  }
  void TearDown() override { std::remove(path_.c_str()); }

  // Reads to the end (a read of 0); the bytes, or the error.
  absl::StatusOr<std::string> ReadAll(FileSource& source) {
    std::string all;
    char buf[300];
    while (true) {
      absl::StatusOr<size_t> got = source.Read(buf, sizeof(buf), stop_);
      if (!got.ok()) return got.status();
      if (*got == 0) return all;
      all.append(buf, *got);
    }
  }

  std::string path_;
  std::atomic<bool> stop_{false};
};

// A file still being written (a recording) is uploaded as it was when
// opened: the job announced that size, and the server refuses an upload
// longer than its input_size. The bytes written since were sent too.
TEST_F(FileSourceTest, AFileThatGrowsIsReadAsItWasWhenOpened) {
  auto source = FileSource::Open(path_);
  ASSERT_TRUE(source.ok()) << source.status();
  std::ofstream(path_, std::ios::binary | std::ios::app)
      << std::string(500, 'b');
  absl::StatusOr<std::string> all = ReadAll(**source);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(*all, std::string(1000, 'a'));
  // And again after a rewind (a retry).
  ASSERT_TRUE((*source)->Rewind().ok());
  all = ReadAll(**source);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->size(), 1000u);
}

TEST_F(FileSourceTest, AFileThatShrinksIsAnError) {
  auto source = FileSource::Open(path_);
  ASSERT_TRUE(source.ok()) << source.status();
  std::filesystem::resize_file(path_, 400);
  absl::StatusOr<std::string> all = ReadAll(**source);
  EXPECT_EQ(all.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(all.status().message(),
              HasSubstr("became shorter while it was read (400 bytes, 1000 "
                        "when opened)"));
}

}  // namespace
}  // namespace stylizer::client
