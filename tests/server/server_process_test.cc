// End-to-end tests of the stylizer-server binary: --help, health from start to
// SERVING, server reflection listing the services, a still image and a video
// error through the real process, and SIGTERM draining a stream in flight
// before exiting 0.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "server/common/sanitized.h"
#include "server/metrics/testing/exposition.h"
#include "server/metrics/testing/http_get.h"
#include "stylizer/v1/stylizer.grpc.pb.h"
#include "tests/metrics/subprocess.h"

namespace stylizer::testing {
namespace {

using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::testing::HasSubstr;

std::string BuildDir() {
  const char* dir = std::getenv("STYLIZER_BUILD_DIR");
  return dir != nullptr ? dir : "build";
}

v1::Image RawTestImage(int w, int h) {
  v1::Image image;
  image.mutable_raw()->set_width(w);
  image.mutable_raw()->set_height(h);
  std::string rgb(static_cast<size_t>(w) * h * 3, '\0');
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<char>(i * 7);
  image.mutable_raw()->set_rgb(rgb);
  return image;
}

// Whether a TCP connection to ip:port is accepted.
bool CanConnect(const char* ip, int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, ip, &addr.sin_addr);
  const bool ok =
      connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

class ServerProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TempDir>> dir = TempDir::Create();
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = *std::move(dir);
  }

  // Starts the server (with `flags` after the test's own, so they win) and
  // waits until health says SERVING.
  // `wrapper` runs the server (e.g. {"taskset", "-c", "0"}).
  void StartServer(const std::vector<std::string>& flags = {},
                   const std::vector<std::string>& wrapper = {}) {
    absl::StatusOr<int> port = PickFreePort();
    ASSERT_TRUE(port.ok()) << port.status();
    port_ = *port;
    std::vector<std::string> argv = wrapper;
    argv.insert(argv.end(),
                {STYLIZER_SERVER_BINARY, absl::StrCat("--port=", port_),
                 "--host=127.0.0.1", "--metrics_port=-1",
                 "--model=" + BuildDir() + "/testdata/random4.pt",
                 "--device=cpu", "--precision=fp32", "--threads=1",
                 "--work_threads=2", "--drain_timeout=60s"});
    argv.insert(argv.end(), flags.begin(), flags.end());
    absl::StatusOr<std::unique_ptr<Subprocess>> process =
        Subprocess::Start(argv, dir_->path() + "/server.log");
    ASSERT_TRUE(process.ok()) << process.status();
    process_ = *std::move(process);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", port_),
                                   grpc::InsecureChannelCredentials());
    const absl::Time end = absl::Now() + absl::Minutes(3);
    while (Check() != HealthCheckResponse::SERVING) {
      ASSERT_TRUE(process_->Running()) << process_->Log();
      ASSERT_LT(absl::Now(), end) << process_->Log();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  HealthCheckResponse::ServingStatus Check() {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    HealthCheckResponse response;
    grpc::Status status =
        Health::NewStub(channel_)->Check(&context, {}, &response);
    return status.ok() ? response.status() : HealthCheckResponse::UNKNOWN;
  }

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<Subprocess> process_;
  std::shared_ptr<grpc::Channel> channel_;
  int port_ = 0;
};

TEST_F(ServerProcessTest, HelpExplainsTheFlags) {
  const std::string log = dir_->path() + "/help.log";
  // Printing the help is a success: exit 0.
  absl::Status run = RunToCompletion({STYLIZER_SERVER_BINARY, "--help"}, log);
  EXPECT_TRUE(run.ok()) << run;
  const std::string text = [&] {
    std::ifstream in(log);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }();
  for (const char* flag : {"--port",
                           "--model",
                           "--device",
                           "--precision",
                           "--threads",
                           "--max_batch_size",
                           "--batch_timeout",
                           "--max_queued_items",
                           "--max_concurrent_streams",
                           "--max_frame_pixels",
                           "--max_receive_message_bytes",
                           "--keepalive_time",
                           "--drain_timeout",
                           "--tls_cert",
                           "--tls_key",
                           "--tls_client_ca",
                           "--auth_token_file",
                           "--metrics_port",
                           "--log_format",
                           "--metrics_host",
                           "--stream_idle_timeout",
                           "--max_connection_idle",
                           "--max_connection_age",
                           "--max_connection_age_grace",
                           "--memory_budget_bytes",
                           "--grpc_memory_quota_bytes"}) {
    EXPECT_THAT(text, HasSubstr(flag));
  }
  // --version says which version (it printed the name alone).
  const std::string version_log = dir_->path() + "/version.log";
  EXPECT_TRUE(
      RunToCompletion({STYLIZER_SERVER_BINARY, "--version"}, version_log).ok());
  std::ifstream version_in(version_log);
  std::string version;
  std::getline(version_in, version);
  EXPECT_THAT(version, ::testing::MatchesRegex(
                           "stylizer-server [0-9]+\\.[0-9]+\\.[0-9]+"));
}

// Asks server reflection for its service list (raw protobuf bytes over a
// generic call: ServerReflectionRequest{list_services: ""}).
std::string ListServices(const std::shared_ptr<grpc::Channel>& channel) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
  auto call = stub.PrepareCall(
      &context,
      "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  void* tag;
  bool ok = false;
  auto step = [&](intptr_t expected) {
    return cq.Next(&tag, &ok) && ok &&
           reinterpret_cast<intptr_t>(tag) == expected;
  };
  call->StartCall(reinterpret_cast<void*>(1));
  if (!step(1)) return "start failed";
  const std::string request("\x3a\x00", 2);  // field 7 (list_services) = ""
  grpc::Slice slice(request);
  grpc::ByteBuffer buffer(&slice, 1);
  call->Write(buffer, reinterpret_cast<void*>(2));
  if (!step(2)) return "write failed";
  grpc::ByteBuffer reply;
  call->Read(&reply, reinterpret_cast<void*>(3));
  if (!step(3)) return "read failed";
  call->WritesDone(reinterpret_cast<void*>(4));
  step(4);
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  step(5);
  std::vector<grpc::Slice> slices;
  (void)reply.Dump(&slices);
  std::string bytes;
  for (const grpc::Slice& s : slices) {
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return bytes;
}

TEST_F(ServerProcessTest, ServesImagesReflectionAndDrainsOnSigterm) {
  StartServer();
  if (HasFatalFailure()) return;

  const std::string services = ListServices(channel_);
  EXPECT_THAT(services, HasSubstr("stylizer.v1.Stylizer"));
  EXPECT_THAT(services, HasSubstr("grpc.health.v1.Health"));

  // Another process's SIGUSR1 (a log rotator's, say) is not a failed model
  // load: the server drained at once and exited 1, without a word.
  ASSERT_EQ(kill(process_->pid(), SIGUSR1), 0);
  const absl::Time logged = absl::Now() + absl::Seconds(30);
  while (process_->Log().find("signal_ignored") == std::string::npos &&
         absl::Now() < logged) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_THAT(process_->Log(), HasSubstr("signal_ignored"));
  ASSERT_TRUE(process_->Running()) << process_->Log();
  EXPECT_EQ(Check(), HealthCheckResponse::SERVING);

  auto stub = v1::Stylizer::NewStub(channel_);
  {
    grpc::ClientContext context;
    v1::StylizeImageRequest request;
    *request.mutable_image() = RawTestImage(64, 48);
    v1::StylizeImageResponse response;
    grpc::Status status = stub->StylizeImage(&context, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.images_size(), 4);
  }
  {  // A damaged PNG: INVALID_ARGUMENT, and FFmpeg's complaint is logged as a
     // structured line, not raw text. Its chunks and CRCs are intact (else
     // the server refuses it before FFmpeg sees it); its header declares a
     // bit depth of 3, which only FFmpeg's decoder checks.
    grpc::ClientContext context;
    v1::StylizeImageRequest request;
    request.mutable_image()->set_encoded(
        std::string("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x10\0\0\0\x10"
                    "\x03\x02\0\0\0\xe7\x41\x59\x27"
                    "\0\0\0\x04IDAT\xff\xff\xff\xff\x34\x98\xc7\xe4"
                    "\0\0\0\0IEND\xae\x42\x60\x82",
                    61));
    v1::StylizeImageResponse response;
    EXPECT_EQ(stub->StylizeImage(&context, request, &response).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  {  // A video upload that starts with bytes instead of its VideoJob.
    grpc::ClientContext context;
    auto stream = stub->StylizeVideo(&context);
    v1::StylizeVideoRequest request;
    request.set_chunk("not a job");
    stream->Write(request);
    stream->WritesDone();
    v1::StylizeVideoResponse response;
    while (stream->Read(&response)) {
    }
    EXPECT_EQ(stream->Finish().error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }

  // A frame stream in flight when SIGTERM arrives.
  grpc::ClientContext stream_context;
  auto stream = stub->StylizeFrames(&stream_context);
  v1::StylizeFramesRequest frame;
  *frame.mutable_image() = RawTestImage(32, 24);
  *frame.add_styles()->mutable_blend() = [] {
    v1::StyleBlend b;
    b.add_indices(0);
    b.add_indices(1);
    return b;
  }();
  ASSERT_TRUE(stream->Write(frame));
  v1::StylizeFramesResponse response;
  ASSERT_TRUE(stream->Read(&response));

  ASSERT_EQ(kill(process_->pid(), SIGTERM), 0);
  const absl::Time end = absl::Now() + absl::Seconds(30);
  while (Check() != HealthCheckResponse::NOT_SERVING && absl::Now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(Check(), HealthCheckResponse::NOT_SERVING);
  {
    grpc::ClientContext context;
    v1::ModelInfo info;
    EXPECT_EQ(stub->GetModelInfo(&context, {}, &info).error_code(),
              grpc::StatusCode::UNAVAILABLE);
  }
  frame.set_sequence(1);
  ASSERT_TRUE(stream->Write(frame));
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.sequence(), 1u);
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());

  absl::StatusOr<int> exit_code = process_->Wait(absl::Seconds(30));
  ASSERT_TRUE(exit_code.ok()) << exit_code.status() << process_->Log();
  EXPECT_EQ(*exit_code, 0) << process_->Log();
  const std::string log = process_->Log();
  EXPECT_THAT(log, HasSubstr("method=StylizeImage"));
  EXPECT_THAT(log, HasSubstr("draining"));
  EXPECT_THAT(log, HasSubstr("ffmpeg message="));
  EXPECT_THAT("\n" + log, ::testing::Not(HasSubstr("\n[png @")));
}

// --reflection=false left reflection on: linking gRPC's reflection library
// registers its plugin for every server builder, whatever the flag said.
TEST_F(ServerProcessTest, ReflectionCanBeTurnedOff) {
  StartServer({"--reflection=false"});
  if (HasFatalFailure()) return;
  EXPECT_EQ(ListServices(channel_), "read failed");
  grpc::ClientContext context;
  v1::ModelInfo info;
  EXPECT_TRUE(v1::Stylizer::NewStub(channel_)
                  ->GetModelInfo(&context, v1::GetModelInfoRequest(), &info)
                  .ok());
}

TEST_F(ServerProcessTest, MissingModelExitsNonZero) {
  absl::StatusOr<int> port = PickFreePort();
  ASSERT_TRUE(port.ok());
  absl::StatusOr<std::unique_ptr<Subprocess>> process = Subprocess::Start(
      {STYLIZER_SERVER_BINARY, absl::StrCat("--port=", *port),
       "--metrics_port=-1", "--model=" + dir_->path() + "/missing.pt"},
      dir_->path() + "/missing.log");
  ASSERT_TRUE(process.ok());
  absl::StatusOr<int> exit_code = (*process)->Wait(absl::Seconds(60));
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  EXPECT_NE(*exit_code, 0);
  EXPECT_THAT((*process)->Log(), HasSubstr("missing.pt"));
}

// A second server on a port another one listens on started: gRPC sets
// SO_REUSEPORT, so both listened and the kernel split new connections
// between them (another model, a stale build, an old instance draining).
TEST_F(ServerProcessTest, APortInUseFailsTheStart) {
  StartServer();
  absl::StatusOr<std::unique_ptr<Subprocess>> second = Subprocess::Start(
      {STYLIZER_SERVER_BINARY, absl::StrCat("--port=", port_),
       "--host=127.0.0.1", "--metrics_port=-1", "--log_format=json",
       "--model=" + BuildDir() + "/testdata/random4.pt", "--device=cpu"},
      dir_->path() + "/second.log");
  ASSERT_TRUE(second.ok());
  absl::StatusOr<int> exit_code = (*second)->Wait(absl::Seconds(60));
  ASSERT_TRUE(exit_code.ok()) << exit_code.status() << (*second)->Log();
  EXPECT_NE(*exit_code, 0);
  const std::string log = (*second)->Log();
  EXPECT_THAT(log, HasSubstr("cannot listen"));
  // gRPC's own complaint ("No address added out of total 1 resolved") is a
  // JSON line like the rest: it was written raw.
  EXPECT_THAT(log, HasSubstr("\"event\":\"grpc\""));
  for (absl::string_view line : absl::StrSplit(log, '\n', absl::SkipEmpty())) {
    EXPECT_TRUE(absl::StartsWith(line, "{") && absl::EndsWith(line, "}"))
        << line;
  }
  EXPECT_EQ(Check(), HealthCheckResponse::SERVING);
}

// $STYLIZER_MODEL naming no file (a typo, a volume not mounted) fails the
// start naming it: the bundled model was served in its place, with no error.
TEST_F(ServerProcessTest, MissingModelOfTheEnvironmentExitsNonZero) {
  absl::StatusOr<int> port = PickFreePort();
  ASSERT_TRUE(port.ok());
  absl::StatusOr<std::unique_ptr<Subprocess>> process = Subprocess::Start(
      {"/usr/bin/env", "STYLIZER_MODEL=" + dir_->path() + "/volume/styles.pt",
       STYLIZER_SERVER_BINARY, absl::StrCat("--port=", *port),
       "--metrics_port=-1"},
      dir_->path() + "/missing-env.log");
  ASSERT_TRUE(process.ok());
  absl::StatusOr<int> exit_code = (*process)->Wait(absl::Seconds(60));
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  EXPECT_NE(*exit_code, 0);
  EXPECT_THAT((*process)->Log(), HasSubstr("volume/styles.pt"));
}

// "0 = automatic" thread counts were the machine's hardware threads, which
// ignore the CPUs the process may run on and its cgroup CPU quota: a pod
// limited to 4 CPUs on a 64-core node ran 64 LibTorch and 64 work threads,
// throttled by the quota. Pinned to one CPU, the server now uses one.
TEST_F(ServerProcessTest, AutomaticThreadCountsFollowTheCpusItMayUse) {
  StartServer({"--threads=0", "--work_threads=0"},
              {"/usr/bin/taskset", "-c", "0"});
  const std::string log = process_->Log();
  EXPECT_THAT(log, HasSubstr("cpu_limit cpus=1 source=sched_getaffinity"));
  EXPECT_THAT(log, HasSubstr(", 1 CPU threads"));
}

// SIGTERM while the model loads: nothing has been served, and a load cannot
// be interrupted. Drain waited for the load (minutes on a GPU), past the
// drain watchdog, and the server exited 1 with drain_stuck 15 s later.
// With TLS, its private copies of the files (the key among them) were left
// in the temp directory: _exit runs no destructor.
// Out of file descriptors, gRPC's accept4 fails, and this gRPC never
// accepts another connection: the server served on unreachable, health
// SERVING on the connections it had. It now says so, drains and exits 1, to
// be restarted. (A hard limit of 64 keeps the soft limit it raises low.)
TEST_F(ServerProcessTest, AListenerOutOfDescriptorsEndsTheServer) {
#ifdef STYLIZER_SANITIZED
  GTEST_SKIP() << "the sanitizers need file descriptors of their own";
#endif
  StartServer({}, {"/usr/bin/prlimit", "--nofile=64:64"});
  std::vector<int> sockets;
  for (int i = 0; i < 100; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    // Accepted by the kernel's backlog whether or not the server takes it.
    (void)connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    sockets.push_back(fd);
  }
  absl::StatusOr<int> exit_code = process_->Wait(absl::Seconds(60));
  for (int fd : sockets) close(fd);
  ASSERT_TRUE(exit_code.ok()) << exit_code.status() << process_->Log();
  EXPECT_EQ(*exit_code, 1) << process_->Log();
  EXPECT_THAT(process_->Log(), HasSubstr("listener_failed"));
  EXPECT_THAT(process_->Log(), HasSubstr("stopped"));
}

// The soft open-file limit is raised to the hard one, and logged.
TEST_F(ServerProcessTest, TheOpenFileLimitIsRaised) {
  StartServer({}, {"/usr/bin/prlimit", "--nofile=512:4096"});
  EXPECT_THAT(process_->Log(),
              HasSubstr("file_limit open_files=4096 raised_from=512"));
}

TEST_F(ServerProcessTest, SigtermWhileLoadingExitsAtOnce) {
  absl::StatusOr<int> port = PickFreePort();
  ASSERT_TRUE(port.ok());
  const std::string tls = dir_->path() + "/tls";
  const std::string tmp = dir_->path() + "/tmp";
  ASSERT_EQ(std::system(("mkdir -p " + tls + " " + tmp + " && cd " + tls +
                         " && openssl req -x509 -newkey ec -pkeyopt "
                         "ec_paramgen_curve:prime256v1 -nodes -keyout key.pem "
                         "-out cert.pem -days 2 -subj /CN=localhost "
                         ">openssl.log 2>&1")
                            .c_str()),
            0);
  absl::StatusOr<std::unique_ptr<Subprocess>> process = Subprocess::Start(
      {"/usr/bin/env", "TMPDIR=" + tmp, STYLIZER_SERVER_BINARY,
       absl::StrCat("--port=", *port), "--host=127.0.0.1", "--metrics_port=-1",
       "--device=cpu", "--precision=fp32", "--threads=1", "--drain_timeout=0s",
       "--tls_cert=" + tls + "/cert.pem", "--tls_key=" + tls + "/key.pem",
       "--model=" + BuildDir() + "/testdata/model_golden/never_loads.pt"},
      dir_->path() + "/never_loads.log");
  ASSERT_TRUE(process.ok()) << process.status();
  const absl::Time end = absl::Now() + absl::Seconds(60);
  while ((*process)->Log().find("loading_model") == std::string::npos) {
    ASSERT_TRUE((*process)->Running()) << (*process)->Log();
    ASSERT_LT(absl::Now(), end) << (*process)->Log();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // in LibTorch
  ASSERT_EQ(kill((*process)->pid(), SIGTERM), 0);
  absl::StatusOr<int> exit_code = (*process)->Wait(absl::Seconds(10));
  ASSERT_TRUE(exit_code.ok()) << exit_code.status() << (*process)->Log();
  EXPECT_EQ(*exit_code, 0) << (*process)->Log();
  EXPECT_THAT((*process)->Log(), HasSubstr("stopped while_loading=true"));
  EXPECT_TRUE(std::filesystem::is_empty(tmp))
      << std::filesystem::directory_iterator(tmp)->path();
}

// A second SIGTERM or SIGINT during the drain ends it at once (exit 1): it
// was ignored, and the drain ran its whole --drain_timeout (60 s here).
TEST_F(ServerProcessTest, ASecondSignalEndsTheDrainAtOnce) {
  StartServer();
  if (HasFatalFailure()) return;
  grpc::ClientContext context;
  auto stream = v1::Stylizer::NewStub(channel_)->StylizeFrames(&context);
  v1::StylizeFramesRequest frame;
  *frame.mutable_image() = RawTestImage(16, 16);
  v1::StylizeFramesResponse response;
  ASSERT_TRUE(stream->Write(frame));
  ASSERT_TRUE(stream->Read(&response));  // open: the drain waits for it
  ASSERT_EQ(kill(process_->pid(), SIGTERM), 0);
  const absl::Time end = absl::Now() + absl::Seconds(30);
  while (process_->Log().find("draining") == std::string::npos &&
         absl::Now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_THAT(process_->Log(), HasSubstr("draining"));
  ASSERT_EQ(kill(process_->pid(), SIGINT), 0);
  absl::StatusOr<int> exit_code = process_->Wait(absl::Seconds(20));
  ASSERT_TRUE(exit_code.ok()) << exit_code.status() << process_->Log();
  EXPECT_EQ(*exit_code, 1) << process_->Log();
  EXPECT_THAT(process_->Log(), HasSubstr("signal_again"));
  context.TryCancel();
  stream->Finish();
}

// SIGHUP reads the token file again at once: a rotated token works without
// waiting for the hourly reload, and the server serves on. SIGHUP's default
// action had ended it at once, without a drain.
TEST_F(ServerProcessTest, SighupReloadsTheTokenFileAtOnce) {
  const std::string path = dir_->path() + "/tokens";
  const std::string old_token = "old-token-0123456789abcdef";
  const std::string new_token = "new-token-0123456789abcdef";
  { std::ofstream(path) << old_token << "\n"; }
  StartServer({"--auth_token_file=" + path, "--auth_token_reload_interval=1h"});
  if (HasFatalFailure()) return;
  auto stub = v1::Stylizer::NewStub(channel_);
  auto works = [&](const std::string& token) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + token);
    v1::ModelInfo info;
    return stub->GetModelInfo(&context, {}, &info).ok();
  };
  EXPECT_TRUE(works(old_token));
  { std::ofstream(path) << new_token << "\n"; }
  ASSERT_EQ(kill(process_->pid(), SIGHUP), 0);
  const absl::Time end = absl::Now() + absl::Seconds(30);
  while (!works(new_token) && absl::Now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(works(new_token)) << process_->Log();
  EXPECT_FALSE(works(old_token));
  ASSERT_TRUE(process_->Running()) << process_->Log();
  EXPECT_EQ(Check(), HealthCheckResponse::SERVING);
  EXPECT_THAT(process_->Log(),
              HasSubstr("reload_requested tls_files=false auth_tokens=true"));
  EXPECT_THAT(process_->Log(), HasSubstr("auth_tokens_reloaded"));
}

// A token file any user may read is named at start, and served with.
TEST_F(ServerProcessTest, ASecretOthersMayReadIsWarnedOf) {
  const std::string path = dir_->path() + "/tokens";
  { std::ofstream(path) << "token-0123456789abcdef\n"; }
  ASSERT_EQ(chmod(path.c_str(), 0644), 0);
  StartServer({"--auth_token_file=" + path});
  if (HasFatalFailure()) return;
  EXPECT_THAT(process_->Log(), HasSubstr("warning secret_readable_by_others "
                                         "flag=--auth_token_file path=" +
                                         path + " mode=0644"));
}

// Flag values that used to start a server which then failed every call using
// them (a crf or preset the encoder refuses, an empty video window, a pixel
// limit that wraps negative) or silently meant something else (a negative
// metrics port, memory budget or drain timeout) exit 1 at once, before the
// model loads, with a startup_failed line naming the flag. All start
// together, so that a value the server wrongly accepts costs one wait.
TEST_F(ServerProcessTest, OutOfRangeFlagsAreRefusedAtStart) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      // {flag=value, what the error must name}
      {"--default_crf=99", "--default_crf"},
      {"--default_crf=-1", "--default_crf"},
      {"--x264_preset=bogus", "--x264_preset"},
      {"--video_frames_in_flight=0", "--video_frames_in_flight"},
      {"--video_pending_frames=0", "--video_pending_frames"},
      {"--video_window_bytes=18446744073709551615", "--video_window_bytes"},
      {"--max_upload_bytes=0", "--max_upload_bytes"},
      {"--max_frame_pixels=18446744073709551615", "--max_frame_pixels"},
      {"--max_frame_pixels=2147483648", "--max_frame_pixels"},
      {"--metrics_port=-5", "--metrics_port"},
      {"--memory_budget_bytes=-7", "--memory_budget_bytes"},
      {"--drain_timeout=-20s", "--drain_timeout"},
      {"--batch_timeout=-1ms", "--batch_timeout"},
      {"--max_connection_age=-1s", "--max_connection_age"},
      {"--encoder_threads=-2", "--encoder_threads"},
      {"--spool_memory_bytes=18446744073709551615", "--spool_memory_bytes"},
      // A negative reload interval meant "never reload"; a huge thread
      // count aborted (work pool) or hung the load (LibTorch); the CUDA
      // options were checked only after the model had loaded on the GPU.
      // Named as flags (the message named fields, or several at once).
      {"--queue_workers=0", "--queue_workers must be in"},
      {"--max_concurrent_streams=0", "--max_concurrent_streams must be"},
      {"--max_styles_per_request=0", "--max_styles_per_request must be"},
      {"--grpc_memory_quota_bytes=-2", "--grpc_memory_quota_bytes must be"},
      {"--tls_reload_interval=-1s", "--tls_reload_interval"},
      {"--auth_token_reload_interval=-5s", "--auth_token_reload_interval"},
      {"--work_threads=100000", "--work_threads"},
      {"--threads=100000", "--threads"},
      {"--cuda_memory_fraction=2", "--cuda_memory_fraction"},
      {"--cuda_memory_fraction=0", "--cuda_memory_fraction"},
      {"--cuda_max_chunk_frames=-3", "--cuda_max_chunk_frames"},
      {"--cuda_graph_shapes=0", "--cuda_graph_shapes"},
      // The queue's own rules, checked before the model loads too.
      {"--max_batch_size=0", "--max_batch_size must be at least 1"},
      {"--max_frames_in_flight_per_job=0", "max_frames_in_flight_per_job"},
      {"--max_queued_items=4", "--max_queued_items (4)"},
      // An argument was ignored (the bundled model served in its place); a
      // spool directory that cannot be written failed only the first large
      // upload (INTERNAL); a host with a port, or none, failed to bind with
      // a guess at the cause.
      {"stray.pt", "unexpected argument 'stray.pt'"},
      {"--spool_dir=/nonexistent/dir", "--spool_dir must be a directory"},
      {"--host=127.0.0.1:5000", "--host=127.0.0.1:5000 is not an address"},
      {"--host=", "--host is empty"},
      // Refused by the server's own checks, without naming the flag.
      {"--port=-1", "--port must be in"},
      {"--keepalive_time=0s", "--keepalive_time must be above 0"},
      {"--batch_timeout=inf", "--batch_timeout must be finite"},
      {"--max_send_message_bytes=10", "--max_send_message_bytes must be"},
      {"--metrics_port=PORT",
       "--port and --metrics_port are both"},  // --port's
  };
  std::vector<std::unique_ptr<Subprocess>> processes;
  for (size_t i = 0; i < cases.size(); ++i) {
    absl::StatusOr<int> port = PickFreePort();
    ASSERT_TRUE(port.ok()) << port.status();
    // The bad flag comes last, so it wins over the harmless defaults (and a
    // server that wrongly accepts it would start and serve).
    absl::StatusOr<std::unique_ptr<Subprocess>> process = Subprocess::Start(
        {STYLIZER_SERVER_BINARY, absl::StrCat("--port=", *port),
         "--host=127.0.0.1", "--metrics_port=-1",
         "--model=" + BuildDir() + "/testdata/random4.pt", "--device=cpu",
         "--precision=fp32", "--threads=1", "--work_threads=1",
         absl::StrReplaceAll(cases[i].first, {{"PORT", absl::StrCat(*port)}})},
        absl::StrCat(dir_->path(), "/bad_flag_", i, ".log"));
    ASSERT_TRUE(process.ok()) << process.status();
    processes.push_back(*std::move(process));
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(120);
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].first);
    absl::StatusOr<int> exit_code = processes[i]->Wait(
        std::max(deadline - absl::Now(), absl::ZeroDuration()));
    const std::string log = processes[i]->Log();
    if (!exit_code.ok()) {
      ADD_FAILURE() << exit_code.status() << "\n" << log;
      continue;
    }
    EXPECT_EQ(*exit_code, 1) << log;
    EXPECT_THAT(log, HasSubstr("startup_failed"));
    EXPECT_THAT(log, HasSubstr(cases[i].second));
    EXPECT_THAT(log, ::testing::Not(HasSubstr("loading_model")));
  }
}

// The ends of those ranges are accepted: the server starts, decodes PNG and
// JPEG under the largest pixel limit, and drains (a 0 s drain cancels at
// once) with exit 0.
TEST_F(ServerProcessTest, FlagsAtTheEndsOfTheirRangesAreAccepted) {
  StartServer({"--default_crf=51", "--x264_preset=placebo",
               "--video_frames_in_flight=1", "--video_pending_frames=1",
               "--video_window_bytes=0", "--max_upload_bytes=1",
               "--max_frame_pixels=2147483647", "--metrics_port=0",
               "--memory_budget_bytes=-1", "--drain_timeout=0s"});
  if (HasFatalFailure()) return;
  auto stub = v1::Stylizer::NewStub(channel_);
  // Raw in, PNG out; that PNG in, JPEG out; that JPEG in.
  v1::Image image = RawTestImage(32, 24);
  for (v1::ImageFormat format :
       {v1::IMAGE_FORMAT_PNG, v1::IMAGE_FORMAT_JPEG, v1::IMAGE_FORMAT_RAW}) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
    v1::StylizeImageRequest request;
    *request.mutable_image() = image;
    request.add_styles()->set_index(0);
    request.set_output_format(format);
    v1::StylizeImageResponse response;
    grpc::Status status = stub->StylizeImage(&context, request, &response);
    ASSERT_TRUE(status.ok()) << format << ": " << status.error_message();
    ASSERT_EQ(response.images_size(), 1);
    image = response.images(0).image();
  }
  EXPECT_EQ(image.raw().width(), 32u);
  EXPECT_EQ(process_->Stop(absl::Seconds(30)), 0) << process_->Log();
}

// One frame through a fresh StylizeFrames stream, retried while every stream
// slot is taken (RESOURCE_EXHAUSTED), for up to `patience`. Returns the last
// status.
grpc::Status FrameStreamWhenASlotIsFree(v1::Stylizer::Stub* stub,
                                        absl::Duration patience) {
  const absl::Time end = absl::Now() + patience;
  while (true) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(120)));
    auto stream = stub->StylizeFrames(&context);
    v1::StylizeFramesRequest frame;
    *frame.mutable_image() = RawTestImage(32, 24);
    frame.add_styles()->set_index(0);
    stream->Write(frame);
    stream->WritesDone();
    v1::StylizeFramesResponse response;
    while (stream->Read(&response)) {
    }
    grpc::Status status = stream->Finish();
    if (status.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED ||
        absl::Now() > end) {
      return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// Hostile clients (issue: idle streams held every slot): streams that send
// nothing end with DEADLINE_EXCEEDED after --stream_idle_timeout and give
// their slot back.
TEST_F(ServerProcessTest, IdleStreamsEndAndFreeTheirSlots) {
  StartServer({"--stream_idle_timeout=1s", "--max_concurrent_streams=2"});
  if (HasFatalFailure()) return;
  auto stub = v1::Stylizer::NewStub(channel_);

  // Two video calls that send their job and then nothing: every slot.
  grpc::ClientContext video_contexts[2];
  std::unique_ptr<grpc::ClientReaderWriter<v1::StylizeVideoRequest,
                                           v1::StylizeVideoResponse>>
      videos[2];
  for (int i = 0; i < 2; ++i) {
    // The client's own deadline is far away: what ends the call is the
    // server's idle timeout.
    video_contexts[i].set_deadline(
        absl::ToChronoTime(absl::Now() + absl::Seconds(120)));
    videos[i] = stub->StylizeVideo(&video_contexts[i]);
    v1::StylizeVideoRequest job;
    job.mutable_job()->add_styles()->set_index(0);
    ASSERT_TRUE(videos[i]->Write(job));
  }
  for (auto& video : videos) {
    v1::StylizeVideoResponse response;
    while (video->Read(&response)) {
    }
    grpc::Status status = video->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
        << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr("sent nothing for 1s"));
  }

  {  // A frame stream that never sends its first frame ends the same way
     // (retried while the video calls' slots are still being given back:
     // their status can reach us a moment before their reactors are gone).
    grpc::Status status;
    const absl::Time end = absl::Now() + absl::Seconds(60);
    do {
      grpc::ClientContext context;
      context.set_deadline(
          absl::ToChronoTime(absl::Now() + absl::Seconds(120)));
      auto stream = stub->StylizeFrames(&context);
      v1::StylizeFramesResponse response;
      EXPECT_FALSE(stream->Read(&response));
      status = stream->Finish();
    } while (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
             absl::Now() < end);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
        << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr("stream idle timeout"));
  }

  // The slots are free again.
  grpc::Status status =
      FrameStreamWhenASlotIsFree(stub.get(), absl::Seconds(120));
  EXPECT_TRUE(status.ok()) << status.error_message();
}

// The value of stylizer_active_streams{method="<method>"} in a scrape of the
// server's metrics, or -1 when the scrape fails or has no such series.
double ActiveStreams(int metrics_port, absl::string_view method) {
  absl::StatusOr<HttpResponse> scrape = HttpGet(metrics_port, "/metrics");
  if (!scrape.ok() || scrape->status != 200) return -1;
  absl::StatusOr<std::vector<Sample>> samples = ParseExposition(scrape->body);
  if (!samples.ok()) return -1;
  return FindValue(*samples, "stylizer_active_streams",
                   {{"method", std::string(method)}})
      .value_or(-1);
}

// A client that sends frames but never reads the answers: the server stops
// reading (flow control), and after the idle timeout ends the stream, so its
// slot is free for others.
TEST_F(ServerProcessTest, FrameStreamThatNeverReadsEndsAndFreesItsSlot) {
  absl::StatusOr<int> metrics_port = PickFreePort();
  ASSERT_TRUE(metrics_port.ok()) << metrics_port.status();
  StartServer({"--stream_idle_timeout=1s", "--max_concurrent_streams=1",
               "--max_frames_buffered_per_stream=2",
               absl::StrCat("--metrics_port=", *metrics_port)});
  if (HasFatalFailure()) return;
  // A connection of its own, so that its unread answers block no one else,
  // with a fixed 64 KiB window (no growth by bandwidth probes).
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 64 * 1024);
  auto hostile_stub = v1::Stylizer::NewStub(
      grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port_),
                                grpc::InsecureChannelCredentials(), args));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(120)));
  auto hostile = hostile_stub->StylizeFrames(&context);
  v1::StylizeFramesRequest frame;
  // One style of a raw 256x256 frame: 196 KB per answer, more than the
  // stream's window holds, and little model time on a loaded machine (every
  // style of 512x512 frames took most of the waits below there).
  *frame.mutable_image() = RawTestImage(256, 256);
  frame.add_styles()->set_index(0);
  for (int i = 0; i < 4; ++i) {
    frame.set_sequence(i);
    if (!hostile->Write(frame)) break;  // the server ended the call
  }
  // The writes return once the bytes are sent, not once the server has taken
  // the call: wait until it holds the only slot (or has already timed it
  // out), or the other stream below, on another connection, could take the
  // slot first and the hostile one would be refused instead of timed out.
  const absl::Time admitted_by = absl::Now() + absl::Seconds(60);
  while (ActiveStreams(*metrics_port, "StylizeFrames") < 1 &&
         !absl::StrContains(process_->Log(), "stream idle timeout") &&
         absl::Now() < admitted_by) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }

  auto stub = v1::Stylizer::NewStub(channel_);
  grpc::Status status =
      FrameStreamWhenASlotIsFree(stub.get(), absl::Seconds(120));
  EXPECT_TRUE(status.ok()) << status.error_message();

  v1::StylizeFramesResponse response;
  while (hostile->Read(&response)) {
  }
  status = hostile->Finish();
  EXPECT_THAT(status.error_code(),
              ::testing::AnyOf(grpc::StatusCode::DEADLINE_EXCEEDED,
                               grpc::StatusCode::CANCELLED))
      << status.error_message();
  // (Not HasSubstr: on failure it would print the whole log.)
  EXPECT_TRUE(absl::StrContains(process_->Log(), "stream idle timeout"));
}

// --max_connection_age sends GOAWAY, but the call in flight runs on (the
// grace is infinite by default), and the channel reconnects for the next.
TEST_F(ServerProcessTest, ConnectionAgeSparesTheCallInFlight) {
  StartServer({"--max_connection_age=1s"});
  if (HasFatalFailure()) return;
  auto stub = v1::Stylizer::NewStub(channel_);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(120)));
  auto stream = stub->StylizeFrames(&context);
  v1::StylizeFramesRequest frame;
  *frame.mutable_image() = RawTestImage(32, 24);
  frame.add_styles()->set_index(1);
  // Lock-step frames for three connection ages (the pause only paces them).
  const absl::Time end = absl::Now() + absl::Seconds(3);
  for (int i = 0; absl::Now() < end; ++i) {
    frame.set_sequence(i);
    ASSERT_TRUE(stream->Write(frame)) << i;
    v1::StylizeFramesResponse response;
    ASSERT_TRUE(stream->Read(&response)) << i;
    EXPECT_EQ(response.sequence(), static_cast<uint64_t>(i));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  stream->WritesDone();
  grpc::Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  status = FrameStreamWhenASlotIsFree(stub.get(), absl::Seconds(120));
  EXPECT_TRUE(status.ok()) << status.error_message();
}

// --max_connection_idle closes a connection without calls (GOAWAY): the
// channel leaves READY (a client's own idle timer would take 30 minutes).
TEST_F(ServerProcessTest, IdleConnectionsAreClosed) {
  StartServer({"--max_connection_idle=1s"});
  if (HasFatalFailure()) return;
  ASSERT_EQ(channel_->GetState(false), GRPC_CHANNEL_READY);
  EXPECT_TRUE(channel_->WaitForStateChange(
      GRPC_CHANNEL_READY, absl::ToChronoTime(absl::Now() + absl::Seconds(60))));
}

// --metrics_host=127.0.0.1 keeps /metrics on loopback's 127.0.0.1 only.
TEST_F(ServerProcessTest, MetricsHostBindsOnlyThatAddress) {
  absl::StatusOr<int> metrics_port = PickFreePort();
  ASSERT_TRUE(metrics_port.ok()) << metrics_port.status();
  StartServer({"--metrics_host=127.0.0.1",
               absl::StrCat("--metrics_port=", *metrics_port)});
  if (HasFatalFailure()) return;
  absl::StatusOr<HttpResponse> scrape = HttpGet(*metrics_port, "/metrics");
  ASSERT_TRUE(scrape.ok()) << scrape.status();
  EXPECT_EQ(scrape->status, 200);
  EXPECT_THAT(scrape->body, HasSubstr("stylizer_"));
  EXPECT_FALSE(CanConnect("127.0.0.2", *metrics_port));
}

// Without --metrics_host, /metrics follows --host=127.0.0.1 (it listened on
// every address).
TEST_F(ServerProcessTest, MetricsFollowALoopbackHost) {
  absl::StatusOr<int> metrics_port = PickFreePort();
  ASSERT_TRUE(metrics_port.ok()) << metrics_port.status();
  StartServer({absl::StrCat("--metrics_port=", *metrics_port)});
  if (HasFatalFailure()) return;
  absl::StatusOr<HttpResponse> scrape = HttpGet(*metrics_port, "/metrics");
  ASSERT_TRUE(scrape.ok()) << scrape.status();
  EXPECT_EQ(scrape->status, 200);
  EXPECT_FALSE(CanConnect("127.0.0.2", *metrics_port));
}

}  // namespace
}  // namespace stylizer::testing
