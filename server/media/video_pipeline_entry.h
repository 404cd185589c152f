// The window's entries of a VideoPipeline, shared by its decoding side
// (video_pipeline.cc) and its writing side (video_pipeline_output.cc).
#ifndef STYLIZER_SERVER_MEDIA_VIDEO_PIPELINE_ENTRY_H_
#define STYLIZER_SERVER_MEDIA_VIDEO_PIPELINE_ENTRY_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "server/media/av_util.h"
#include "server/media/video_pipeline.h"

namespace stylizer {
namespace media {

// One frame or audio packet of the input, in input order.
struct VideoPipeline::Entry {
  enum class Kind { kVideo, kAudio, kEnd };
  Kind kind = Kind::kEnd;
  // kVideo: the frame's sequence number and timing (video time base), then
  // its result: ready once delivered, one stylized frame per output.
  uint64_t sequence = 0;
  int64_t pts = 0;
  int64_t duration = 0;
  bool ready = false;
  absl::Status status;
  std::vector<RgbFrame> outputs;
  // kVideo with preserve_color: the decoded input, whose colours every
  // output takes (the window's byte limit already counts it).
  std::shared_ptr<const RgbFrame> color_source;
  // kAudio: the packet, shared read-only by the writers.
  AvPacketPtr packet;
  // Writers done with this entry.
  int consumed = 0;
};

}  // namespace media
}  // namespace stylizer

#endif  // STYLIZER_SERVER_MEDIA_VIDEO_PIPELINE_ENTRY_H_
