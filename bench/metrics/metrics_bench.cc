// Cost of the metrics hooks the job queue and the RPC layer call on every
// work item, batch and RPC, and of one /metrics scrape (in process, without
// HTTP). Single-threaded and contended variants.
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "server/metrics/log.h"
#include "server/metrics/metrics.h"

namespace stylizer {
namespace {

Metrics& Shared() {
  static Metrics* metrics = [] {
    Metrics::Options options;
    options.port = -1;
    options.model.name = "bench";
    options.model.style_names = {"a", "b", "c", "d", "e", "f", "g", "h"};
    return Metrics::Create(options)->release();
  }();
  return *metrics;
}

// One work item done (the job queue calls this per frame x style).
void BM_OnItemDone(benchmark::State& state) {
  QueueObserver* observer = Shared().queue_observer();
  std::vector<float> row(8, 0.0f);
  row[3] = 1.0f;
  for (auto _ : state) observer->OnItemDone(row, absl::Milliseconds(3));
}
BENCHMARK(BM_OnItemDone)->ThreadRange(1, 4)->UseRealTime();

// One batch done.
void BM_OnBatch(benchmark::State& state) {
  QueueObserver* observer = Shared().queue_observer();
  for (auto _ : state) observer->OnBatch(8, absl::Milliseconds(30));
}
BENCHMARK(BM_OnBatch)->ThreadRange(1, 4)->UseRealTime();

// Queue depth change (per admission and per completion).
void BM_OnQueueDepth(benchmark::State& state) {
  QueueObserver* observer = Shared().queue_observer();
  int64_t items = 0;
  for (auto _ : state) {
    items = (items + 1) & 511;
    observer->OnQueueDepth(items, items * 1000);
  }
}
BENCHMARK(BM_OnQueueDepth)->ThreadRange(1, 4)->UseRealTime();

// One finished RPC: counter + histogram + bytes (no log line).
void BM_RecordRequest(benchmark::State& state) {
  for (auto _ : state) {
    Shared().RecordRequest("StylizeImage", absl::StatusCode::kOk,
                           absl::Milliseconds(40));
    Shared().AddBytesReceived("StylizeImage", 50000);
    Shared().AddBytesSent("StylizeImage", 120000);
  }
}
BENCHMARK(BM_RecordRequest)->ThreadRange(1, 4)->UseRealTime();

// One finished RPC with its log line (to a sink that drops it).
void BM_FinishRpc(benchmark::State& state) {
  SetLogSink([](absl::string_view) {});
  RpcRecord record;
  record.method = "StylizeImage";
  record.peer = "ipv4:10.0.0.1:41234";
  record.duration = absl::Milliseconds(40);
  record.frames = 2;
  for (auto _ : state) Shared().FinishRpc(record);
  SetLogSink(nullptr);
}
BENCHMARK(BM_FinishRpc);

// One scrape's text (what a Prometheus server pulls every interval).
void BM_Scrape(benchmark::State& state) {
  size_t bytes = 0;
  for (auto _ : state) bytes = Shared().Scrape().size();
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_Scrape);

}  // namespace
}  // namespace stylizer
