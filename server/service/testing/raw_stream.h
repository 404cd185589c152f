// A streaming call that sends messages as raw bytes, for tests of what the
// server does with bytes that are not the method's request message.
#ifndef STYLIZER_SERVER_SERVICE_TESTING_RAW_STREAM_H_
#define STYLIZER_SERVER_SERVICE_TESTING_RAW_STREAM_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/completion_queue.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"

namespace stylizer::testing {

struct RawStreamResult {
  grpc::Status status;
  int responses = 0;  // messages the server sent
};

// Calls `method` ("/stylizer.v1.Stylizer/StylizeFrames") on `channel`,
// writes each of `messages` as it is (stopping at the first write the call
// refuses), half-closes, reads every response, and returns the status. A
// minute at most.
inline RawStreamResult RawStreamCall(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
    const std::vector<std::string>& messages) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(60));
  auto call = stub.PrepareCall(&context, method, &cq);
  // Each operation in turn: the one started is the one that completes.
  const auto await = [&cq](intptr_t tag) {
    void* got = nullptr;
    bool ok = false;
    return cq.Next(&got, &ok) && reinterpret_cast<intptr_t>(got) == tag && ok;
  };
  RawStreamResult result;
  call->StartCall(reinterpret_cast<void*>(1));
  if (await(1)) {
    for (const std::string& bytes : messages) {
      grpc::Slice slice(bytes);
      grpc::ByteBuffer buffer(&slice, 1);
      call->Write(buffer, reinterpret_cast<void*>(2));
      if (!await(2)) break;
    }
    call->WritesDone(reinterpret_cast<void*>(3));
    await(3);
    while (true) {
      grpc::ByteBuffer reply;
      call->Read(&reply, reinterpret_cast<void*>(4));
      if (!await(4)) break;
      ++result.responses;
    }
  }
  call->Finish(&result.status, reinterpret_cast<void*>(5));
  await(5);
  cq.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (cq.Next(&tag, &ok)) {
  }
  return result;
}

}  // namespace stylizer::testing

#endif  // STYLIZER_SERVER_SERVICE_TESTING_RAW_STREAM_H_
