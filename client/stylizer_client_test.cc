// Tests of the client library against the in-process fake server: every RPC,
// the video upload/download, retries, health, and option errors.
#include "client/stylizer_client.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "client/rpc_errors.h"
#include "client/testing/fake_stylizer_service.h"

namespace stylizer::client {
namespace {

using testing::FakeServer;
using ::testing::HasSubstr;
using ::testing::Not;

ClientOptions FastOptions(const std::string& server) {
  ClientOptions o;
  o.server = server;
  o.retry.initial_backoff = absl::Milliseconds(5);
  o.retry.max_backoff = absl::Milliseconds(20);
  o.upload_chunk_bytes = 1000;
  return o;
}

// Collects every output's bytes in memory.
class Collector : public VideoObserver {
 public:
  void OnUploadProgress(uint64_t sent, uint64_t total) override {
    last_sent = sent;
    total_ = total;
  }
  absl::Status OnAccepted(const stylizer::v1::JobAccepted& a) override {
    accepted = true;
    return absl::OkStatus();
  }
  absl::Status OnChunk(uint32_t index, absl::string_view data) override {
    outputs[index].append(data.data(), data.size());
    return absl::OkStatus();
  }
  absl::Status OnSummary(const stylizer::v1::JobSummary& s) override {
    summary = true;
    return absl::OkStatus();
  }
  std::map<uint32_t, std::string> outputs;
  bool accepted = false, summary = false;
  uint64_t last_sent = 0, total_ = 0;
};

std::string FakeMovie(size_t n) {
  std::string m = std::string("\0\0\0\x20", 4) + "ftypisom";
  while (m.size() < n) m.push_back(static_cast<char>(m.size() * 7));
  return m;
}

TEST(StylizerClientTest, ModelInfoAndImage) {
  FakeServer server;
  auto client = StylizerClient::Create(FastOptions(server.address()));
  ASSERT_TRUE(client.ok()) << client.status();
  auto info = (*client)->GetModelInfo();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->styles_size(), 4);

  stylizer::v1::StylizeImageRequest req;
  req.mutable_image()->set_encoded("\x89PNG fake");
  req.add_styles()->set_index(2);
  auto resp = (*client)->StylizeImage(req);
  ASSERT_TRUE(resp.ok()) << resp.status();
  ASSERT_EQ(resp->images_size(), 1);

  req.mutable_image()->set_encoded("plain text");
  auto bad = (*client)->StylizeImage(req);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("rejected the input"));
}

TEST(StylizerClientTest, VideoUploadsAndCollectsEveryOutput) {
  FakeServer server;
  auto client = StylizerClient::Create(FastOptions(server.address()));
  ASSERT_TRUE(client.ok());
  const std::string movie = FakeMovie(10000);
  StringSource source(movie);
  stylizer::v1::VideoJob job;
  job.add_styles()->set_index(0);
  job.add_styles()->set_index(3);
  Collector c;
  absl::Status s = (*client)->StylizeVideo(job, &source, &c);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_TRUE(c.accepted);
  EXPECT_TRUE(c.summary);
  ASSERT_EQ(c.outputs.size(), 2u);
  EXPECT_EQ(c.outputs[0], movie);
  EXPECT_EQ(c.outputs[1], movie);
  EXPECT_EQ(c.last_sent, movie.size());
  EXPECT_EQ(c.total_, movie.size());
}

TEST(StylizerClientTest, RetriesUnavailableBeforeOutput) {
  FakeServer server;
  auto client = StylizerClient::Create(FastOptions(server.address()));
  server.service().fail_unavailable = 2;
  StringSource source(FakeMovie(3000));
  stylizer::v1::VideoJob job;
  Collector c;
  ASSERT_TRUE((*client)->StylizeVideo(job, &source, &c).ok());
  EXPECT_EQ(c.outputs.size(), 4u);  // empty list: every style
  EXPECT_EQ(c.outputs[3].size(), 3000u);
  EXPECT_EQ(server.service().calls.load(), 3);
}

// A busy server's refusal (RESOURCE_EXHAUSTED with a retry hint) is retried
// like UNAVAILABLE: the upload is sent again from its first byte.
TEST(StylizerClientTest, RetriesABusyServer) {
  FakeServer server;
  auto client = StylizerClient::Create(FastOptions(server.address()));
  ASSERT_TRUE(client.ok());
  server.service().fail_busy = 2;
  StringSource source(FakeMovie(3000));
  stylizer::v1::VideoJob job;
  Collector c;
  const absl::Status s = (*client)->StylizeVideo(job, &source, &c);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(c.outputs[3].size(), 3000u);
  EXPECT_EQ(server.service().calls.load(), 3);

  server.service().fail_busy = 1;
  stylizer::v1::StylizeImageRequest image;
  image.mutable_image()->set_encoded("\x89PNG fake");
  EXPECT_TRUE((*client)->StylizeImage(image).ok());
}

// --timeout bounds a video job with its retries: each attempt had a
// deadline of its own, and the waits between them none. A server busy for
// good, asking for 1 s each time, held a 2 s job for 13 s.
TEST(StylizerClientTest, TheTimeoutBoundsAVideoJobWithItsRetries) {
  FakeServer server;
  ClientOptions options = FastOptions(server.address());
  options.timeout = absl::Seconds(2);
  options.retry.max_retries = 6;
  auto client = StylizerClient::Create(options);
  ASSERT_TRUE(client.ok());
  server.service().fail_busy = 100;
  server.service().busy_hint_ms = 1000;
  StringSource source(FakeMovie(3000));
  stylizer::v1::VideoJob job;
  Collector c;
  const absl::Time start = absl::Now();
  const absl::Status s = (*client)->StylizeVideo(job, &source, &c);
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("the deadline (--timeout)"));
  EXPECT_LE(server.service().calls.load(), 2);  // at 0 s and 1 s, not at 2 s
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));
}

// A pipe whose writer keeps it open: the bytes written so far are all there
// is until Close().
class OpenPipe {
 public:
  OpenPipe() {
    if (pipe(fds_) != 0) std::abort();
  }
  ~OpenPipe() {
    Close();
    close(fds_[0]);
  }
  int read_fd() const { return fds_[0]; }
  void Write(const std::string& bytes) {
    ASSERT_EQ(write(fds_[1], bytes.data(), bytes.size()),
              static_cast<ssize_t>(bytes.size()));
  }
  void Close() {
    if (fds_[1] >= 0) close(fds_[1]);
    fds_[1] = -1;
  }

 private:
  int fds_[2] = {-1, -1};
};

// A live source (a capture piped in) is sent as its bytes come, not once a
// whole upload chunk (256 KiB) has piled up or the pipe has closed.
TEST(StylizerClientTest, AMovieFromAPipeIsSentAsItArrives) {
  FakeServer server;
  ClientOptions options = FastOptions(server.address());
  options.upload_chunk_bytes = 64 * 1024;  // more than the pipe holds
  auto client = StylizerClient::Create(options);
  ASSERT_TRUE(client.ok());
  stylizer::v1::VideoJob job;
  job.add_styles()->set_index(1);
  OpenPipe pipe;
  pipe.Write(FakeMovie(3000));
  StreamSource source(pipe.read_fd(), "standard input");
  Collector c;
  absl::Status s;
  std::thread call([&] { s = (*client)->StylizeVideo(job, &source, &c); });
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (server.service().upload_bytes.load() < 3000 &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(server.service().upload_bytes.load(), 3000)
      << "the bytes in the pipe were not sent while it stayed open";
  pipe.Write(std::string(500, 'x'));
  pipe.Close();
  call.join();
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(c.outputs[0].size(), 3500u);
}

// The server refuses the movie while the pipe is open and silent: the call
// ends with the server's reason at once, not when the pipe next delivers.
TEST(StylizerClientTest, AnEndedCallDoesNotWaitForASilentPipe) {
  FakeServer server;
  server.service().refuse_video_after_bytes = 1000;
  auto client = StylizerClient::Create(FastOptions(server.address()));
  ASSERT_TRUE(client.ok());
  stylizer::v1::VideoJob job;
  OpenPipe pipe;
  pipe.Write(FakeMovie(3000));
  StreamSource source(pipe.read_fd(), "standard input");
  Collector c;
  absl::Notification done;
  absl::Status s;
  std::thread call([&] {
    s = (*client)->StylizeVideo(job, &source, &c);
    done.Notify();
  });
  const bool ended = done.WaitForNotificationWithTimeout(absl::Seconds(30));
  pipe.Close();  // lets a call that still waits end, so the test can
  call.join();
  ASSERT_TRUE(ended) << "still waiting for the pipe 30 s after the refusal";
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
}

// A movie read from a pipe cannot be sent twice: once its bytes were read,
// a refusal that a file would have been retried after is final, and says
// why. A file's upload is sent again.
TEST(StylizerClientTest, AMovieFromAPipeIsNotSentTwice) {
  FakeServer server;
  auto client = StylizerClient::Create(FastOptions(server.address()));
  ASSERT_TRUE(client.ok());
  stylizer::v1::VideoJob job;
  job.add_styles()->set_index(2);

  server.service().fail_busy_after_upload = 1;
  std::istringstream pipe(FakeMovie(3000));
  StreamSource stdin_source(&pipe, "standard input");
  Collector c;
  absl::Status s = (*client)->StylizeVideo(job, &stdin_source, &c);
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("; not tried again: the movie came from "
                                     "standard input, which cannot be read "
                                     "twice"));
  EXPECT_EQ(server.service().calls.load(), 1);

  server.service().fail_busy_after_upload = 1;
  StringSource file(FakeMovie(3000));
  Collector again;
  s = (*client)->StylizeVideo(job, &file, &again);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(again.outputs[0].size(), 3000u);
  EXPECT_EQ(server.service().calls.load(), 3);

  // Read whole, once, by a job that works.
  std::istringstream second(FakeMovie(5000));
  StreamSource whole(&second, "standard input");
  Collector ok;
  s = (*client)->StylizeVideo(job, &whole, &ok);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(ok.outputs[0], FakeMovie(5000));
  EXPECT_EQ(ok.total_, 0u);  // the size of a pipe is not known
}

// A busy server may ask for a long wait: CancelAll (Ctrl-C) ends it at once.
TEST(StylizerClientTest, CancelAllCutsARetryWaitShort) {
  FakeServer server;
  ClientOptions options = FastOptions(server.address());
  options.retry.max_retries = 3;
  auto client = StylizerClient::Create(options);
  ASSERT_TRUE(client.ok());
  server.service().fail_busy = 1;
  server.service().busy_hint_ms = 20000;
  stylizer::v1::StylizeImageRequest image;
  image.mutable_image()->set_encoded("\x89PNG fake");
  absl::Status status;
  absl::Time returned;
  std::thread call([&] {
    status = (*client)->StylizeImage(image).status();
    returned = absl::Now();
  });
  // Once the fake refused the call, the client is about to wait (or waits).
  const absl::Time give_up = absl::Now() + absl::Seconds(60);
  while (server.service().calls.load() < 1 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  absl::SleepFor(absl::Milliseconds(50));
  const absl::Time cancelled = absl::Now();
  (*client)->CancelAll();
  call.join();
  EXPECT_THAT(std::string(status.message()), HasSubstr("interrupted"));
  // The wait was 20 s; a wide margin for a loaded machine.
  EXPECT_LT(returned - cancelled, absl::Seconds(10));
  EXPECT_EQ(server.service().calls.load(), 1);
}

TEST(StylizerClientTest, ABusyServerIsNotRetriedWhenThePolicySaysSo) {
  FakeServer server;
  ClientOptions options = FastOptions(server.address());
  options.retry.retry_busy = false;
  auto client = StylizerClient::Create(options);
  ASSERT_TRUE(client.ok());
  server.service().fail_busy = 1;
  stylizer::v1::StylizeImageRequest image;
  image.mutable_image()->set_encoded("\x89PNG fake");
  const auto r = (*client)->StylizeImage(image);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("is busy"));
  EXPECT_EQ(server.service().calls.load(), 1);
}

// The request id travels as x-request-id and ends the message of a call
// that failed at the server; one that is not a header value is refused.
TEST(StylizerClientTest, RequestIdIsSentAndNamedInErrors) {
  FakeServer server;
  ClientOptions options = FastOptions(server.address());
  options.request_id = "job-42.a";
  auto client = StylizerClient::Create(options);
  ASSERT_TRUE(client.ok());
  stylizer::v1::StylizeImageRequest image;
  image.mutable_image()->set_encoded("not an image");
  const auto r = (*client)->StylizeImage(image);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(server.service().last_request_id(), "job-42.a");
  EXPECT_THAT(std::string(r.status().message()),
              ::testing::EndsWith("(request id job-42.a)"));

  for (const std::string& bad :
       {std::string("has space"), std::string("new\nline"),
        std::string(129, 'x')}) {
    options.request_id = bad;
    const auto refused = StylizerClient::Create(options);
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_TRUE(IsUsageError(refused.status())) << refused.status();
    EXPECT_THAT(std::string(refused.status().message()),
                HasSubstr("--request_id"));
    // Its own words: it spoke of a token and `openssl rand`.
    EXPECT_THAT(std::string(refused.status().message()),
                Not(HasSubstr("token")));
  }
}

TEST(StylizerClientTest, NoRetryOnceOutputArrived) {
  FakeServer server;
  auto client = StylizerClient::Create(FastOptions(server.address()));
  server.service().fail_after_chunks = 2;
  StringSource source(FakeMovie(3000));
  Collector c;
  absl::Status s =
      (*client)->StylizeVideo(stylizer::v1::VideoJob(), &source, &c);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(s.message(), HasSubstr("encoder exploded"));
  EXPECT_EQ(server.service().calls.load(), 1);
}

// A second JobAccepted is out of the protocol, as an output not asked for
// or a message after the summary are: the job fails at once, the outputs
// unused. It was taken silently.
TEST(StylizerClientTest, ASecondJobAcceptedFailsTheJob) {
  FakeServer server;
  server.service().accept_twice = true;
  auto client = StylizerClient::Create(FastOptions(server.address()));
  StringSource source(FakeMovie(3000));
  class Counting : public Collector {
   public:
    absl::Status OnAccepted(const stylizer::v1::JobAccepted& a) override {
      ++accepted_count;
      return Collector::OnAccepted(a);
    }
    int accepted_count = 0;
  } c;
  stylizer::v1::VideoJob job;
  job.add_styles()->set_index(0);
  const absl::Status s = (*client)->StylizeVideo(job, &source, &c);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
  EXPECT_EQ(std::string(s.message()),
            "the server sent a second JobAccepted for the job");
  EXPECT_EQ(c.accepted_count, 1);
  EXPECT_FALSE(c.summary);
  EXPECT_EQ(server.service().calls.load(), 1);  // not tried again
}

TEST(StylizerClientTest, BadMovieIsInvalidArgument) {
  FakeServer server;
  auto client = StylizerClient::Create(FastOptions(server.address()));
  StringSource source("this is not a movie at all");
  Collector c;
  absl::Status s =
      (*client)->StylizeVideo(stylizer::v1::VideoJob(), &source, &c);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(c.outputs.empty());
}

TEST(StylizerClientTest, ObserverErrorCancelsTheJob) {
  FakeServer server;
  auto client = StylizerClient::Create(FastOptions(server.address()));
  class Failing : public Collector {
    absl::Status OnChunk(uint32_t, absl::string_view) override {
      return absl::ResourceExhaustedError("disk full");
    }
  } c;
  StringSource source(FakeMovie(3000));
  absl::Status s =
      (*client)->StylizeVideo(stylizer::v1::VideoJob(), &source, &c);
  EXPECT_EQ(s.message(), "disk full");
}

TEST(StylizerClientTest, CancelAllInterruptsAndRefusesLaterCalls) {
  FakeServer server;
  auto client = StylizerClient::Create(FastOptions(server.address()));
  class CancelOnAccept : public Collector {
   public:
    StylizerClient* client = nullptr;
    absl::Status OnAccepted(const stylizer::v1::JobAccepted& a) override {
      client->CancelAll();
      return absl::OkStatus();
    }
  } c;
  c.client = client->get();
  StringSource source(FakeMovie(3000));
  absl::Status s =
      (*client)->StylizeVideo(stylizer::v1::VideoJob(), &source, &c);
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(s.message(), "interrupted");
  EXPECT_EQ((*client)->GetModelInfo().status().message(), "interrupted");
}

TEST(StylizerClientTest, Health) {
  FakeServer server;
  auto client = StylizerClient::Create(FastOptions(server.address()));
  auto h = (*client)->CheckHealth();
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(*h, HealthState::kServing);
  server.SetServing(false);
  EXPECT_EQ(*(*client)->CheckHealth(), HealthState::kNotServing);
  EXPECT_EQ(*(*client)->CheckHealth("no.such.Service"),
            HealthState::kServiceUnknown);
  EXPECT_EQ(HealthStateName(HealthState::kServing), "SERVING");
}

// One target naming three replicas: calls go to each in turn.
TEST(StylizerClientTest, CallsAreSpreadOverEveryAddressOfTheTarget) {
  FakeServer a, b, c;
  const std::string target =
      absl::StrCat("ipv4:", a.address(), ",", b.address(), ",", c.address());
  auto client = StylizerClient::Create(FastOptions(target));
  ASSERT_TRUE(client.ok()) << client.status();
  // Replicas become ready one by one: call until each has had a call.
  for (int i = 0;
       i < 5000 && (a.service().calls == 0 || b.service().calls == 0 ||
                    c.service().calls == 0);
       ++i) {
    ASSERT_TRUE((*client)->GetModelInfo().ok());
  }
  const int a0 = a.service().calls, b0 = b.service().calls,
            c0 = c.service().calls;
  ASSERT_GT(a0 * b0 * c0, 0) << "a replica never got a call";
  for (int i = 0; i < 30; ++i) ASSERT_TRUE((*client)->GetModelInfo().ok());
  // Round robin over three ready replicas: 10 each (a wide margin here).
  EXPECT_GE(a.service().calls - a0, 5);
  EXPECT_GE(b.service().calls - b0, 5);
  EXPECT_GE(c.service().calls - c0, 5);
  EXPECT_EQ(a.service().calls + b.service().calls + c.service().calls,
            a0 + b0 + c0 + 30);
}

// A replica whose health says NOT_SERVING gets no new calls; the health
// command still reaches it.
TEST(StylizerClientTest, NotServingReplicaGetsNoCalls) {
  FakeServer a, b;
  b.SetServing(false);
  // The unhealthy replica first: pick_first would send everything there.
  const std::string target =
      absl::StrCat("ipv4:", b.address(), ",", a.address());
  auto client = StylizerClient::Create(FastOptions(target));
  ASSERT_TRUE(client.ok()) << client.status();
  for (int i = 0; i < 20; ++i) ASSERT_TRUE((*client)->GetModelInfo().ok());
  EXPECT_EQ(b.service().calls.load(), 0);
  EXPECT_EQ(a.service().calls.load(), 20);
  std::set<HealthState> seen;
  for (int i = 0; i < 20 && seen.size() < 2; ++i) {
    auto h = (*client)->CheckHealth();
    ASSERT_TRUE(h.ok()) << h.status();
    seen.insert(*h);
  }
  EXPECT_EQ(seen, (std::set<HealthState>{HealthState::kServing,
                                         HealthState::kNotServing}));
}

// With the only replica NOT_SERVING, calls fail UNAVAILABLE (after retries)
// rather than reaching it; health still answers NOT_SERVING.
TEST(StylizerClientTest, NoServingReplicaIsUnavailable) {
  FakeServer a;
  a.SetServing(false);
  ClientOptions o = FastOptions(a.address());
  o.retry.max_retries = 1;
  auto client = StylizerClient::Create(o);
  ASSERT_TRUE(client.ok());
  EXPECT_EQ((*client)->GetModelInfo().status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(a.service().calls.load(), 0);
  EXPECT_EQ(*(*client)->CheckHealth(), HealthState::kNotServing);
}

TEST(StylizerClientTest, UnreachableServerIsUnavailableAfterRetries) {
  ClientOptions o = FastOptions("127.0.0.1:1");
  o.retry.max_retries = 1;
  auto client = StylizerClient::Create(o);
  ASSERT_TRUE(client.ok());
  auto info = (*client)->GetModelInfo();
  EXPECT_EQ(info.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(info.status().message(), HasSubstr("127.0.0.1:1"));
  EXPECT_EQ((*client)->CheckHealth().status().code(),
            absl::StatusCode::kUnavailable);
}

TEST(StylizerClientTest, OptionErrors) {
  ClientOptions o;
  o.cert_file = "c.pem";
  EXPECT_FALSE(StylizerClient::Create(o).ok());
  o = ClientOptions();
  o.token_file = "/nonexistent/token";
  EXPECT_THAT(StylizerClient::Create(o).status().message(),
              HasSubstr("cannot read the token file"));
  // A token that cannot go in a header is refused here, by name, not by a
  // gRPC assertion (which aborted and printed the token) at the first call.
  o = ClientOptions();
  o.token_file =
      absl::StrCat(::testing::TempDir(), "/two_line_token.", getpid());
  { std::ofstream(o.token_file) << "secret-token-0123456789\nsecond-line\n"; }
  const absl::Status two_lines = StylizerClient::Create(o).status();
  EXPECT_EQ(two_lines.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(two_lines.message(), HasSubstr("0x0a"));
  EXPECT_THAT(two_lines.message(), ::testing::Not(HasSubstr("secret")));
  std::remove(o.token_file.c_str());
  o = ClientOptions();
  o.ca_file = "/nonexistent/ca.pem";
  EXPECT_THAT(StylizerClient::Create(o).status().message(),
              HasSubstr("CA file"));
  // Files that are not PEM are named here. gRPC logged lines of its own at
  // each attempt, and the command failed as if the server were unavailable.
  const std::string garbage =
      absl::StrCat(::testing::TempDir(), "/garbage.", getpid(), ".pem");
  { std::ofstream(garbage) << "garbage\n"; }
  o = ClientOptions();
  o.ca_file = garbage;
  absl::Status s = StylizerClient::Create(o).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("CA file (--ca) holds no PEM"));
  o = ClientOptions();
  o.cert_file = o.key_file = garbage;
  s = StylizerClient::Create(o).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("client certificate (--cert) holds no"));
  std::remove(garbage.c_str());
}

// The token and TLS files are read whole before connecting: /dev/zero was
// read until memory ran out, a named pipe (or /dev/stdin) blocked the
// command until something wrote to it, and a file of any size was taken.
TEST(StylizerClientTest, TokenAndTlsFilesMustBeSmallRegularFiles) {
  ClientOptions o;
  absl::Status s;

  // A FIFO nobody writes to: a writer that comes after 2 s (once its open
  // finds a reader waiting) ends the wait that reading it began.
  const std::string fifo =
      absl::StrCat(::testing::TempDir(), "/token_fifo.", getpid());
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  std::thread writer([&fifo] {
    absl::SleepFor(absl::Seconds(2));
    const absl::Time give_up = absl::Now() + absl::Seconds(1);
    while (absl::Now() < give_up) {
      const int fd = open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
      if (fd >= 0) {
        close(fd);
        return;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
  });
  o.token_file = fifo;
  const absl::Time start = absl::Now();
  s = StylizerClient::Create(o).status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1)) << "waited for a writer";
  EXPECT_THAT(std::string(s.message()), HasSubstr("--token_file"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("not a regular file"));
  writer.join();
  std::remove(fifo.c_str());

  o.token_file = "/dev/zero";
  s = StylizerClient::Create(o).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("token file (--token_file) /dev/zero is "
                        "not a regular file"));

  // A token file over 64 KiB; one of 64 KiB is read.
  o.token_file = absl::StrCat(::testing::TempDir(), "/big_token.", getpid());
  { std::ofstream(o.token_file) << std::string(64 << 10, 'a') << "\n"; }
  s = StylizerClient::Create(o).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("token file (--token_file) " + o.token_file +
                        " is 65537 bytes, more than such a file may be "
                        "(65536)"));
  { std::ofstream(o.token_file) << std::string((64 << 10) - 1, 'a') << "\n"; }
  EXPECT_TRUE(StylizerClient::Create(o).ok());
  std::remove(o.token_file.c_str());

  // The PEM files, each named by its flag.
  o = ClientOptions();
  o.ca_file = "/dev/zero";
  s = StylizerClient::Create(o).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("CA file (--ca) /dev/zero is not a "
                        "regular file"));
  o = ClientOptions();
  o.cert_file = o.key_file = "/dev/zero";
  s = StylizerClient::Create(o).status();
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("(--cert) /dev/zero is not a regular"));
}

// A token longer than the server takes in a call's headers: the server
// refused "received initial metadata size exceeds limit", which read as
// "the input is too large for the server (send a smaller one)". The token
// is not echoed.
TEST(StylizerClientTest, ATokenTooLongForTheServersHeadersIsSaidSo) {
  FakeServer server;  // gRPC's own limit: 8 KiB of headers
  ClientOptions o = FastOptions(server.address());
  o.token_file = absl::StrCat(::testing::TempDir(), "/long_token.", getpid());
  { std::ofstream(o.token_file) << std::string(20000, 'a') << "\n"; }
  auto client = StylizerClient::Create(o);
  ASSERT_TRUE(client.ok()) << client.status();
  const absl::Status s = (*client)->GetModelInfo().status();
  std::remove(o.token_file.c_str());
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("the request's headers are larger than the server "
                        "accepts (the token from --token_file is 20000 "
                        "bytes)"));
  EXPECT_THAT(std::string(s.message()),
              Not(HasSubstr("too large for the server")));
  EXPECT_THAT(std::string(s.message()), Not(HasSubstr("aaaaaaaa")));
}

}  // namespace
}  // namespace stylizer::client
