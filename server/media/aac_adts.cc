// The aac_adtstoasc bitstream filter, one packet at a time (see aac_adts.h).
#include "server/media/aac_adts.h"

#include <cstring>

extern "C" {
#include <libavcodec/bsf.h>
}

namespace stylizer {
namespace media {

bool IsAdtsAac(const AVCodecParameters& par) {
  return par.codec_id == AV_CODEC_ID_AAC && par.extradata_size == 0;
}

absl::Status SetAudioSpecificConfig(const std::string& config,
                                    AVCodecParameters* par) {
  auto* extradata = static_cast<uint8_t*>(
      av_mallocz(config.size() + AV_INPUT_BUFFER_PADDING_SIZE));
  if (extradata == nullptr) return absl::ResourceExhaustedError("out of memory");
  std::memcpy(extradata, config.data(), config.size());
  av_freep(&par->extradata);
  par->extradata = extradata;
  par->extradata_size = static_cast<int>(config.size());
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<AdtsToAsc>> AdtsToAsc::Create(
    const AVCodecParameters& par, AVRational time_base) {
  const AVBitStreamFilter* filter = av_bsf_get_by_name("aac_adtstoasc");
  if (filter == nullptr) {
    return absl::InternalError(
        "this server's FFmpeg lacks the aac_adtstoasc filter (a build fault)");
  }
  std::unique_ptr<AdtsToAsc> self(new AdtsToAsc());
  int ret = av_bsf_alloc(filter, &self->bsf_);
  if (ret < 0) return AvError(ret, "allocating aac_adtstoasc");
  ret = avcodec_parameters_copy(self->bsf_->par_in, &par);
  if (ret < 0) return AvError(ret, "configuring aac_adtstoasc");
  self->bsf_->time_base_in = time_base;
  ret = av_bsf_init(self->bsf_);
  if (ret < 0) {
    return AvError(ret, "the input's AAC configuration is invalid",
                   absl::StatusCode::kInvalidArgument);
  }
  return self;
}

AdtsToAsc::~AdtsToAsc() { av_bsf_free(&bsf_); }

absl::Status AdtsToAsc::Convert(AVPacket* packet) {
  int ret = av_bsf_send_packet(bsf_, packet);  // takes the packet's data
  if (ret < 0) {
    av_packet_unref(packet);
    return AvError(ret, "the input's AAC audio cannot be converted from ADTS",
                   absl::StatusCode::kInvalidArgument);
  }
  ret = av_bsf_receive_packet(bsf_, packet);
  if (ret < 0) {
    return AvError(ret, "the input's AAC audio cannot be converted from ADTS",
                   absl::StatusCode::kInvalidArgument);
  }
  size_t size = 0;
  uint8_t* extradata =
      av_packet_get_side_data(packet, AV_PKT_DATA_NEW_EXTRADATA, &size);
  if (extradata != nullptr && size > 0) {
    if (config_.empty()) {
      config_.assign(reinterpret_cast<const char*>(extradata), size);
    }
    // The muxer has the configuration from the header already.
    av_packet_shrink_side_data(packet, AV_PKT_DATA_NEW_EXTRADATA, 0);
  }
  return absl::OkStatus();
}

}  // namespace media
}  // namespace stylizer
