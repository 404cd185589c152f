// StylizeImage; see stylize_image_reactor.h.
#include "server/service/stylize_image_reactor.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "grpc/support/log.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "server/media/frame_shape.h"
#include "server/media/preserve_color.h"
#include "server/metrics/metrics.h"
#include "server/service/image_codec.h"
#include "server/service/status_util.h"
#include "server/service/work_pool.h"

namespace stylizer {

grpc::ServerUnaryReactor* StylizeImageReactor::Start(
    ServiceContext* service, grpc::CallbackServerContext* context,
    const grpc::ByteBuffer* request, grpc::ByteBuffer* response) {
  auto* reactor = new StylizeImageReactor(service, context, response);
  grpc::Status admitted = service->Admit(*context);
  if (!admitted.ok()) {
    reactor->FinishOnce(admitted);
    return reactor;
  }
  // The request as gRPC handed it over (up to --max_receive_message_bytes),
  // held until the call ends: gRPC's buffer quota stops counting it once it
  // is parsed, so the budget does, before the call waits for the pool.
  const int64_t request_bytes = static_cast<int64_t>(request->Length());
  absl::StatusOr<MemoryBudget::Reservation> held = service->ReserveMemory(
      request_bytes, absl::StrCat("a request of ", request_bytes, " bytes"));
  if (!held.ok()) {
    reactor->FinishOnce(ToGrpcStatus(held.status()));
    return reactor;
  }
  reactor->request_memory_ = *std::move(held);
  // Parsed as gRPC's typed method parses: the buffer's bytes are consumed
  // and released (gRPC owns the buffer until the call ends and hands it
  // over const; emptied now, the call holds one copy of the image, not
  // two).
  if (!request->Valid()) {
    reactor->FinishOnce(
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                     "the call carried no StylizeImageRequest"));
    return reactor;
  }
  if (!grpc::SerializationTraits<v1::StylizeImageRequest>::Deserialize(
           const_cast<grpc::ByteBuffer*>(request), &reactor->request_)
           .ok()) {
    reactor->FinishOnce(grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat("the request (", request_bytes,
                     request_bytes == 1 ? " byte" : " bytes",
                     ") is not a StylizeImageRequest (damaged, or a message "
                     "of another type)")));
    return reactor;
  }
  reactor->Ref();
  // A full work pool refuses new calls (RESOURCE_EXHAUSTED, retry hint).
  absl::Status queued = service->pool()->TryPost([reactor] {
    reactor->DecodeAndSubmit();
    reactor->Unref();
  });
  if (!queued.ok()) {
    reactor->FinishOnce(ToGrpcStatus(queued));
    reactor->Unref();
  }
  return reactor;
}

StylizeImageReactor::StylizeImageReactor(ServiceContext* service,
                                         grpc::CallbackServerContext* context,
                                         grpc::ByteBuffer* response)
    : service_(service),
      context_(context),
      raw_response_(response),
      log_(service, "StylizeImage", *context),
      unsent_(service->timers(), service->limits().stream_idle_timeout, [this] {
        unsent_expired_ = true;
        context_->TryCancel();
      }) {
  // An RPC in progress (stylizer_active_streams), though it takes no stream
  // slot; FinishOnce ends it.
  if (Metrics* metrics = service_->metrics()) {
    metrics->StreamStarted("StylizeImage");
  }
}

void StylizeImageReactor::DecodeAndSubmit() {
  const v1::Image& image = request_.image();
  log_.AddBytesIn(image.has_raw() ? image.raw().rgb().size()
                                  : image.encoded().size());
  // A call whose client left (or whose deadline passed) while it waited
  // for the pool ends here: no memory, no decode ahead of live calls.
  if (CallEnded()) {
    return FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "ended"));
  }
  absl::StatusOr<ResolvedStyles> styles =
      service_->ResolveStyles(request_.styles());
  if (!styles.ok()) return FinishOnce(ToGrpcStatus(styles.status()));
  format_ = ResolveOutputFormat(request_.output_format(), image);
  if (absl::Status s = ReserveMemory(styles->weights.size()); !s.ok()) {
    return FinishOnce(ToGrpcStatus(s));
  }
  absl::StatusOr<RgbFrame> frame =
      DecodeImage(image, DecodeLimit(), request_.max_side());
  if (!frame.ok()) return FinishOnce(ToGrpcStatus(frame.status()));
  output_indices_ = std::move(styles->output_indices);
  if (absl::Status s =
          CheckOutputs(format_, frame->width, frame->height,
                       static_cast<int64_t>(output_indices_.size()),
                       service_->limits().max_response_bytes);
      !s.ok()) {
    return FinishOnce(ToGrpcStatus(s));
  }

  FrameRequest frame_request;
  frame_request.frame = std::make_shared<const RgbFrame>(*std::move(frame));
  frame_request.style_weights = std::move(styles->weights);
  if (request_.preserve_color()) color_source_ = frame_request.frame;

  grpc::Status failure;
  {
    absl::MutexLock lock(&mu_);
    if (cancelled_) {
      failure = cancel_status_;
    } else {
      JobOptions options;
      options.deadline = CallDeadline(*context_);
      options.name = "StylizeImage";
      options.max_frames_in_flight = 1;
      options.single_frame = true;
      options.on_result = [this](FrameResult result) {
        OnResult(std::move(result));
      };
      absl::StatusOr<std::unique_ptr<Job>> job =
          service_->OpenJob(std::move(options));
      if (!job.ok()) {
        failure = ToGrpcStatus(job.status());
      } else {
        job_ = *std::move(job);
        Ref();  // held by the pending result
        absl::Status submitted = job_->TrySubmit(&frame_request);
        if (!submitted.ok()) {
          Unref();  // no result will come
          failure = ToGrpcStatus(submitted);
        }
      }
    }
  }
  if (!failure.ok()) FinishOnce(failure);
}

uint64_t StylizeImageReactor::DecodeLimit() const {
  const uint64_t frame_limit = service_->limits().max_frame_pixels;
  return request_.max_side() > 0 ? std::max(frame_limit, kMaxImagePixelsToScale)
                                 : frame_limit;
}

absl::Status StylizeImageReactor::ReserveMemory(size_t styles) {
  const uint64_t max_pixels = service_->limits().max_frame_pixels;
  const uint32_t max_side = request_.max_side();
  // Read up to the larger limit, so that an image over the frame limit is
  // told the max_side that fits.
  const ImageSize size = DecodedSize(
      request_.image(), std::max(max_pixels, kMaxImagePixelsToScale));
  // An image DecodeImage refuses before allocating is left to it.
  if (size.width == 0) return absl::OkStatus();
  const ImageSize out = ScaledImageSize(size, max_side);
  const int64_t out_pixels = int64_t{out.width} * out.height;
  // The largest max_side whose picture fits the limit and keeps the shape
  // rule (a thin picture may need to be small), for the refusals below.
  auto fitting_side = [&] {
    return media::LargestFittingSide(
        std::max(size.width, size.height), static_cast<int64_t>(max_pixels),
        [&](int64_t side) {
          const ImageSize s =
              ScaledImageSize(size, static_cast<uint32_t>(side));
          return std::pair<int64_t, int64_t>(s.width, s.height);
        });
  };
  if (static_cast<uint64_t>(out_pixels) > max_pixels) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the image is ", size.width, "x", size.height, " (",
        int64_t{size.width} * size.height, " pixels)",
        max_side > 0 ? absl::StrCat(", ", out.width, "x", out.height,
                                    " with max_side ", max_side)
                     : "",
        ", over the server's limit of ", max_pixels,
        " pixels; set max_side to ", fitting_side(),
        " or less to have the server scale it down, or downscale it first"));
  }
  if (absl::Status shape = media::CheckFrameShape(out.width, out.height);
      !shape.ok()) {
    // Too thin to stylize: what max_side can do about it.
    const bool wide_as_sent =
        media::CheckFrameShape(size.width, size.height).ok();
    const std::string remedy =
        media::ThinPictureRemedy(wide_as_sent, fitting_side(), /*movie=*/false);
    return absl::InvalidArgumentError(
        max_side > 0 ? absl::StrCat("with max_side ", max_side,
                                    " the image becomes ", out.width, "x",
                                    out.height, ": ", shape.message(), remedy)
                     : absl::StrCat(shape.message(), remedy));
  }
  // Held until the response is sent: the decoded input (at the size it is
  // stylized, and what decoding a larger one to it takes: ScalingWorkBytes),
  // and per style the stylized frame and its encoded copy in the response
  // (at most the raw size: PNG of noise, or RAW).
  const int64_t out_bytes = out_pixels * 3;
  const int64_t scaling_bytes =
      out.width != size.width || out.height != size.height
          ? ScalingWorkBytes(request_.image(), size)
          : 0;
  const int64_t n = static_cast<int64_t>(styles);
  // What no wait can fix is refused first, from the header: it reserved
  // (4K in 63 styles: 3.2 GB) and decoded the whole image for nothing.
  if (absl::Status s =
          service_->CheckPictureFits(format_, out.width, out.height, n);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<MemoryBudget::Reservation> reserved = service_->ReserveMemory(
      scaling_bytes + out_bytes * (1 + 2 * n),
      absl::StrCat("a ", size.width, "x", size.height, " image with ", n,
                   n == 1 ? " style" : " styles"),
      request_memory_.bytes());
  if (!reserved.ok()) return reserved.status();
  memory_ = *std::move(reserved);
  return absl::OkStatus();
}

void StylizeImageReactor::OnResult(FrameResult result) {
  // On a queue thread: hand the encoding to the work pool.
  service_->pool()->Post([this, result = std::move(result)]() mutable {
    if (!result.status.ok()) {
      FinishOnce(ToGrpcStatus(result.status));
      Unref();
      return;
    }
    if (result.outputs.size() != output_indices_.size()) {
      FinishOnce(grpc::Status(
          grpc::StatusCode::INTERNAL,
          absl::StrCat("the queue returned ", result.outputs.size(),
                       " outputs for ", output_indices_.size(), " styles")));
      Unref();
      return;
    }
    result_ = std::move(result);
    const int n = static_cast<int>(result_.outputs.size());
    for (int i = 0; i < n; ++i) response_.add_images();
    encodes_left_.store(n);
    // One task per output so that the styles of a large image encode in
    // parallel; the last one to end finishes the call. The result's reference
    // passes to the encode tasks.
    for (int i = 1; i < n; ++i) {
      Ref();
      service_->pool()->Post([this, i] { EncodeOutput(i); });
    }
    EncodeOutput(0);
  });
}

void StylizeImageReactor::EncodeOutput(int i) {
  v1::StyledImage* out = response_.mutable_images(i);
  out->set_output_index(output_indices_[i]);
  absl::Status s;
  if (color_source_ != nullptr) {
    s = media::PreserveColor(*color_source_, &result_.outputs[i]);
  }
  if (s.ok()) {
    s = EncodeImage(result_.outputs[i], format_, out->mutable_image());
  }
  if (!s.ok()) {
    absl::MutexLock lock(&error_mu_);
    if (encode_error_.ok()) encode_error_ = s;
  }
  if (encodes_left_.fetch_sub(1) == 1) {
    color_source_.reset();  // every output has its colours
    absl::Status error;
    {
      absl::MutexLock lock(&error_mu_);
      error = encode_error_;
    }
    if (error.ok() && CallEnded()) {
      // The client cancelled, or the deadline passed, while the outputs
      // were encoded: it gets that, so the log and metrics say so too (they
      // said OK, with the bytes it never got).
      FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, ""));
    } else if (error.ok()) {
      for (const v1::StyledImage& image : response_.images()) {
        answer_bytes_ += image.image().has_raw()
                             ? image.image().raw().rgb().size()
                             : image.image().encoded().size();
      }
      answer_images_ = response_.images_size();
      FinishOnce(grpc::Status::OK);
    } else {
      response_.Clear();
      FinishOnce(ToGrpcStatus(error));
    }
  }
  Unref();
}

void StylizeImageReactor::OnCancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
  cancel_status_ = CancelledCallStatus(*service_, *context_);
  if (job_ != nullptr) job_->Cancel();  // the result arrives as CANCELLED
}

bool StylizeImageReactor::CallEnded() {
  absl::MutexLock lock(&mu_);
  if (!cancelled_ && context_->IsCancelled()) {
    // Before OnCancel has run.
    cancelled_ = true;
    cancel_status_ = CancelledCallStatus(*service_, *context_);
  }
  return cancelled_;
}

void StylizeImageReactor::FinishOnce(const grpc::Status& given) {
  grpc::Status status = given;
  {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    finished_ = true;
    // A call the client ended ends for that reason, whatever the work said.
    if (cancelled_ && !status.ok()) status = cancel_status_;
  }
  if (status.ok()) {
    // As gRPC's typed method serializes: a message the server built always
    // serializes (it is far below protobuf's 2 GiB limit).
    bool own_buffer = false;
    GPR_ASSERT(grpc::SerializationTraits<v1::StylizeImageResponse>::Serialize(
                   response_, raw_response_, &own_buffer)
                   .ok());
  }
  // The message's own copy of the images goes at once (Clear would keep
  // their strings' memory until the reactor is deleted).
  v1::StylizeImageResponse().Swap(&response_);
  final_status_ = status;  // read in OnDone, which Finish leads to
  AddRetryPushback(context_, FromGrpcStatus(status));
  // Armed before Finish: OnDone (which stops it and may delete this) can
  // come as soon as Finish is called. A large answer gets the time to send
  // it at the slowest rate allowed on top.
  unsent_.Restart(TimeToSend(static_cast<int64_t>(raw_response_->Length())));
  Finish(status);
}

void StylizeImageReactor::OnDone() {
  unsent_.Stop();
  grpc::Status status = final_status_;
  if (status.ok() && context_->IsCancelled()) {
    // The answer did not reach the client: it stopped reading (and
    // unsent_ gave up on it), left, or lost its connection.
    status = unsent_expired_
                 ? StreamIdleStatus(service_->limits().stream_idle_timeout,
                                    /*stalled_write=*/true)
                 : CancelledCallStatus(*service_, *context_,
                                       "the client left before it had the "
                                       "answer");
  } else if (status.ok()) {
    log_.AddBytesOut(answer_bytes_);
    log_.AddFrames(answer_images_);
  }
  if (Metrics* metrics = service_->metrics()) {
    metrics->StreamEnded("StylizeImage");
  }
  log_.Finish(status).IgnoreError();
  Unref();
}

void StylizeImageReactor::Unref() {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

}  // namespace stylizer
