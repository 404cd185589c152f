// The Server::Options of stylizer-server, from its flags: the model loader,
// the queue, the limits, the video jobs and the resolved automatic values
// (memory budget, CPUs), each logged once.
#ifndef STYLIZER_SERVER_SERVER_OPTIONS_H_
#define STYLIZER_SERVER_SERVER_OPTIONS_H_

#include <functional>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "server/metrics/metrics.h"
#include "server/model/torch_model.h"
#include "server/service/server.h"

namespace stylizer {

// The loaded model, for the device-memory sampler of /metrics: a scrape may
// run while the server is torn down, so the sampler reads the model only
// under this lock, and Run() clears it before the model is destroyed.
struct LoadedModel {
  absl::Mutex mu;
  std::vector<const TorchModel*> models ABSL_GUARDED_BY(mu);  // per device
};

// `metrics` may be null (no /metrics). The loader fills `loaded_model`, and
// calls `on_load_failure` (from a loader thread) if the model cannot be
// loaded.
Server::Options ServerOptions(
    Metrics* metrics, std::shared_ptr<LoadedModel> loaded_model,
    std::function<void(const absl::Status&)> on_load_failure);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVER_OPTIONS_H_
