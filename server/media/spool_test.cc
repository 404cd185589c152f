// Tests of the upload spool: memory and file storage, blocking reads, end of
// upload, abort, size limit and writer pacing.
#include "server/media/spool.h"

#include <sched.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/common/sanitized.h"
#include "server/media/disk_budget.h"
#include "server/media/wait_time.h"
#include "server/service/retry_info.h"

namespace stylizer {
namespace media {
namespace {

std::unique_ptr<Spool> MakeSpool(Spool::Options options = {}) {
  auto spool = Spool::Create(options);
  EXPECT_TRUE(spool.ok()) << spool.status();
  return std::move(*spool);
}

std::string ReadAll(Spool* spool) {
  std::string out;
  char buf[7];
  while (true) {
    auto n = spool->ReadAt(out.size(), buf, sizeof(buf));
    EXPECT_TRUE(n.ok()) << n.status();
    if (!n.ok() || *n == 0) return out;
    out.append(buf, *n);
  }
}

TEST(SpoolTest, KeepsSmallUploadsInMemory) {
  auto spool = MakeSpool();
  ASSERT_TRUE(spool->Append("hello ").ok());
  ASSERT_TRUE(spool->Append("world").ok());
  spool->Finish();
  EXPECT_FALSE(spool->on_disk());
  EXPECT_EQ(ReadAll(spool.get()), "hello world");
  EXPECT_EQ(spool->FinalSize(), 11u);
}

// A spool directory that went away fails the upload without naming the
// directory to the caller (it reached every client); the check at start,
// for the operator, names it.
TEST(SpoolTest, AMissingDirectoryIsNotNamedToTheCaller) {
  const std::string dir = "/nonexistent-spool-dir-for-the-test";
  Spool::Options options;
  options.memory_limit = 4;
  options.temp_dir = dir;
  auto spool = MakeSpool(options);
  const absl::Status s = spool->Append("more than four bytes");
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("--spool_dir"));
  EXPECT_THAT(std::string(s.message()),
              ::testing::Not(::testing::HasSubstr(dir)));
  EXPECT_THAT(std::string(Spool::CheckTempDir(dir).message()),
              ::testing::HasSubstr(dir));
}

// The spools' bytes on disk come out of one budget (--spool_disk_bytes):
// past it an upload is busy (retry hint) while others hold the room, refused
// for good when it is larger than the whole budget; a spool gives its bytes
// back when it goes. Memory is not counted.
TEST(SpoolTest, TheSpoolsShareADiskBudget) {
  constexpr size_t kMiB = size_t{1} << 20;
  DiskBudget budget(3 * kMiB);
  Spool::Options options;
  options.memory_limit = kMiB;
  options.disk_budget = &budget;
  const std::string mib(kMiB, 'x');
  auto first = MakeSpool(options);
  ASSERT_TRUE(first->Append(mib).ok());
  EXPECT_EQ(budget.used(), 0u);  // in memory
  ASSERT_TRUE(first->Append(mib).ok());
  EXPECT_TRUE(first->on_disk());
  EXPECT_EQ(budget.used(), 2 * kMiB);
  auto second = MakeSpool(options);
  ASSERT_TRUE(second->Append(mib).ok());
  absl::Status busy = second->Append(mib);  // 4 MiB on disk with the spill
  EXPECT_EQ(busy.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(busy.message()),
              ::testing::HasSubstr("--spool_disk_bytes"));
  EXPECT_TRUE(RetryDelay(busy).has_value());
  // An announced upload takes its room before any byte: larger than the
  // whole budget, no wait helps; larger than what is free, it is busy.
  auto large = MakeSpool(options);
  absl::Status never = large->ExpectSize(4 * kMiB);
  EXPECT_EQ(never.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(RetryDelay(never).has_value()) << never;
  EXPECT_THAT(std::string(never.message()),
              ::testing::HasSubstr("larger than the server's disk"));
  auto later = MakeSpool(options);
  EXPECT_TRUE(RetryDelay(later->ExpectSize(2 * kMiB)).has_value());
  EXPECT_TRUE(MakeSpool(options)->ExpectSize(kMiB / 2).ok());  // in memory
  EXPECT_EQ(budget.used(), 3 * kMiB);  // the second's first MiB went out
  first.reset();
  EXPECT_EQ(budget.used(), kMiB);
  second.reset();
  EXPECT_EQ(budget.used(), 0u);
  auto third = MakeSpool(options);
  ASSERT_TRUE(third->Append(mib).ok());
  EXPECT_TRUE(third->Append(mib).ok());  // the first's room
  EXPECT_EQ(budget.used(), 2 * kMiB);
  // An announced one holds its room from the start, and takes no more.
  third.reset();
  auto announced = MakeSpool(options);
  ASSERT_TRUE(announced->ExpectSize(kMiB + 1).ok());
  EXPECT_EQ(budget.used(), kMiB + 1);
  ASSERT_TRUE(announced->Append(mib).ok());
  ASSERT_TRUE(announced->Append("x").ok());
  EXPECT_EQ(budget.used(), kMiB + 1);
}

// A full disk is a busy server (other uploads hold the space), with a retry
// hint, not INTERNAL, which clients take for a bug and do not retry. Run in
// a child process with a 256 KiB tmpfs of its own (skipped where the test
// may not mount one).
// Runs `body` in a child with a 256 KiB tmpfs of its own at a new
// directory; its exit code (77: no tmpfs could be mounted here).
int WithSmallDisk(const std::function<int(const std::string&)>& body) {
  char dir_template[] = "/tmp/spool-test-full-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) return 2;
  const std::string dir = dir_template;
  const pid_t child = fork();
  if (child < 0) return 2;
  if (child == 0) {
    if (unshare(CLONE_NEWNS) != 0 ||
        mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=256k") != 0) {
      _exit(77);
    }
    _exit(body(dir));
  }
  int status = 0;
  waitpid(child, &status, 0);
  rmdir(dir.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : 2;
}

// Appends `bytes` bytes to a spool that moves to a file in `dir` at once,
// announced as `announced` bytes (0: not announced).
absl::Status SpoolBytes(const std::string& dir, size_t bytes,
                        uint64_t announced = 0) {
  Spool::Options options;
  options.memory_limit = 16;
  options.temp_dir = dir;
  auto spool = Spool::Create(options);
  if (!spool.ok()) return spool.status();
  if (absl::Status e = (*spool)->ExpectSize(announced); !e.ok()) return e;
  absl::Status s;
  const std::string chunk(16 * 1024, 'x');
  for (size_t done = 0; done < bytes && s.ok(); done += chunk.size()) {
    s = (*spool)->Append(chunk);
  }
  return s;
}

// Writes another upload's file of 160 KiB (of WithSmallDisk's 256) into
// `dir`; false if it cannot be opened.
bool WriteAnotherUpload(const std::string& dir) {
  FILE* other = fopen((dir + "/other").c_str(), "w");
  if (other == nullptr) return false;
  const std::string filler(160 * 1024, 'o');
  fwrite(filler.data(), 1, filler.size(), other);
  fclose(other);
  return true;
}

// The disk full of other uploads: busy, with a retry hint.
TEST(SpoolTest, AFullDiskIsResourceExhaustedWithARetryHint) {
  const int code = WithSmallDisk([](const std::string& dir) {
    if (!WriteAnotherUpload(dir)) return 2;
    const absl::Status s = SpoolBytes(dir, 192 * 1024);
    const bool right = absl::IsResourceExhausted(s) &&
                       RetryDelay(s).has_value() &&
                       s.message().find("is full") != absl::string_view::npos;
    if (!right) fprintf(stderr, "got %s\n", s.ToString().c_str());
    return right ? 0 : 1;
  });
  if (code == 77) GTEST_SKIP() << "cannot mount a tmpfs here";
  EXPECT_EQ(code, 0);
}

// 0 when `s` refuses the movie for good as larger than the whole disk (no
// retry hint), else 1 (for a child's exit status), saying what it was.
int RefusedForGood(const absl::Status& s) {
  const bool right = absl::IsResourceExhausted(s) &&
                     !RetryDelay(s).has_value() &&
                     s.message().find("larger than the server's whole disk") !=
                         absl::string_view::npos;
  if (!right) fprintf(stderr, "got %s\n", s.ToString().c_str());
  return right ? 0 : 1;
}

// A movie larger than the whole disk never fits: refused without a hint.
// The hint had the CLI upload it four times over before giving up.
TEST(SpoolTest, AMovieLargerThanTheDiskIsRefusedForGood) {
  const int code = WithSmallDisk([](const std::string& dir) {
    const absl::Status s = SpoolBytes(dir, 512 * 1024);
    return RefusedForGood(s);
  });
  if (code == 77) GTEST_SKIP() << "cannot mount a tmpfs here";
  EXPECT_EQ(code, 0);
}

// With other files on the disk, the upload meets the full disk before its
// own size passes the disk's: its announced size says it can never fit.
TEST(SpoolTest, AnAnnouncedMovieLargerThanTheDiskIsRefusedForGood) {
  const int code = WithSmallDisk([](const std::string& dir) {
    if (!WriteAnotherUpload(dir)) return 2;
    const absl::Status s = SpoolBytes(dir, 192 * 1024, 1 << 20);
    return RefusedForGood(s);
  });
  if (code == 77) GTEST_SKIP() << "cannot mount a tmpfs here";
  EXPECT_EQ(code, 0);
}

// Out of file descriptors: busy, with a retry hint (it was INTERNAL, a
// server fault for the alerts).
TEST(SpoolTest, NoFileDescriptorIsResourceExhaustedWithARetryHint) {
#ifdef STYLIZER_SANITIZED
  GTEST_SKIP() << "the sanitizers need file descriptors of their own";
#endif
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    rlimit limit{};
    getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = 32;
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) _exit(2);
    while (dup(0) >= 0) {
    }
    const absl::Status s = SpoolBytes("", 64 * 1024);
    const bool right =
        absl::IsResourceExhausted(s) && RetryDelay(s).has_value() &&
        s.message().find("cannot open a spool file") != absl::string_view::npos;
    if (!right) fprintf(stderr, "got %s\n", s.ToString().c_str());
    _exit(right ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(SpoolTest, MovesToAFileBeyondTheMemoryLimit) {
  Spool::Options options;
  options.memory_limit = 16;
  auto spool = MakeSpool(options);
  std::string data;
  for (int i = 0; i < 100; ++i) data += static_cast<char>('a' + i % 26);
  ASSERT_TRUE(spool->Append(data.substr(0, 10)).ok());
  EXPECT_FALSE(spool->on_disk());
  ASSERT_TRUE(spool->Append(data.substr(10)).ok());
  EXPECT_TRUE(spool->on_disk());
  spool->Finish();
  EXPECT_EQ(ReadAll(spool.get()), data);
  // Random access after the move.
  char c;
  ASSERT_EQ(*spool->ReadAt(42, &c, 1), 1u);
  EXPECT_EQ(c, data[42]);
}

// A job charged for a small announced upload can use no more memory: past
// the lowered limit the bytes go to the file.
TEST(SpoolTest, LimitMemoryMovesToAFileSooner) {
  auto spool = MakeSpool();  // the default 16 MiB limit
  spool->LimitMemory(10);
  spool->LimitMemory(1000);  // only ever lowered
  ASSERT_TRUE(spool->Append("0123456789").ok());
  EXPECT_FALSE(spool->on_disk());
  ASSERT_TRUE(spool->Append("more than announced").ok());
  EXPECT_TRUE(spool->on_disk());
  spool->Finish();
  EXPECT_EQ(ReadAll(spool.get()), "0123456789more than announced");
  EXPECT_EQ(Spool::MaxMemoryBytes(10), size_t{1} << 20);  // one block
  EXPECT_EQ(Spool::MaxMemoryBytes(size_t{16} << 20), size_t{16} << 20);
  EXPECT_EQ(Spool::MaxMemoryBytes((size_t{16} << 20) + 1), size_t{17} << 20);
}

TEST(SpoolTest, ReadsAcrossMemoryBlocks) {
  auto spool = MakeSpool();
  std::string data(3 * (1 << 20) + 12345, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i % 251);
  for (size_t pos = 0; pos < data.size(); pos += 77777) {
    ASSERT_TRUE(spool->Append(absl::string_view(data).substr(pos, 77777)).ok());
  }
  spool->Finish();
  EXPECT_FALSE(spool->on_disk());
  std::string got(200000, '\0');
  ASSERT_EQ(*spool->ReadAt((1 << 20) - 1000, got.data(), got.size()),
            got.size());
  EXPECT_EQ(got, data.substr((1 << 20) - 1000, got.size()));
}

TEST(SpoolTest, ReadsWaitForBytesThatHaveNotArrived) {
  auto spool = MakeSpool();
  std::string got;
  std::thread reader([&] { got = ReadAll(spool.get()); });
  ASSERT_TRUE(spool->Append("abc").ok());
  ASSERT_TRUE(spool->Append("def").ok());
  spool->Finish();
  reader.join();
  EXPECT_EQ(got, "abcdef");
}

// The time a read waits for the client's bytes is the reader thread's wait
// time (wait_time.h), which the pipeline leaves out of its per-frame decode
// time: a slow upload made decoding look slow in stylizer_decode_seconds.
TEST(SpoolTest, AReadWaitingForBytesCountsAsWaiting) {
  auto spool = MakeSpool();
  absl::Notification reading;
  absl::Duration waited;
  std::thread reader([&] {
    const absl::Duration before = ThreadWaitTime();
    reading.Notify();
    char buf[4];
    EXPECT_EQ(*spool->ReadAt(0, buf, 4), 3u);
    waited = ThreadWaitTime() - before;
  });
  reading.WaitForNotification();
  absl::SleepFor(absl::Milliseconds(300));
  ASSERT_TRUE(spool->Append("abc").ok());
  reader.join();
  EXPECT_GE(waited, absl::Milliseconds(250));
  // Bytes already there: no wait worth counting.
  const absl::Duration before = ThreadWaitTime();
  char buf[4];
  EXPECT_EQ(*spool->ReadAt(0, buf, 4), 3u);
  EXPECT_LT(ThreadWaitTime() - before, absl::Milliseconds(250));
}

TEST(SpoolTest, ReadingPastTheEndOfAFinishedUploadIsEndOfFile) {
  auto spool = MakeSpool();
  ASSERT_TRUE(spool->Append("abc").ok());
  spool->Finish();
  char buf[4];
  EXPECT_EQ(*spool->ReadAt(100, buf, 4), 0u);
  EXPECT_EQ(*spool->WaitForFinalSize(), 3u);
}

// An upload whose size was announced ends with its last byte: a client that
// keeps its stream open after it (to read the answers) left the reader
// waiting at that size for an end that never came.
TEST(SpoolTest, TheAnnouncedSizeEndsTheUpload) {
  auto spool = MakeSpool();
  ASSERT_TRUE(spool->ExpectSize(6).ok());
  std::string got;
  absl::Notification read_all;
  std::thread reader([&] {
    got = ReadAll(spool.get());
    read_all.Notify();
  });
  ASSERT_TRUE(spool->Append("abc").ok());
  EXPECT_EQ(spool->FinalSize(), std::nullopt);
  ASSERT_TRUE(spool->Append("def").ok());
  const bool ended = read_all.WaitForNotificationWithTimeout(absl::Seconds(30));
  if (!ended) spool->Abort(absl::CancelledError("the test gave up"));
  reader.join();
  ASSERT_TRUE(ended) << "the reader still waits at the announced size";
  EXPECT_EQ(got, "abcdef");
  EXPECT_EQ(spool->FinalSize(), 6u);
  EXPECT_TRUE(spool->WantsMore());
  EXPECT_TRUE(spool->Append("").ok());  // an empty chunk stores nothing
  EXPECT_EQ(spool->Append("g").code(), absl::StatusCode::kFailedPrecondition);
  spool->Finish();  // the client's half-close, later
  EXPECT_EQ(*spool->WaitForFinalSize(), 6u);
}

TEST(SpoolTest, AbortWakesAWaitingReader) {
  auto spool = MakeSpool();
  absl::Status status;
  std::thread reader([&] {
    char buf[4];
    status = spool->ReadAt(0, buf, 4).status();
  });
  spool->Abort(absl::CancelledError("client went away"));
  reader.join();
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(spool->Append("x").code(), absl::StatusCode::kCancelled);
}

TEST(SpoolTest, RefusesUploadsOverTheLimit) {
  Spool::Options options;
  options.max_size = 5;
  auto spool = MakeSpool(options);
  EXPECT_TRUE(spool->Append("12345").ok());
  const absl::Status s = spool->Append("6");
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  // The flag to raise, or what the caller can do.
  EXPECT_THAT(std::string(s.message()),
              ::testing::HasSubstr("limit of 5 bytes (--max_upload_bytes); "
                                   "send a smaller movie"));
}

TEST(SpoolTest, PacesTheWriterByTheReader) {
  Spool::Options options;
  options.read_ahead = 4;
  auto spool = MakeSpool(options);
  ASSERT_TRUE(spool->Append("abcdef").ok());
  EXPECT_FALSE(spool->WantsMore());
  absl::Notification more;
  spool->NotifyWhenWantsMore([&] { more.Notify(); });
  EXPECT_FALSE(more.HasBeenNotified());
  char buf[4];
  ASSERT_EQ(*spool->ReadAt(0, buf, 4), 4u);
  EXPECT_TRUE(more.HasBeenNotified());
  EXPECT_TRUE(spool->WantsMore());
}

TEST(SpoolTest, AReaderWaitingAheadLetsTheWriterContinue) {
  Spool::Options options;
  options.read_ahead = 4;
  auto spool = MakeSpool(options);
  ASSERT_TRUE(spool->Append("abcdef").ok());
  absl::Notification more;
  spool->NotifyWhenWantsMore([&] { more.Notify(); });
  // An index at the end of the file: the reader seeks far ahead and waits.
  std::thread reader([&] {
    char buf[1];
    EXPECT_EQ(*spool->ReadAt(1000, buf, 1), 0u);
  });
  more.WaitForNotification();
  spool->Finish();
  reader.join();
}

TEST(SpoolTest, AReaderWaitingForTheEndLetsTheWriterContinue) {
  // An MP4 demuxer asking for the file size of an upload that did not say
  // it: the whole upload must be able to arrive, however far ahead.
  Spool::Options options;
  options.read_ahead = 4;
  auto spool = MakeSpool(options);
  ASSERT_TRUE(spool->Append("abcdef").ok());
  EXPECT_FALSE(spool->WantsMore());
  absl::Notification more;
  spool->NotifyWhenWantsMore([&] { more.Notify(); });
  std::thread reader([&] {
    auto size = spool->WaitForFinalSize();
    ASSERT_TRUE(size.ok()) << size.status();
    EXPECT_EQ(*size, 12u);
  });
  // Wide margin; a writer left waiting never gets the notification.
  EXPECT_TRUE(more.WaitForNotificationWithTimeout(absl::Seconds(60)));
  EXPECT_TRUE(spool->WantsMore());
  ASSERT_TRUE(spool->Append("ghijkl").ok());
  EXPECT_TRUE(spool->WantsMore());
  spool->Finish();
  reader.join();
}

TEST(SpoolTest, RejectsBadOptions) {
  Spool::Options options;
  options.max_size = 0;
  EXPECT_EQ(Spool::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace media
}  // namespace stylizer
