// A bidirectional-stream reactor that parses its requests and serializes its
// responses itself, on a method registered raw (gRPC's
// WithRawCallbackMethod_...: byte buffers on the wire side).
//
// gRPC's typed reactor reports a request it cannot parse as the end of the
// client's stream (OnReadDone(false), the call going on): a corrupted message
// in the middle of a movie's upload ended the upload as if it were complete,
// and a frame stream ended OK without the frames after it. Here such a
// message is OnMalformedRead(), and the reactor fails the call.
#ifndef STYLIZER_SERVER_SERVICE_PARSING_REACTOR_H_
#define STYLIZER_SERVER_SERVICE_PARSING_REACTOR_H_

#include "grpc/support/log.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/server_callback.h"

namespace stylizer {

using RawBidiReactor =
    grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>;

template <typename Request, typename Response>
class ParsingBidiReactor : public RawBidiReactor {
 protected:
  // Reads the next request into *request (which must live until the read
  // is done): OnMessageRead(true) once it is there, OnMessageRead(false) at
  // the client's half-close or the call's end, OnMalformedRead() for bytes
  // that are not a Request.
  void StartRead(Request* request) {
    reading_ = request;
    RawBidiReactor::StartRead(&read_buffer_);
  }

  // Writes `response`, serialized now (it may change once this returns); one
  // write at a time, as gRPC requires. OnMessageWritten says when it is done.
  void StartWrite(const Response* response) {
    write_buffer_.Clear();
    bool own_buffer = false;
    // As gRPC's typed StartWrite: a message the server built always
    // serializes (it is far below protobuf's 2 GiB limit).
    GPR_ASSERT(grpc::SerializationTraits<Response>::Serialize(
                   *response, &write_buffer_, &own_buffer)
                   .ok());
    RawBidiReactor::StartWrite(&write_buffer_);
  }

  virtual void OnMessageRead(bool ok) = 0;
  virtual void OnMalformedRead() = 0;
  // The last write is done (ok) or the call has ended (!ok).
  virtual void OnMessageWritten(bool ok) = 0;

 private:
  void OnReadDone(bool ok) final {
    if (!ok) {
      OnMessageRead(false);
      return;
    }
    if (!grpc::SerializationTraits<Request>::Deserialize(&read_buffer_,
                                                         reading_)
             .ok()) {
      OnMalformedRead();
      return;
    }
    OnMessageRead(true);
  }

  void OnWriteDone(bool ok) final {
    // The serialized bytes go now: kept until the next write, they were
    // held outside any memory reservation by a stream gone quiet.
    write_buffer_.Clear();
    OnMessageWritten(ok);
  }

  Request* reading_ = nullptr;
  grpc::ByteBuffer read_buffer_;
  grpc::ByteBuffer write_buffer_;
};

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVICE_PARSING_REACTOR_H_
