// The Stylizer service's method table; see stylizer_service.h.
#include "server/service/stylizer_service.h"

#include "grpc/support/log.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "server/service/call_log.h"
#include "server/service/status_util.h"
#include "server/service/stylize_frames_reactor.h"
#include "server/service/stylize_image_reactor.h"

namespace stylizer {
namespace {

// Ends a call with a status once its answer (if any) is ready: a refused
// StylizeVideo, or GetModelInfo. Its CallLog lives until OnDone, as
// call_log.h requires (a CallLog that went when the handler returned, before
// the answer was sent, let a drain close the port under it).
template <typename Reactor>
class StatusReactor : public Reactor {
 public:
  StatusReactor(ServiceContext* service, grpc::CallbackServerContext* context,
                absl::string_view method)
      : context_(context), log_(service, method, *context) {}
  void FinishWith(const grpc::Status& status) {
    AddRetryPushback(context_, log_.Finish(status));
    this->Finish(status);
  }
  void OnDone() override { delete this; }

 private:
  grpc::CallbackServerContext* const context_;
  CallLog log_;
};

}  // namespace

StylizerService::StylizerService(ServiceContext* context,
                                 VideoReactorFactory video)
    : context_(context), video_(std::move(video)) {}

grpc::ServerUnaryReactor* StylizerService::GetModelInfo(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  auto* reactor = new StatusReactor<grpc::ServerUnaryReactor>(context_, context,
                                                              "GetModelInfo");
  grpc::Status status = context_->Admit(*context);
  grpc::ByteBuffer bytes = *request;  // the slices, shared
  v1::GetModelInfoRequest parsed;
  if (status.ok() && !request->Valid()) {
    status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "the call carried no GetModelInfoRequest");
  }
  if (status.ok() &&
      !grpc::SerializationTraits<v1::GetModelInfoRequest>::Deserialize(&bytes,
                                                                       &parsed)
           .ok()) {
    status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "the request is not a GetModelInfoRequest (damaged, "
                          "or a message of another type)");
  }
  if (status.ok()) {
    v1::ModelInfo info;
    const ModelDescription& model = context_->model();
    info.set_name(model.name);
    for (size_t i = 0; i < model.style_names.size(); ++i) {
      v1::StyleInfo* style = info.add_styles();
      style->set_index(static_cast<uint32_t>(i));
      style->set_name(model.style_names[i]);
    }
    info.set_device(model.device);
    info.set_precision(model.precision);
    info.set_max_batch_size(context_->max_batch_size());
    info.set_max_frame_pixels(context_->limits().max_frame_pixels);
    info.set_model_json(model.model_json);
    info.set_archive_sha256(model.archive_sha256);
    bool own_buffer = false;
    GPR_ASSERT(grpc::SerializationTraits<v1::ModelInfo>::Serialize(
                   info, response, &own_buffer)
                   .ok());
  }
  reactor->FinishWith(status);
  return reactor;
}

grpc::ServerUnaryReactor* StylizerService::StylizeImage(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return StylizeImageReactor::Start(context_, context, request, response);
}

RawBidiReactor* StylizerService::StylizeFrames(
    grpc::CallbackServerContext* context) {
  return StylizeFramesReactor::Start(context_, context);
}

RawBidiReactor* StylizerService::StylizeVideo(
    grpc::CallbackServerContext* context) {
  grpc::Status status = context_->Admit(*context);
  if (status.ok() && video_) return video_(context_, context);
  if (status.ok()) {
    status = grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                          "this server build does not stylize videos");
  }
  auto* refused =
      new StatusReactor<RawBidiReactor>(context_, context, "StylizeVideo");
  refused->FinishWith(status);
  return refused;
}

}  // namespace stylizer
