// Tests of output naming and temp-then-rename writing.
#include "client/output_files.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace stylizer::client {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class OutputFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("client_output_files_test." + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  int Entries() {
    int n = 0;
    for (auto& e : fs::directory_iterator(dir_)) {
      (void)e;
      ++n;
    }
    return n;
  }
  fs::path dir_;
};

TEST(OutputNamesTest, StemExtensionAndPath) {
  EXPECT_EQ(FileStem("in/holiday.clip.mp4"), "holiday.clip");
  EXPECT_EQ(FileStem("x"), "x");
  EXPECT_EQ(FileExtension("a/b.MKV"), "mkv");
  EXPECT_EQ(FileExtension("a/b"), "");
  EXPECT_EQ(OutputPath("out/demo", "sample", "klimt", "mp4"),
            "out/demo/sample.klimt.mp4");
  EXPECT_EQ(OutputPath("", "s", "a+b", "png"), "./s.a+b.png");
}

TEST_F(OutputFilesTest, CommitRenamesIntoPlace) {
  const std::string path = (dir_ / "a.klimt.mp4").string();
  auto f = AtomicFile::Create(path);
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_TRUE((*f)->Append("hello ").ok());
  ASSERT_TRUE((*f)->Append("world").ok());
  EXPECT_FALSE(fs::exists(path));
  EXPECT_TRUE(fs::exists((*f)->temp_path()));
  EXPECT_EQ(fs::path((*f)->temp_path()).filename().string().substr(0, 1), ".");
  ASSERT_TRUE((*f)->Commit().ok());
  EXPECT_EQ((*f)->size(), 11u);
  auto data = ReadFile(path);
  ASSERT_TRUE(data.ok());
  EXPECT_EQ(*data, "hello world");
  EXPECT_EQ(Entries(), 1);
  EXPECT_FALSE((*f)->Commit().ok());  // only once
}

TEST_F(OutputFilesTest, UncommittedFileLeavesNothing) {
  {
    auto f = AtomicFile::Create((dir_ / "b.mp4").string());
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->Append("partial").ok());
  }
  EXPECT_EQ(Entries(), 0);
  auto g = AtomicFile::Create((dir_ / "c.mp4").string());
  ASSERT_TRUE(g.ok());
  (*g)->Discard();
  (*g)->Discard();
  EXPECT_EQ(Entries(), 0);
}

// An exit that runs no destructor (a second Ctrl-C) left the unfinished
// outputs' temporary files behind: RemoveLeftovers, which the interrupt
// thread calls before it ends the process, removes them, and nothing else.
TEST_F(OutputFilesTest, LeftoversAreTheUnfinishedFiles) {
  auto done = AtomicFile::Create((dir_ / "done.mp4").string());
  auto unfinished = AtomicFile::Create((dir_ / "unfinished.mp4").string());
  ASSERT_TRUE(done.ok() && unfinished.ok());
  ASSERT_TRUE((*done)->Commit().ok());
  ASSERT_TRUE((*unfinished)->Append("partial").ok());
  const fs::path made = dir_ / "segments";
  fs::create_directories(made / "inner");
  RegisterLeftover(made.string());
  EXPECT_EQ(Entries(), 3);  // done.mp4, the unfinished one's .part, segments
  RemoveLeftovers();
  EXPECT_EQ(Entries(), 1);
  EXPECT_TRUE(fs::exists(dir_ / "done.mp4"));
  EXPECT_FALSE(fs::exists((*unfinished)->temp_path()));
}

TEST_F(OutputFilesTest, WriteWholeReplaces) {
  const std::string path = (dir_ / "d.png").string();
  ASSERT_TRUE(AtomicFile::WriteWhole(path, "one").ok());
  ASSERT_TRUE(AtomicFile::WriteWhole(path, "two").ok());
  EXPECT_EQ(*ReadFile(path), "two");
  EXPECT_EQ(Entries(), 1);
}

// Outputs were always 0644, whatever the user's umask: under umask 077 a
// stylized photo was readable by everyone.
TEST_F(OutputFilesTest, TheUmaskDecidesTheMode) {
  const mode_t old = umask(077);
  const std::string path = (dir_ / "private.png").string();
  const absl::Status written = AtomicFile::WriteWhole(path, "x");
  umask(022);
  const std::string shared = (dir_ / "shared.png").string();
  const absl::Status written_shared = AtomicFile::WriteWhole(shared, "x");
  umask(old);
  ASSERT_TRUE(written.ok()) << written;
  ASSERT_TRUE(written_shared.ok()) << written_shared;
  EXPECT_EQ(fs::status(path).permissions(),
            fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(fs::status(shared).permissions(),
            fs::perms::owner_read | fs::perms::owner_write |
                fs::perms::group_read | fs::perms::others_read);
}

// A name of 243-255 bytes is a valid file name, but its temporary name
// (13 bytes more) is not: the output failed to be written after the server
// had done the work. It is refused before, naming the file.
TEST_F(OutputFilesTest, NamesTooLongForTheirTemporaryNameAreRefusedFirst) {
  const std::string fits = (dir_ / std::string(242, 'a')).string();
  EXPECT_TRUE(CheckOutputTargets({fits}).ok());
  ASSERT_TRUE(AtomicFile::WriteWhole(fits, "x").ok());
  const std::string too_long = (dir_ / std::string(243, 'b')).string();
  absl::Status s = CheckOutputTargets({too_long});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("243 bytes"));
  EXPECT_FALSE(AtomicFile::WriteWhole(too_long, "x").ok());
  EXPECT_FALSE(CheckOutputTargets({fits}, kTempNameExtraBytes + 8).ok());
}

TEST_F(OutputFilesTest, Errors) {
  EXPECT_EQ(
      AtomicFile::Create((dir_ / "no/such/dir/x").string()).status().code(),
      absl::StatusCode::kNotFound);
  EXPECT_EQ(ReadFile((dir_ / "missing").string()).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(ReadFile(dir_.string()).status().code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(EnsureDirectory((dir_ / "x/y").string()).ok());
  EXPECT_TRUE(fs::is_directory(dir_ / "x/y"));
  ASSERT_TRUE(AtomicFile::WriteWhole((dir_ / "file").string(), "f").ok());
  EXPECT_FALSE(EnsureDirectory((dir_ / "file").string()).ok());
}

// Several images into a directory not yet made: each worker ensures it. One
// that found no directory, then the one another worker had just made, called
// it "exists and is not a directory" (`stylizer image - a.png --out=new/`
// failed now and then).
TEST_F(OutputFilesTest, EnsureDirectoryFromManyThreadsAtOnce) {
  constexpr int kRounds = 1000, kThreads = 4;
  for (int round = 0; round < kRounds; ++round) {
    const std::string dir =
        (dir_ / "race" / std::to_string(round) / "out").string();
    std::vector<absl::Status> results(kThreads);
    std::vector<std::thread> threads;
    std::atomic<int> ready{0};  // all start together, for the race
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        ++ready;
        while (ready.load() < kThreads) std::this_thread::yield();
        results[t] = EnsureDirectory(dir);
      });
    }
    for (std::thread& t : threads) t.join();
    for (const absl::Status& s : results) {
      ASSERT_TRUE(s.ok()) << "round " << round << ": " << s;
    }
  }
}

TEST_F(OutputFilesTest, CheckOutputTargets) {
  const std::string ok = (dir_ / "a.klimt.mp4").string();
  const std::string deep = (dir_ / "new/deeper/a.klimt.mp4").string();
  ASSERT_TRUE(AtomicFile::WriteWhole(ok, "old").ok());
  // A regular file is replaced; missing directories are made later.
  EXPECT_TRUE(CheckOutputTargets({ok, deep}).ok());
  EXPECT_FALSE(fs::exists(dir_ / "new"));  // checking makes nothing
  EXPECT_TRUE(CheckOutputTargets({"relative-and-missing/a.png"}).ok());

  fs::create_directories(dir_ / "a.mosaic.mp4");
  absl::Status s = CheckOutputTargets({ok, (dir_ / "a.mosaic.mp4").string()});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()),
              ::testing::HasSubstr("a.mosaic.mp4 is a directory"));

  ASSERT_TRUE(AtomicFile::WriteWhole((dir_ / "plain").string(), "f").ok());
  s = CheckOutputTargets({(dir_ / "plain/sub/a.png").string()});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()),
              ::testing::HasSubstr("plain is not a directory"));
}

// The directories EnsureDirectory made are removed bottom-up while empty,
// up to the highest it made; those that were there stay.
TEST_F(OutputFilesTest, MadeDirectoriesAreRemovedUpToTheHighest) {
  const std::string deep = (dir_ / "a" / "b" / "c").string() + "/";
  std::string made;
  ASSERT_TRUE(EnsureDirectory(deep, &made).ok());
  EXPECT_EQ(made, (dir_ / "a").string());
  RemoveMadeDirectories(deep, made);
  EXPECT_FALSE(fs::exists(dir_ / "a"));
  EXPECT_TRUE(fs::exists(dir_));

  ASSERT_TRUE(EnsureDirectory(deep, &made).ok());
  std::string again;
  ASSERT_TRUE(EnsureDirectory(deep, &again).ok());
  EXPECT_EQ(again, "");  // there already
  // A file beside the path keeps its directory and those above it.
  ASSERT_TRUE(AtomicFile::WriteWhole((dir_ / "a" / "note").string(), "x").ok());
  RemoveMadeDirectories(deep, made);
  EXPECT_FALSE(fs::exists(dir_ / "a" / "b"));
  EXPECT_TRUE(fs::exists(dir_ / "a" / "note"));
}

// A rename that fails part-way names the outputs already in place (they
// stay: a rename that replaced a file cannot be taken back).
TEST_F(OutputFilesTest, CommitAllNamesWhatIsAlreadyInPlace) {
  const std::string first = (dir_ / "a.klimt.png").string();
  const std::string second = (dir_ / "a.mosaic.png").string();
  auto a = AtomicFile::Create(first);
  auto b = AtomicFile::Create(second);
  ASSERT_TRUE(a.ok() && b.ok());
  // Made at the second's target after the checks: a rename cannot replace
  // a directory that holds something.
  fs::create_directories(fs::path(second) / "x");
  const absl::Status s = CommitAll({a->get(), b->get()});
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("cannot rename to " + second));
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("already in place: " + first));
  EXPECT_TRUE(fs::exists(first));
}

}  // namespace
}  // namespace stylizer::client
