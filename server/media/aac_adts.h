// AAC in ADTS form (MPEG-TS, broadcast and HLS recordings, raw .aac) carries
// its configuration in a header on every packet instead of in the stream's
// extradata. MP4 and Matroska want the AudioSpecificConfig as extradata and
// bare packets: FFmpeg's aac_adtstoasc bitstream filter does that conversion,
// and this wraps it.
#ifndef STYLIZER_SERVER_MEDIA_AAC_ADTS_H_
#define STYLIZER_SERVER_MEDIA_AAC_ADTS_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/media/av_util.h"

struct AVBSFContext;

namespace stylizer {
namespace media {

// Whether `par` is AAC that may come in ADTS form: AAC without extradata.
bool IsAdtsAac(const AVCodecParameters& par);

// Makes `config` (an AudioSpecificConfig, AdtsToAsc::config()) the
// extradata of `par`, replacing any. RESOURCE_EXHAUSTED if out of memory.
absl::Status SetAudioSpecificConfig(const std::string& config,
                                    AVCodecParameters* par);

// How far the configuration of ADTS AAC (MPEG-TS sound) is looked for: in
// the first audio packet, among the first packets of the picture and the
// sound, no more than these many or bytes. Past them the server transcodes
// the sound. The CLI's split applies the same rule, so that a split job
// copies the sound where an unsplit one does.
inline constexpr int kAdtsLookAheadPackets = 512;
inline constexpr int64_t kAdtsLookAheadBytes = int64_t{8} << 20;

class AdtsToAsc {
 public:
  // An aac_adtstoasc filter for a stream with parameters `par`.
  static absl::StatusOr<std::unique_ptr<AdtsToAsc>> Create(
      const AVCodecParameters& par, AVRational time_base);
  ~AdtsToAsc();

  // Converts one packet in place (ADTS header removed; packets already bare
  // pass unchanged). The stream's AudioSpecificConfig, once a packet has
  // revealed it, is in config(). INVALID_ARGUMENT for a packet the filter
  // cannot convert.
  absl::Status Convert(AVPacket* packet);

  // The AudioSpecificConfig (empty until a converted packet carried it).
  const std::string& config() const { return config_; }

 private:
  AdtsToAsc() = default;
  AVBSFContext* bsf_ = nullptr;
  std::string config_;
};

}  // namespace media
}  // namespace stylizer

#endif  // STYLIZER_SERVER_MEDIA_AAC_ADTS_H_
