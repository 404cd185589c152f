// The job queue's bookkeeping records: a job, its frames, and the items
// (frame x style-weight row) waiting in per-shape lanes. Internal to the
// queue. Every field marked "guarded" is read and written only with
// QueueCore::mu_ held; the other fields are set once at creation.
#ifndef STYLIZER_SERVER_BATCHING_JOB_STATE_H_
#define STYLIZER_SERVER_BATCHING_JOB_STATE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/batching/job_queue.h"

namespace stylizer {
namespace batching_internal {

struct JobState;

// Frame size in pixels: width, height. Only items of one shape share a batch.
using Shape = std::pair<int, int>;

// One admitted FrameRequest; its S items share it.
struct FrameState {
  std::shared_ptr<JobState> job;
  uint64_t sequence = 0;
  std::shared_ptr<const RgbFrame> frame;
  std::vector<std::vector<float>> style_weights;
  int64_t item_bytes = 0;  // capacity each item of this frame accounts for

  // Guarded. Items neither computed nor dropped yet.
  int items_left = 0;
  // Guarded. The result is final (every item finished, or the frame failed);
  // it is delivered once every earlier frame of its job is delivered.
  bool done = false;
  absl::Status status;
  std::vector<RgbFrame> outputs;
  absl::Duration queue_wait;
  absl::Duration compute;
  uint64_t last_batch = 0;  // id of the last batch counted in `compute`
};

// One frame x one style-weight row.
struct Item {
  std::shared_ptr<FrameState> frame;
  int row = 0;
  absl::Time enqueued;
};

// A job's queued items of one shape, oldest first. A lane with items sits in
// its shape's round-robin ring.
struct Lane {
  JobState* job = nullptr;
  Shape shape;
  std::deque<Item> items;               // guarded
  bool in_ring = false;                 // guarded
  std::list<Lane*>::iterator ring_pos;  // guarded; valid when in_ring
};

struct JobState {
  uint64_t id = 0;
  std::string name;
  absl::Time deadline = absl::InfiniteFuture();
  int max_in_flight = 0;
  bool single_frame = false;  // JobOptions::single_frame
  std::function<void(FrameResult)> on_result;

  // Guarded. No more admission; queued items dropped.
  bool cancelled = false;
  // Guarded. The Job handle is gone: results are discarded, not delivered.
  bool closed = false;
  // Guarded. The reorder buffer: admitted, undelivered frames in submission
  // order. Its size is the job's frames in flight.
  std::deque<std::shared_ptr<FrameState>> frames;
  // Guarded. One lane per shape the job has used.
  std::map<Shape, std::unique_ptr<Lane>> lanes;
  // Guarded. Items in the job's lanes.
  int64_t queued_items = 0;
  // Guarded. The job has queued items and sits in the queue's round-robin
  // ring of active jobs (QueueCore::active_) at `active_pos`.
  bool active = false;
  std::list<JobState*>::iterator active_pos;
  // Guarded. Items (and their bytes) admitted and not yet computed or
  // dropped: the job's share of the queue's capacity.
  int64_t held_items = 0;
  int64_t held_bytes = 0;
  // Guarded. A queue thread is running on_result for this job; only that
  // thread delivers the job's results until it clears the flag.
  bool delivering = false;
  std::thread::id delivering_thread;
  // Guarded. The notifier thread is running one of this job's NotifyWhenRoom
  // callbacks; closing the job waits for it (unless closed from inside it).
  bool notifying = false;
  std::thread::id notifying_thread;
  // Guarded. NotifyWhenRoom callbacks waiting for room.
  std::vector<std::function<void()>> room_callbacks;
  // Guarded. The size of the last frame refused for lack of room: "room"
  // means room for that much.
  int64_t wanted_items = 1;
  int64_t wanted_bytes = 0;
};

}  // namespace batching_internal
}  // namespace stylizer

#endif  // STYLIZER_SERVER_BATCHING_JOB_STATE_H_
