// The client library's StylizeVideo: the upload and the download of one
// job run at once, each attempt from the source's start; see
// stylizer_client.h.
#include <atomic>
#include <string>
#include <thread>

#include "client/stylizer_client.h"

namespace stylizer::client {
namespace {

using stylizer::v1::StylizeVideoRequest;
using stylizer::v1::StylizeVideoResponse;
using stylizer::v1::VideoJob;

}  // namespace

absl::Status StylizerClient::StylizeVideo(const VideoJob& job,
                                          ByteSource* source,
                                          VideoObserver* observer) {
  // --timeout bounds the whole job, its retries and their waits included.
  const absl::Time deadline = CallDeadline();
  return Retry([&] { return VideoAttempt(job, source, observer, deadline); },
               [observer](const absl::Status& why, absl::Duration wait,
                          int retry) { observer->OnRetry(why, wait, retry); },
               deadline);
}

AttemptResult StylizerClient::VideoAttempt(const VideoJob& job,
                                           ByteSource* source,
                                           VideoObserver* observer,
                                           absl::Time deadline) {
  AttemptResult result;
  if (absl::Status s = source->Rewind(); !s.ok()) {
    result.status = s;
    return result;
  }
  grpc::ClientContext ctx;
  Prepare(&ctx, deadline);
  if (!Track(&ctx)) {
    result.status = absl::CancelledError("interrupted");
    return result;
  }
  auto stream = stub_->StylizeVideo(&ctx);

  std::atomic<bool> stop{false};
  absl::Status upload_status;  // written by the uploader, read after join()
  std::thread uploader([&] {
    StylizeVideoRequest first;
    *first.mutable_job() = job;
    if (job.input_size() == 0)
      first.mutable_job()->set_input_size(source->size());
    if (!stream->Write(first)) return;  // the call ended; Finish() says why
    std::string buf(options_.upload_chunk_bytes, '\0');
    uint64_t sent = 0;
    while (!stop.load()) {
      auto n = source->Read(buf.data(), buf.size(), stop);
      if (stop.load()) return;  // the call ended; Finish() says why
      if (!n.ok()) {
        upload_status = n.status();
        ctx.TryCancel();
        return;
      }
      if (*n == 0) break;
      StylizeVideoRequest chunk;
      chunk.set_chunk(buf.data(), *n);
      if (!stream->Write(chunk)) return;
      sent += *n;
      observer->OnUploadProgress(sent, source->size());
    }
    if (!stop.load()) stream->WritesDone();
  });

  absl::Status observer_status;
  bool accepted_seen = false;
  bool summary_seen = false;
  StylizeVideoResponse response;
  while (stream->Read(&response)) {
    if (!result.output_started) observer->OnPeer(ctx.peer());
    result.output_started = true;
    if (summary_seen) {
      // The summary closes the job: bytes after it (to standard output,
      // say) would follow the check that the movie was complete.
      observer_status = absl::InternalError(
          "the server sent a message after the job's summary");
      stop.store(true);
      ctx.TryCancel();
      break;
    }
    switch (response.msg_case()) {
      case StylizeVideoResponse::kAccepted:
        // A job is accepted once: a second JobAccepted (another input's
        // size and frame count, another job id) is out of the protocol, as
        // an output not asked for is.
        if (accepted_seen) {
          observer_status = absl::InternalError(
              "the server sent a second JobAccepted for the job");
          break;
        }
        accepted_seen = true;
        observer_status = observer->OnAccepted(response.accepted());
        break;
      case StylizeVideoResponse::kProgress:
        observer->OnProgress(response.progress());
        break;
      case StylizeVideoResponse::kChunk:
        observer_status = observer->OnChunk(response.chunk().output_index(),
                                            response.chunk().data());
        break;
      case StylizeVideoResponse::kSummary:
        summary_seen = true;
        observer_status = observer->OnSummary(response.summary());
        break;
      case StylizeVideoResponse::MSG_NOT_SET:
        break;
    }
    if (!observer_status.ok()) {
      stop.store(true);
      ctx.TryCancel();
      break;
    }
  }
  // The call is over: an uploader still waiting for a pipe's next bytes
  // gives up (within 100 ms) rather than keeping the command alive.
  stop.store(true);
  uploader.join();
  const grpc::Status finish = stream->Finish();
  Untrack(&ctx);
  result.no_retry_reason = source->NoRewindReason();
  if (!observer_status.ok()) {
    result.status = observer_status;
  } else if (!upload_status.ok()) {
    result.status = upload_status;
  } else if (!finish.ok()) {
    result.status = Finished(finish);
  } else if (!summary_seen) {
    result.status = absl::InternalError(
        "the server ended the job without a summary; the outputs may be "
        "incomplete");
  }
  return result;
}

}  // namespace stylizer::client
