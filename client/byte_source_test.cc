// Tests of FileSource against files that change while they are read.
#include "client/byte_source.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

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

// A read that fails (EIO on a bad disk; here EISDIR, from a directory put in
// the file's place after it was opened) is the input's own failure, as a
// failed open is: INVALID_ARGUMENT naming it, so that the other inputs of a
// command go on. It was INTERNAL, which ended them all.
TEST_F(FileSourceTest, AFailedReadIsTheInputsOwnFailure) {
  auto source = FileSource::Open(path_);
  ASSERT_TRUE(source.ok()) << source.status();
  // The source's descriptor: the one this process has open on path_.
  int fd = -1;
  for (const auto& entry :
       std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code error;
    if (std::filesystem::read_symlink(entry.path(), error) == path_) {
      fd = std::stoi(entry.path().filename().string());
    }
  }
  ASSERT_GE(fd, 0);
  const int dir = open(::testing::TempDir().c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(dir, 0);
  ASSERT_EQ(dup2(dir, fd), fd);
  close(dir);
  absl::StatusOr<std::string> all = ReadAll(**source);
  EXPECT_EQ(all.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      all.status().message(),
      HasSubstr(absl::StrCat("cannot read ", path_, ": Is a directory")));

  // Standard input and image files are read with ReadSome.
  const int dir2 = open(::testing::TempDir().c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(dir2, 0);
  char buf[16];
  const std::atomic<bool> stop{false};
  absl::StatusOr<size_t> got = ReadSome(dir2, buf, sizeof(buf), stop, "in.png");
  close(dir2);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(got.status().message(),
              HasSubstr("cannot read in.png: Is a directory"));
}

// A named pipe is refused at once, saying what it is: opening it waited for
// a writer that a mistyped path never gets.
TEST_F(FileSourceTest, ANamedPipeIsRefusedWithoutWaitingForAWriter) {
  const std::string fifo = path_ + ".fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  std::atomic<bool> opened{false};
  absl::Status status;
  std::thread open([&] {
    status = FileSource::Open(fifo).status();
    opened = true;
  });
  for (int i = 0; i < 1000 && !opened; ++i)
    absl::SleepFor(absl::Milliseconds(10));
  const bool waited = !opened;
  if (waited) close(::open(fifo.c_str(), O_WRONLY));  // lets the open end
  open.join();
  std::remove(fifo.c_str());
  EXPECT_FALSE(waited) << "opening the pipe waited for a writer";
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr(fifo + " is a pipe (FIFO), not a regular file"));
}

}  // namespace
}  // namespace stylizer::client
