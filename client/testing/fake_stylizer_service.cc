// The echoing fake stylizer server for client tests; see the header.
#include "client/testing/fake_stylizer_service.h"

#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/service/retry_info.h"

namespace stylizer::client::testing {
namespace {

using namespace stylizer::v1;  // NOLINT: a test fake speaking the whole API

bool LooksLikeImage(const std::string& b) {
  return absl::StartsWith(b, "\x89PNG") || absl::StartsWith(b, "\xff\xd8\xff");
}

bool LooksLikeMovie(const std::string& b) {
  return (b.size() > 8 && b.compare(4, 4, "ftyp") == 0) ||
         absl::StartsWith(b, "\x1a\x45\xdf\xa3");
}

// What a busy server answers (server/service/retry_info.h).
grpc::Status BusyStatus(int hint_ms) {
  const absl::Status busy =
      WithRetryDelay(absl::ResourceExhaustedError("the fake is busy"),
                     absl::Milliseconds(hint_ms));
  return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                      std::string(busy.message()), RpcStatusDetails(busy));
}

}  // namespace

std::vector<Style> FakeStylizerService::last_styles() const {
  absl::MutexLock lock(&mu_);
  return last_styles_;
}

bool FakeStylizerService::last_preserve_color() const {
  absl::MutexLock lock(&mu_);
  return last_preserve_color_;
}

std::string FakeStylizerService::last_request_id() const {
  absl::MutexLock lock(&mu_);
  return last_request_id_;
}

bool FakeStylizerService::TakeUnavailable() {
  ++calls;
  int n = fail_unavailable.load();
  while (n > 0 && !fail_unavailable.compare_exchange_weak(n, n - 1)) {
  }
  return n > 0;
}

bool FakeStylizerService::TakeBusy() {
  int n = fail_busy.load();
  while (n > 0 && !fail_busy.compare_exchange_weak(n, n - 1)) {
  }
  return n > 0;
}

grpc::Status FakeStylizerService::GetModelInfo(grpc::ServerContext*,
                                               const GetModelInfoRequest*,
                                               ModelInfo* response) {
  if (TakeUnavailable()) return {grpc::StatusCode::UNAVAILABLE, "warming up"};
  response->set_name("fake");
  response->set_device("cpu");
  response->set_precision("fp32");
  response->set_max_batch_size(8);
  response->set_max_frame_pixels(3840 * 2160);
  for (size_t i = 0; i < style_names.size(); ++i) {
    auto* s = response->add_styles();
    s->set_index(static_cast<uint32_t>(i));
    s->set_name(style_names[i]);
  }
  return grpc::Status::OK;
}

grpc::Status FakeStylizerService::StylizeImage(
    grpc::ServerContext* context, const StylizeImageRequest* request,
    StylizeImageResponse* response) {
  {
    const auto it = context->client_metadata().find("x-request-id");
    absl::MutexLock lock(&mu_);
    last_request_id_ = it == context->client_metadata().end()
                           ? ""
                           : std::string(it->second.data(), it->second.size());
  }
  if (TakeUnavailable()) return {grpc::StatusCode::UNAVAILABLE, "warming up"};
  if (TakeBusy()) return BusyStatus(busy_hint_ms.load());
  {
    absl::MutexLock lock(&mu_);
    last_styles_.assign(request->styles().begin(), request->styles().end());
    last_preserve_color_ = request->preserve_color();
  }
  const Image& image = request->image();
  if (image.has_encoded() && !LooksLikeImage(image.encoded())) {
    return {grpc::StatusCode::INVALID_ARGUMENT,
            "the image is neither PNG nor JPEG"};
  }
  const int n = request->styles_size() > 0
                    ? request->styles_size()
                    : static_cast<int>(style_names.size());
  const bool tag = tag_outputs.load();
  // The input sent back; in the format asked for, as the CLI checks it:
  // behind that format's signature when the input is in the other one
  // (nothing decodes these bytes).
  Image answer = image;
  if (image.has_encoded()) {
    const bool jpeg_asked =
        request->output_format() == stylizer::v1::IMAGE_FORMAT_JPEG;
    const bool jpeg_sent = absl::StartsWith(image.encoded(), "\xff\xd8");
    if (jpeg_asked != jpeg_sent) {
      answer.set_encoded(absl::StrCat(
          jpeg_asked ? "\xff\xd8\xff" : "\x89PNG\r\n\x1a\n", image.encoded()));
    }
  }
  for (int k = 0; k < n; ++k) {
    const int i = tag ? n - 1 - k : k;
    auto* out = response->add_images();
    out->set_output_index(i);
    *out->mutable_image() = answer;
    if (tag) out->mutable_image()->mutable_encoded()->append(TagOf(i));
  }
  return grpc::Status::OK;
}

std::string FakeStylizerService::TagOf(int output_index) {
  return absl::StrCat("|output=", output_index);
}

grpc::Status FakeStylizerService::StylizeFrames(
    grpc::ServerContext*,
    grpc::ServerReaderWriter<StylizeFramesResponse, StylizeFramesRequest>*
        stream) {
  if (TakeUnavailable()) return {grpc::StatusCode::UNAVAILABLE, "warming up"};
  if (TakeBusy()) return BusyStatus(busy_hint_ms.load());
  StylizeFramesRequest request;
  int styles = static_cast<int>(style_names.size());
  const int end_after = end_frames_after.load();
  const int end_ok_after = end_frames_ok_after.load();
  int answered = 0;
  while (stream->Read(&request)) {
    if (request.styles_size() > 0) styles = request.styles_size();
    StylizeFramesResponse response;
    response.set_sequence(request.sequence());
    for (int i = 0; i < styles; ++i) {
      auto* out = response.add_images();
      out->set_output_index(i);
      *out->mutable_image() = request.image();
      if (transpose_frames && request.image().has_raw()) {
        auto* raw = out->mutable_image()->mutable_raw();
        raw->set_width(request.image().raw().height());
        raw->set_height(request.image().raw().width());
      }
    }
    for (int k = 0; k < answers_per_frame.load(); ++k) {
      response.set_sequence(request.sequence() + k);
      if (!stream->Write(response)) return grpc::Status::OK;
    }
    if (++answered == end_after) {
      return {grpc::StatusCode::UNAVAILABLE, "the server is draining"};
    }
    if (answered == end_ok_after) return grpc::Status::OK;
  }
  return grpc::Status::OK;
}

grpc::Status FakeStylizerService::StylizeVideo(
    grpc::ServerContext*,
    grpc::ServerReaderWriter<StylizeVideoResponse, StylizeVideoRequest>*
        stream) {
  ++video_calls;
  if (TakeUnavailable()) return {grpc::StatusCode::UNAVAILABLE, "warming up"};
  if (TakeBusy()) return BusyStatus(busy_hint_ms.load());
  if (const int delay = video_delay_ms.load(); delay > 0) {
    absl::SleepFor(absl::Milliseconds(delay));
  }
  StylizeVideoRequest request;
  if (!stream->Read(&request) || !request.has_job()) {
    return {grpc::StatusCode::INVALID_ARGUMENT, "the job message must come first"};
  }
  const VideoJob job = request.job();
  {
    absl::MutexLock lock(&mu_);
    last_styles_.assign(job.styles().begin(), job.styles().end());
    last_preserve_color_ = job.preserve_color();
  }
  std::string data;
  while (stream->Read(&request)) {
    if (!request.has_chunk()) {
      return {grpc::StatusCode::INVALID_ARGUMENT, "the job message was repeated"};
    }
    data += request.chunk();
    upload_bytes += static_cast<int64_t>(request.chunk().size());
    const int refuse_after = refuse_video_after_bytes.load();
    if (refuse_after > 0 && data.size() >= static_cast<size_t>(refuse_after)) {
      return {grpc::StatusCode::INVALID_ARGUMENT,
              "cannot read the upload as a movie"};
    }
  }
  {
    int n = fail_busy_after_upload.load();
    while (n > 0 && !fail_busy_after_upload.compare_exchange_weak(n, n - 1)) {
    }
    if (n > 0) return BusyStatus(busy_hint_ms.load());
  }
  if (!LooksLikeMovie(data)) {
    return {grpc::StatusCode::INVALID_ARGUMENT,
            "cannot read the upload as a movie: Invalid data found when "
            "processing input"};
  }
  StylizeVideoResponse response;
  auto* accepted = response.mutable_accepted();
  accepted->set_job_id("job-1");
  if (!archive_sha256s.empty()) {
    const size_t call = static_cast<size_t>(video_jobs_accepted++);
    accepted->set_archive_sha256(
        archive_sha256s[std::min(call, archive_sha256s.size() - 1)]);
  }
  accepted->mutable_input()->set_width(64);
  accepted->mutable_input()->set_height(48);
  accepted->mutable_input()->set_fps(10);
  accepted->mutable_input()->set_frames_estimate(frames_estimate.load());
  stream->Write(response);
  if (accept_twice) stream->Write(response);
  response.Clear();
  response.mutable_progress()->set_frames_done(5);
  response.mutable_progress()->set_frames_estimate(frames_estimate.load());
  response.mutable_progress()->set_bytes_received(data.size());
  stream->Write(response);
  const int outputs = job.styles_size() > 0
                          ? job.styles_size()
                          : static_cast<int>(style_names.size());
  // Each output is the input, sent in three interleaved pieces.
  if (serve_not_a_movie) {
    data.replace(0, std::min(data.size(), sizeof(kNotAMovie) - 1), kNotAMovie,
                 std::min(data.size(), sizeof(kNotAMovie) - 1));
  }
  const size_t piece = data.size() / 3 + 1;
  int sent = 0;
  JobSummary summary;
  const bool tag = tag_outputs.load();
  for (size_t off = 0; off < data.size(); off += piece) {
    for (int k = 0; k < outputs; ++k) {
      const int i = tag ? outputs - 1 - k : k;
      if (fail_after_chunks > 0 && sent >= fail_after_chunks) {
        return {grpc::StatusCode::INTERNAL, "encoder exploded"};
      }
      response.Clear();
      response.mutable_chunk()->set_output_index(i);
      response.mutable_chunk()->set_data(data.substr(off, piece));
      if (tag && off + piece >= data.size()) {
        response.mutable_chunk()->mutable_data()->append(TagOf(i));
      }
      if (!stream->Write(response)) return {grpc::StatusCode::CANCELLED, ""};
      ++sent;
    }
  }
  for (int i = 0; i < outputs && bad_summary != 1; ++i) {
    auto* o = summary.add_outputs();
    o->set_output_index(i);
    o->set_bytes(bad_summary == 2 ? 0
                                  : data.size() + (tag ? TagOf(i).size() : 0));
    o->set_frames(10);
  }
  summary.set_skipped_packets(skipped_packets.load());
  response.Clear();
  *response.mutable_summary() = summary;
  stream->Write(response);
  if (bad_summary == 3) {
    response.Clear();
    response.mutable_chunk()->set_data("late");
    stream->Write(response);
  }
  return grpc::Status::OK;
}

FakeServer::FakeServer() {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  builder.RegisterService(&service_);
  server_ = builder.BuildAndStart();
  address_ = absl::StrCat("127.0.0.1:", port);
  SetServing(true);
}

FakeServer::~FakeServer() { server_->Shutdown(); }

void FakeServer::SetServing(bool serving) {
  server_->GetHealthCheckService()->SetServingStatus(serving);
}

}  // namespace stylizer::client::testing
