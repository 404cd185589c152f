// HDR video (PQ or HLG transfer, BT.2020 primaries, as phones and HDR10
// masters make it) to SDR BT.709 RGB24, the colours the model was trained on
// and that every player shows alike. The steps are those of FFmpeg's
// well-known filter chain `zscale=t=linear:npl=100, zscale=p=bt709,
// tonemap=mobius:desat=0, zscale=t=bt709`: the transfer undone to light in
// units of 100 cd/m2 (HLG through its reference display's system gamma 1.2 at
// 1000 cd/m2, per component as zimg does it), BT.2020 primaries to BT.709 in
// linear light, Mobius tone mapping of the brightest component (light under 30
// cd/m2 untouched, the source's peak to SDR white), then the inverse of
// BT.1886's display response (gamma 2.4), SDR BT.709's.
#ifndef STYLIZER_SERVER_MEDIA_HDR_TO_SDR_H_
#define STYLIZER_SERVER_MEDIA_HDR_TO_SDR_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

extern "C" {
#include <libavformat/avformat.h>
}

namespace stylizer {
namespace media {

class HdrToSdr {
 public:
  enum class Transfer { kPq, kHlg };

  // For a video stream coded with an HDR transfer (SMPTE ST 2084 or ARIB
  // STD-B67), the conversion of its frames; null for any other stream. The
  // peak comes from the stream's content light level or mastering display
  // metadata (PQ), else 1000 cd/m2, the nominal peak of HLG and FFmpeg's
  // default (see WithPeakOf).
  static std::unique_ptr<HdrToSdr> ForStream(const AVStream& stream);
  // Whether `transfer` is one ForStream converts.
  static bool IsHdr(AVColorTransferCharacteristic transfer);

  // For a PQ stream whose container gave no peak: the conversion with the
  // peak its first frame carries (HDR10 side data, as FFmpeg's HEVC decoder
  // exports it from the SEI of an MPEG-TS or raw stream); null when this one
  // has its peak from metadata already, or the frame carries none.
  std::unique_ptr<HdrToSdr> WithPeakOf(const AVFrame& frame) const;

  // `peak_nits`: the source's brightest light, mapped to SDR white.
  HdrToSdr(Transfer transfer, AVColorPrimaries primaries, double peak_nits);

  // `pixels` pixels of three planes (full-range 16-bit codes of the HDR
  // signal, native byte order) to packed RGB24 SDR BT.709.
  void Convert(const uint16_t* r, const uint16_t* g, const uint16_t* b,
               size_t pixels, uint8_t* rgb24) const;

  // A whole GBRP16 frame (as swscale writes it, which it does several times
  // faster than packed RGB48) to packed RGB24 of its size, row by row.
  void ConvertGbrp16(const AVFrame& gbrp16, uint8_t* rgb24) const;

  // FFmpeg's name of the transfer ("smpte2084", "arib-std-b67").
  std::string transfer_name() const;
  double peak_nits() const { return peak_nits_; }

 private:
  Transfer transfer_;
  AVColorPrimaries primaries_;
  double peak_nits_;
  bool peak_from_metadata_ = false;  // not the default 1000 cd/m2
  double peak_;  // in units of 100 cd/m2
  // Mobius curve constants for peak_ (see Convert).
  float mobius_a_ = 0;
  float mobius_b_ = 0;
  float mobius_scale_ = 0;
  // 12-bit code -> display light in units of 100 cd/m2.
  std::vector<float> to_linear_;
  // The square root of SDR light (0..1 in kOetfSteps) -> 8-bit BT.709 code.
  std::vector<uint8_t> oetf_;
  std::array<float, 9> to_bt709_;  // row-major, linear light
};

}  // namespace media
}  // namespace stylizer

#endif  // STYLIZER_SERVER_MEDIA_HDR_TO_SDR_H_
