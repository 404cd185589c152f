// The stylizer.v1.Stylizer service: GetModelInfo answers from the shared
// context; every other method hands its call to a reactor (one class per RPC,
// each in its own file). StylizeVideo's reactor comes from a factory so that
// the video pipeline plugs in without the service depending on it.
#ifndef STYLIZER_SERVER_SERVICE_STYLIZER_SERVICE_H_
#define STYLIZER_SERVER_SERVICE_STYLIZER_SERVICE_H_

#include <functional>

#include "grpcpp/server_context.h"
#include "grpcpp/support/server_callback.h"
#include "server/service/parsing_reactor.h"
#include "server/service/service_context.h"
#include "stylizer/v1/stylizer.grpc.pb.h"

namespace stylizer {

// The streams are served raw and their reactors parse the requests
// (parsing_reactor.h), so that a damaged message fails the call.
using VideoReactor =
    ParsingBidiReactor<v1::StylizeVideoRequest, v1::StylizeVideoResponse>;
// Makes the reactor of one StylizeVideo call (it deletes itself in OnDone).
using VideoReactorFactory = std::function<RawBidiReactor*(
    ServiceContext*, grpc::CallbackServerContext*)>;

// Every method is served raw and parses its own requests: gRPC's typed
// unary methods answer bytes that are not their request with UNIMPLEMENTED
// and no message, which reads as a client built for another server.
class StylizerService final
    : public v1::Stylizer::WithRawCallbackMethod_GetModelInfo<
          v1::Stylizer::WithRawCallbackMethod_StylizeImage<
              v1::Stylizer::WithRawCallbackMethod_StylizeFrames<
                  v1::Stylizer::WithRawCallbackMethod_StylizeVideo<
                      v1::Stylizer::Service>>>> {
 public:
  // `context` must outlive the service. Without `video`, StylizeVideo answers
  // UNIMPLEMENTED.
  StylizerService(ServiceContext* context, VideoReactorFactory video);

  // Describes the loaded model and the server's limits (a ModelInfo for a
  // GetModelInfoRequest).
  grpc::ServerUnaryReactor* GetModelInfo(grpc::CallbackServerContext* context,
                                         const grpc::ByteBuffer* request,
                                         grpc::ByteBuffer* response) override;

  // One image, one output per style (StylizeImageReactor).
  grpc::ServerUnaryReactor* StylizeImage(grpc::CallbackServerContext* context,
                                         const grpc::ByteBuffer* request,
                                         grpc::ByteBuffer* response) override;

  // An ordered frame stream (StylizeFramesReactor).
  RawBidiReactor* StylizeFrames(grpc::CallbackServerContext* context) override;

  // A whole movie (the video pipeline's reactor).
  RawBidiReactor* StylizeVideo(grpc::CallbackServerContext* context) override;

 private:
  ServiceContext* const context_;
  const VideoReactorFactory video_;
};

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVICE_STYLIZER_SERVICE_H_
