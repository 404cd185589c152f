// Tests of the Server's frame streams that go quiet: what a quiet stream
// holds, streams whose idle timer races every other event, and the time a
// slow reader gets beyond the idle timeout, or a failed stream whose answer
// is stuck in a write.
#include <malloc.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "server/service/server.h"
#include "server/service/testing/eventually.h"
#include "server/service/testing/server_test_fixture.h"
#include "stylizer/v1/stylizer.grpc.pb.h"

namespace stylizer {
namespace {

using ::stylizer::testing::Eventually;
using ::stylizer::testing::Frame;
using ::stylizer::testing::Raw;
using ::stylizer::testing::ServerTest;

// Heap bytes in use now, in the arena and in mmap'd blocks.
int64_t HeapBytesInUse() {
  const struct mallinfo2 info = mallinfo2();
  return static_cast<int64_t>(info.uordblks + info.hblkhd);
}

// A frame stream that goes quiet after an answer held that answer twice (the
// message and its serialized copy) and its last request, outside the memory
// budget, until the next write or the stream's end.
TEST_F(ServerTest, AQuietFrameStreamHoldsNoAnswerItWrote) {
  v1::StylizeFramesRequest request;
  *request.mutable_image() = Raw(Frame(512, 512, 1));  // 768 KiB
  for (int i = 0; i < 4; ++i) request.add_styles()->set_index(i);
  grpc::ClientContext context;
  auto stream = stub_->StylizeFrames(&context);
  ASSERT_TRUE(stream->Write(request));
  {
    v1::StylizeFramesResponse response;  // 3 MiB: the client's limit is 4
    ASSERT_TRUE(stream->Read(&response));
    ASSERT_EQ(response.images_size(), 4);
  }
  // What the quiet stream holds: the heap now, against the heap once the
  // stream has ended (the process's own caches are in both).
  absl::SleepFor(absl::Milliseconds(500));
  const int64_t quiet = HeapBytesInUse();
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_TRUE(
      Eventually([&] { return server_->context()->active_calls() == 0; }));
  absl::SleepFor(absl::Milliseconds(500));
  const int64_t ended = HeapBytesInUse();
  // It held 2 x 3 MiB of answer, the request and its decoded frame.
  EXPECT_LT(quiet - ended, int64_t{1} << 20) << quiet - ended << " bytes";
}

class IdleTimeoutServerTest : public ServerTest {
 protected:
  void Configure(Server::Options* o) override {
    // So short that the timer races every other event of a stream.
    o->limits.stream_idle_timeout = absl::Milliseconds(1);
  }
};

// Whatever the order of the idle timer, client cancellation, half-close,
// reads and OnDone, every stream ends and gives back its slot and call.
TEST_F(IdleTimeoutServerTest, EveryStreamEndsWhateverComesFirst) {
  constexpr int kStreams = 24;
  std::vector<std::thread> clients;
  std::atomic<int> ok_or_expected{0};
  for (int s = 0; s < kStreams; ++s) {
    clients.emplace_back([&, s] {
      grpc::ClientContext context;
      auto stream = stub_->StylizeFrames(&context);
      for (int i = 0; i < s % 4; ++i) {
        v1::StylizeFramesRequest request;
        *request.mutable_image() = Raw(Frame(8, 8, i));
        if (!stream->Write(request)) break;
      }
      if (s % 3 == 0) context.TryCancel();
      if (s % 3 == 1) stream->WritesDone();
      v1::StylizeFramesResponse response;
      while (stream->Read(&response)) {
      }
      const grpc::StatusCode code = stream->Finish().error_code();
      if (code == grpc::StatusCode::OK ||
          code == grpc::StatusCode::DEADLINE_EXCEEDED ||
          code == grpc::StatusCode::CANCELLED) {
        ++ok_or_expected;
      }
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(ok_or_expected.load(), kStreams);
  EXPECT_TRUE(Eventually([&] {
    return server_->context()->active_calls() == 0 &&
           server_->context()->active_streams() == 0;
  }));
}

class SlowIdleTimeoutServerTest : public ServerTest {
 protected:
  void Configure(Server::Options* o) override {
    // Longer than the test's own steps below, so that the stream fails on
    // its bad frame before the timer could end it.
    o->limits.stream_idle_timeout = absl::Seconds(2);
  }
};

// A large answer gets the time a slow reader needs for it on top of the idle
// timeout (2 s here; TimeToSend: 48 MiB at 1 MiB/s). The first answer had it;
// the next, queued behind it, lost it to the plain timeout when the first write
// completed, and the slow reader was cut off after one answer.
TEST_F(SlowIdleTimeoutServerTest, EveryLargeAnswerGetsTheTimeToSendIt) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  auto stub = v1::Stylizer::NewStub(
      grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                grpc::InsecureChannelCredentials(), args));
  grpc::ClientContext context;
  auto stream = stub->StylizeFrames(&context);
  for (int sequence = 0; sequence < 2; ++sequence) {
    v1::StylizeFramesRequest request;
    request.set_sequence(sequence);
    *request.mutable_image() = Raw(Frame(2048, 2048, sequence));
    for (int i = 0; i < 4; ++i) request.add_styles()->set_index(i);
    ASSERT_TRUE(stream->Write(request));
  }
  stream->WritesDone();
  v1::StylizeFramesResponse response;
  ASSERT_TRUE(stream->Read(&response));
  // Past the idle timeout, well within it plus 48 s for the second answer.
  absl::SleepFor(absl::Seconds(3));
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.sequence(), 1u);
  const grpc::Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
}

// A stream that fails (here on a bad frame) while an answer waits on a client
// that does not read cannot Finish until that write ends: the idle timer must
// still end it, or the call holds its slot and memory for as long as the
// client keeps the connection open.
TEST_F(SlowIdleTimeoutServerTest, FailedStreamWithAStalledWriteStillEnds) {
  // A connection of its own, so that its unread answers block no one else.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto stub = v1::Stylizer::NewStub(
      grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                grpc::InsecureChannelCredentials(), args));
  grpc::ClientContext context;  // no deadline: only the server can end it
  auto stream = stub->StylizeFrames(&context);
  // Three raw 1024x1024 frames in every style: 36 MB of answers, far more
  // than the stream's flow-control window, so the first write stalls.
  v1::StylizeFramesRequest request;
  *request.mutable_image() = Raw(Frame(1024, 1024, 0));
  for (int i = 0; i < 3; ++i) {
    request.set_sequence(i);
    ASSERT_TRUE(stream->Write(request));
  }
  absl::SleepFor(absl::Milliseconds(500));  // the answers reach the write
  request.set_sequence(3);
  request.add_styles()->set_index(99);  // no such style: INVALID_ARGUMENT
  stream->Write(request);
  EXPECT_TRUE(Eventually([&] {
    return server_->context()->active_streams() == 0;
  })) << "the failed stream never ended";
  context.TryCancel();  // so that the test ends either way
  v1::StylizeFramesResponse response;
  while (stream->Read(&response)) {
  }
  stream->Finish();
}

}  // namespace
}  // namespace stylizer
