// StylizeVideo on a small spool disk with no --spool_disk_bytes: the disk's
// free room is the budget. An announced upload takes its room when its
// VideoJob arrives, so a second one that the disk cannot also hold is
// refused then (busy, retry hint), not part way through either job: the full
// disk failed whichever wrote last, also a job that had sent output.
//
// The server runs in a child process with a tmpfs of its own (skipped where
// the test may not mount one), forked before gRPC starts any thread.
#include <sched.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "server/media/testing/test_movies.h"
#include "server/service/retry_info.h"
#include "server/service/server.h"
#include "server/service/status_util.h"
#include "server/service/stylize_video_reactor.h"
#include "server/service/testing/loopback_server.h"
#include "stylizer/v1/stylizer.grpc.pb.h"

namespace stylizer {
namespace {

namespace movies = media::testing;
using Stream =
    grpc::ClientReaderWriter<v1::StylizeVideoRequest, v1::StylizeVideoResponse>;

// Opens a one-style job announcing `movie`'s size and sends its first
// `sent` bytes.
std::unique_ptr<Stream> Open(v1::Stylizer::Stub* stub,
                             grpc::ClientContext* context,
                             const std::string& movie, size_t sent) {
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(120));
  auto stream = stub->StylizeVideo(context);
  v1::StylizeVideoRequest request;
  request.mutable_job()->add_styles()->set_index(1);
  request.mutable_job()->set_input_size(movie.size());
  stream->Write(request);
  if (sent > 0) {
    request.set_chunk(movie.substr(0, sent));
    stream->Write(request);
  }
  return stream;
}

// Sends the rest of `movie` (from `sent`) and reads the call to its end.
grpc::Status Complete(Stream* stream, const std::string& movie, size_t sent) {
  if (sent < movie.size()) {
    v1::StylizeVideoRequest request;
    request.set_chunk(movie.substr(sent));
    stream->Write(request);
  }
  stream->WritesDone();
  v1::StylizeVideoResponse response;
  while (stream->Read(&response)) {
  }
  return stream->Finish();
}

uint64_t FreeBytes(const std::string& dir) {
  struct statvfs disk {};
  statvfs(dir.c_str(), &disk);
  return uint64_t{disk.f_bavail} * disk.f_frsize;
}

uint64_t DiskBytes(const std::string& dir) {
  struct statvfs disk {};
  statvfs(dir.c_str(), &disk);
  return uint64_t{disk.f_blocks} * disk.f_frsize;
}

// In the child: a server spooling into `dir` (default disk budget), two
// announced uploads of `movie` that the disk cannot hold together. 0 when
// the second is refused as busy at its VideoJob and the first completes.
int TwoUploadsOnASmallDisk(const std::string& dir, const std::string& movie) {
  Server::Options o = testing::LoopbackServerOptions();
  StylizeVideoOptions video;
  video.preset = "ultrafast";
  video.encoder_threads = 1;
  video.spool_memory_bytes = 1;  // every upload goes to the disk
  video.spool_dir = dir;
  o.video = MakeStylizeVideoReactorFactory(video);
  absl::StatusOr<std::unique_ptr<Server>> server = testing::StartReadyServer(o);
  if (!server.ok()) {
    fprintf(stderr, "server: %s\n", server.status().ToString().c_str());
    return 2;
  }
  auto stub = testing::LoopbackStub(**server);
  grpc::ClientContext first_context;
  const size_t half = movie.size() / 2;
  auto first = Open(stub.get(), &first_context, movie, half);
  // The first job's VideoJob is in before the second's: its first bytes
  // reach the disk after it took its room.
  const absl::Time give_up = absl::Now() + absl::Seconds(60);
  while (FreeBytes(dir) == DiskBytes(dir)) {
    if (absl::Now() > give_up) return 3;
    absl::SleepFor(absl::Milliseconds(10));
  }

  grpc::ClientContext second_context;
  auto second_stream = Open(stub.get(), &second_context, movie, 0);
  const grpc::Status second =
      Complete(second_stream.get(), movie, movie.size());
  const grpc::Status done = Complete(first.get(), movie, half);
  (*server)->Drain(absl::Seconds(10));
  const absl::Status busy = FromGrpcStatus(second);
  const bool right = absl::IsResourceExhausted(busy) &&
                     RetryDelay(busy).has_value() &&
                     busy.message().find("claimed by uploads still arriving") !=
                         absl::string_view::npos &&
                     done.ok();
  if (!right) {
    fprintf(stderr, "second: %s\nfirst: %d %s\n", busy.ToString().c_str(),
            done.error_code(), done.error_message().c_str());
  }
  return right ? 0 : 1;
}

TEST(VideoSpoolDiskTest, ASecondUploadTheDiskCannotHoldIsRefusedAtItsJob) {
  const std::string work = movies::MakeTempDir("video-disk-test");
  const std::string path = work + "/movie.mp4";
  ASSERT_TRUE(
      movies::MakeMovie("-f lavfi -i testsrc2=size=128x96:rate=10:duration=2 "
                        "-c:v libx264 -preset ultrafast -pix_fmt yuv420p",
                        path)
          .ok());
  const std::string movie = movies::ReadFile(path).value_or("");
  ASSERT_GT(movie.size(), 8192u);
  const std::string dir = work + "/spool";
  ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
  // Room for one movie and a half, not two.
  const std::string size =
      absl::StrCat("size=", (movie.size() * 3 / 2 + 4095) / 4096 * 4, "k");
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (unshare(CLONE_NEWNS) != 0 ||
        mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        mount("tmpfs", dir.c_str(), "tmpfs", 0, size.c_str()) != 0) {
      _exit(77);
    }
    _exit(TwoUploadsOnASmallDisk(dir, movie));
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 77) GTEST_SKIP() << "cannot mount a tmpfs here";
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace stylizer
