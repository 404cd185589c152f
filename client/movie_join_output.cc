// The join's output (StreamedOutput) and the source's sound copied into it;
// see movie_join_internal.h.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
}

#include "client/movie_join_internal.h"
#include "client/movie_packets.h"
#include "client/output_files.h"
#include "server/media/aac_adts.h"
#include "server/media/av_util.h"
#include "server/media/movie_tags.h"

namespace stylizer::client {

absl::StatusOr<std::unique_ptr<StreamedOutput>> StreamedOutput::Create(
    const std::string& path, bool matroska) {
  auto file = AtomicFile::Create(path);
  if (!file.ok()) return file.status();
  std::unique_ptr<StreamedOutput> out(new StreamedOutput(*std::move(file)));
  AVFormatContext* raw = nullptr;
  int ret = avformat_alloc_output_context2(
      &raw, nullptr, matroska ? "matroska" : "mp4", nullptr);
  if (ret < 0) return media::AvError(ret, "creating the output");
  out->muxer_.reset(raw);
  constexpr int kIoBufferSize = 64 * 1024;
  auto* buffer = static_cast<unsigned char*>(av_malloc(kIoBufferSize));
  if (buffer == nullptr) return absl::ResourceExhaustedError("out of memory");
  out->io_.reset(avio_alloc_context(buffer, kIoBufferSize, /*write_flag=*/1,
                                    out.get(), nullptr, &StreamedOutput::Write,
                                    nullptr));
  if (out->io_ == nullptr) {
    av_free(buffer);
    return absl::ResourceExhaustedError("out of memory");
  }
  out->muxer_->pb = out->io_.get();
  out->muxer_->flags |= AVFMT_FLAG_CUSTOM_IO | AVFMT_FLAG_FLUSH_PACKETS;
  out->muxer_->flush_packets = 1;
  return out;
}

absl::Status StreamedOutput::Finish(absl::Status s) {
  // A failed write is the cause of whatever the muxer said after it (its
  // own "Input/output error" names neither the file nor the reason).
  if (!write_status_.ok()) s = write_status_;
  if (s.ok()) {
    const int ret = av_write_trailer(muxer_.get());
    if (ret < 0) s = media::AvError(ret, "writing the output trailer");
  }
  if (s.ok()) avio_flush(io_.get());
  if (s.ok()) s = write_status_;  // the flush's
  if (!s.ok()) {
    file_->Discard();
    return s;
  }
  return file_->Commit();
}

int StreamedOutput::Write(void* opaque, uint8_t* data, int size) {
  auto* self = static_cast<StreamedOutput*>(opaque);
  self->write_status_ = self->file_->Append(absl::string_view(
      reinterpret_cast<const char*>(data), static_cast<size_t>(size)));
  return self->write_status_.ok() ? size : AVERROR(EIO);
}

absl::StatusOr<AVStream*> AddSound(const std::string& source,
                                   const AVFormatContext* src, int video,
                                   int audio, AVFormatContext* out,
                                   std::unique_ptr<media::AdtsToAsc>* adts) {
  const AVStream* in = src->streams[audio];
  AVStream* sound = avformat_new_stream(out, nullptr);
  if (sound == nullptr) return absl::ResourceExhaustedError("out of memory");
  int ret = avcodec_parameters_copy(sound->codecpar, in->codecpar);
  if (ret < 0) return media::AvError(ret, "copying the sound's parameters");
  sound->codecpar->codec_tag = 0;
  sound->time_base = in->time_base;
  if (absl::Status s = media::CopyKeptTags(in->metadata, &sound->metadata);
      !s.ok()) {
    return s;
  }
  if (media::IsAdtsAac(*in->codecpar)) {
    auto config = AdtsConfig(source, video, audio);
    if (!config.ok()) return config.status();
    auto filter = media::AdtsToAsc::Create(*in->codecpar, in->time_base);
    if (!filter.ok()) return filter.status();
    *adts = *std::move(filter);
    absl::Status set = media::SetAudioSpecificConfig(*config, sound->codecpar);
    if (!set.ok()) return set;
  }
  return sound;
}

}  // namespace stylizer::client
