// Builds, starts and drains the gRPC server; see server.h.
#include "server/service/server.h"

#include <algorithm>
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/ext/health_check_service_server_builder_option.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/impl/server_builder_option.h"
#include "grpcpp/impl/server_builder_plugin.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "server/common/host_port.h"
#include "server/common/listen_check.h"
#include "server/metrics/log.h"
#include "server/metrics/metrics.h"
#include "server/service/server_credentials.h"
#include "server/service/server_options_check.h"
#include "server/service/tls_files.h"
#include "server/service/token_auth.h"
#include "server/service/work_pool.h"

namespace stylizer {
namespace {

constexpr char kServiceName[] = "stylizer.v1.Stylizer";
// A client's health checking opens one Watch per connection and service;
// more on one connection is a leak or an attack.
constexpr int kMaxHealthWatchersPerConnection = 16;
// Threads gRPC may start for synchronous services (reflection).
constexpr int kMaxSyncServerThreads = 16;
// Request metadata (headers) a call may carry. gRPC's default, 8 KiB, was
// enforced by ending the whole connection: one caller's long header ended
// every call sharing it (behind a proxy, other callers' jobs). 64 KiB is
// above what common proxies forward (Envoy 60 KiB, nginx 32 KiB).
constexpr int kMaxMetadataBytes = 64 * 1024;

// Milliseconds for a gRPC channel argument; gRPC reads INT_MAX as "never",
// so an infinite (or very long) duration turns the limit off.
int Millis(absl::Duration d) {
  return static_cast<int>(
      std::min<int64_t>(absl::ToInt64Milliseconds(d), INT32_MAX));
}

// A builder option that removes the server reflection plugin.
class WithoutReflection : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments*) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>*
                         plugins) override {
    plugins->erase(
        std::remove_if(plugins->begin(), plugins->end(),
                       [](const std::unique_ptr<grpc::ServerBuilderPlugin>& p) {
                         return p->name() == "proto_server_reflection";
                       }),
        plugins->end());
  }
};

}  // namespace

Server::Server(const Options& options) : options_(options) {}

absl::StatusOr<std::unique_ptr<Server>> Server::BuildAndStart(
    const Options& options) {
  if (absl::Status s = ValidateServerOptions(options); !s.ok()) return s;
  absl::StatusOr<Options> effective = ApplyMemoryBudget(options);
  if (!effective.ok()) return effective.status();
  // The queue is made once the model has loaded (which may take minutes on
  // a GPU): its options are refused now instead.
  if (absl::Status s = JobQueue::ValidateOptions(effective->queue); !s.ok()) {
    return s;
  }
  std::unique_ptr<Server> server(new Server(*effective));
  if (absl::Status s = server->Start(); !s.ok()) return s;
  return server;
}

absl::Status Server::Start() {
  if (!options_.tls_cert_file.empty() && !options_.tls_key_file.empty() &&
      options_.tls_reload_interval > absl::ZeroDuration()) {
    absl::StatusOr<std::unique_ptr<TlsFiles>> files =
        TlsFiles::Create(options_.tls_key_file, options_.tls_cert_file,
                         options_.tls_client_ca_file);
    if (!files.ok()) return files.status();
    tls_files_ = *std::move(files);
    tls_reload_ = std::make_unique<Periodic>(
        options_.tls_reload_interval, [files = tls_files_.get()] {
          const absl::StatusOr<TlsFiles::Refresh> refresh =
              files->RefreshFromOriginals();
          if (!refresh.ok()) {
            // Once per change of the files; the last good ones stay.
            LogEvent(LogLevel::kError, "tls_files_not_reloaded")
                .Str("message", refresh.status().message());
          } else if (*refresh == TlsFiles::Refresh::kStaged) {
            LogEvent(LogLevel::kInfo, "tls_files_reloaded");
          }
        });
  }
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      ServerCredentialsFor(options_, tls_files_.get());
  if (!credentials.ok()) return credentials.status();
  if (!options_.auth_token_file.empty()) {
    absl::StatusOr<std::unique_ptr<TokenAuth>> auth =
        TokenAuth::FromFile(options_.auth_token_file);
    if (!auth.ok()) return auth.status();
    auth_ = *std::move(auth);
    auth_reload_ = std::make_unique<Periodic>(
        options_.auth_token_reload_interval, [auth = auth_.get()] {
          const absl::StatusOr<TokenAuth::Reload> reload =
              auth->ReloadIfChanged();
          if (!reload.ok()) {
            // Once per change of the file; the tokens in use stay.
            LogEvent(LogLevel::kError, "auth_tokens_not_reloaded")
                .Str("message", reload.status().message())
                .Int("tokens_in_use", auth->token_count());
          } else if (*reload == TokenAuth::Reload::kReloaded) {
            LogEvent(LogLevel::kInfo, "auth_tokens_reloaded")
                .Int("tokens", auth->token_count());
          }
        });
  }
  const int threads = options_.work_threads > 0
                          ? options_.work_threads
                          : std::max(1u, std::thread::hardware_concurrency());
  pool_ = std::make_unique<WorkPool>(threads);
  if (options_.memory_budget_bytes > 0) {
    MemoryBudget::Observer observer;
    if (Metrics* metrics = options_.metrics) {
      metrics->SetMemoryBudget(options_.memory_budget_bytes);
      observer = [metrics](int64_t reserved) {
        metrics->SetMemoryReserved(reserved);
      };
    }
    memory_budget_ = std::make_unique<MemoryBudget>(
        options_.memory_budget_bytes, std::move(observer));
    if (options_.grpc_memory_quota_bytes > 0) {
      if (absl::Status s = memory_budget_->SetAside(
              options_.grpc_memory_quota_bytes, "gRPC's buffer quota");
          !s.ok()) {
        return s;
      }
    }
  }
  ServiceLimits limits = options_.limits;
  limits.max_response_bytes = options_.max_send_message_bytes;
  context_ = std::make_unique<ServiceContext>(
      limits, pool_.get(), auth_.get(), options_.metrics,
      /*require_client_certificate=*/!options_.tls_client_ca_file.empty(),
      memory_budget_.get());
  context_->set_allowed_client_names(options_.tls_client_names);
  service_ = std::make_unique<StylizerService>(context_.get(), options_.video);

  health_ = std::make_unique<HealthService>(
      std::vector<std::string>{kServiceName}, options_.max_health_watchers,
      kMaxHealthWatchersPerConnection);
  grpc::ServerBuilder builder;
  // gRPC's own health service off (it starts SERVING, and its Watch streams
  // have no bound), whatever EnableDefaultHealthCheckService said.
  builder.SetOption(
      std::make_unique<grpc::HealthCheckServiceServerBuilderOption>(nullptr));
  builder.RegisterService(health_.get());
  if (options_.enable_reflection) {
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  } else {
    // Linking gRPC's reflection library registers its plugin for every
    // builder (a static initializer): only taking it out turns it off.
    builder.SetOption(std::make_unique<WithoutReflection>());
  }
  const std::string address = HostPort(options_.host, options_.port);
  builder.AddListeningPort(address, *credentials, &port_);
  // gRPC sets SO_REUSEPORT by default: a second server on this port would
  // start too, and the kernel would split new connections between the two.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE, kMaxMetadataBytes);
  // Compressed requests are refused (UNIMPLEMENTED): gRPC inflates a message
  // whole before it checks its size, so 4 MB of gzip became 4 GiB of memory
  // before any limit or token applied. Images and movies are compressed
  // already.
  builder.SetCompressionAlgorithmSupportStatus(GRPC_COMPRESS_DEFLATE, false);
  builder.SetCompressionAlgorithmSupportStatus(GRPC_COMPRESS_GZIP, false);
  builder.RegisterService(service_.get());
  builder.SetMaxReceiveMessageSize(options_.max_receive_message_bytes);
  builder.SetMaxSendMessageSize(options_.max_send_message_bytes);
  grpc::ResourceQuota quota("stylizer");
  if (options_.grpc_memory_quota_bytes > 0) {
    quota.Resize(static_cast<size_t>(options_.grpc_memory_quota_bytes));
  }
  // The stylizer and health services are callback services; reflection is
  // synchronous, and each of its open streams held a server thread, with no
  // limit and no token (2000 idle streams: 2000 threads). Past this many,
  // further reflection calls wait for a thread.
  quota.SetMaxThreads(kMaxSyncServerThreads);
  builder.SetResourceQuota(quota);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS,
                             Millis(options_.keepalive_time));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                             Millis(options_.keepalive_timeout));
  builder.AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
      Millis(options_.keepalive_min_client_interval));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                             Millis(options_.handshake_timeout));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS,
                             Millis(options_.max_connection_idle));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                             Millis(options_.max_connection_age));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                             Millis(options_.max_connection_age_grace));
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    server_.reset();
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", address, ": ",
                     WhyCannotListen(options_.host, options_.port)));
  }
  SetHealth(false);
  LogEvent(LogLevel::kInfo, "listening")
      .Int("port", port_)  // first: scripts read "listening port=N"
      .Str("host", options_.host)
      .Bool("tls", !options_.tls_cert_file.empty())
      .Bool("mtls", !options_.tls_client_ca_file.empty())
      .Bool("token_auth", auth_ != nullptr)
      .Int("memory_budget_bytes", options_.memory_budget_bytes)
      .Int("grpc_memory_quota_bytes", options_.grpc_memory_quota_bytes)
      .Int("max_queued_bytes", options_.queue.max_queued_bytes);
  loader_ = std::thread([this] { LoadModel(); });
  return absl::OkStatus();
}

void Server::SetHealth(bool serving) {
  health_->SetServing(serving);
  if (options_.metrics != nullptr) options_.metrics->SetServing(serving);
}

void Server::LoadModel() {
  const absl::Time start = absl::Now();
  absl::Status status;
  int64_t max_batch_pixels = 0;  // the queue's, for the serving line
  absl::StatusOr<std::vector<std::unique_ptr<StyleModel>>> models =
      LoadInstances();
  if (models.ok()) {
    models_ = *std::move(models);
    std::vector<StyleModel*> instances;
    for (const auto& m : models_) instances.push_back(m.get());
    queue_observer_ = std::make_unique<GatedObserver>(
        options_.metrics != nullptr ? options_.metrics->queue_observer()
                                    : nullptr);
    JobQueue::Options queue_options = options_.queue;
    max_batch_pixels = BatchPixelCap(options_.max_batch_pixels,
                                     models_.front()->description().device);
    queue_options.max_batch_pixels = max_batch_pixels;
    absl::StatusOr<std::unique_ptr<JobQueue>> queue =
        JobQueue::Create(queue_options, instances, queue_observer_.get());
    if (queue.ok()) {
      queue_ = *std::move(queue);
      if (options_.warmup) status = WarmUp();
      queue_observer_->Open();  // the warm-up is not traffic
    } else {
      status = queue.status();
    }
  } else {
    status = models.status();
  }
  if (status.ok()) {
    const ModelDescription& d = models_.front()->description();
    std::string devices = d.device;
    for (size_t i = 1; i < models_.size(); ++i) {
      absl::StrAppend(&devices, ",", models_[i]->description().device);
    }
    if (options_.metrics != nullptr) {
      options_.metrics->SetModel(d);
      options_.metrics->SetDeviceWorkers(static_cast<int>(models_.size()));
      options_.metrics->SetQueueCapacity(options_.queue.max_queued_items,
                                         options_.queue.max_queued_bytes);
    }
    context_->SetServing(&d, queue_.get(), options_.queue.max_batch_size);
    if (context_->state() == ServingState::kServing) SetHealth(true);
    LogEvent(LogLevel::kInfo, "serving")
        .Str("model", d.name)
        .Int("styles", static_cast<int64_t>(d.style_names.size()))
        .Str("device", devices)
        .Str("precision", d.precision)
        .Str("sha256", d.archive_sha256)
        .Int("max_batch_pixels", max_batch_pixels)
        .Seconds("load_seconds", absl::Now() - start);
  } else {
    LogEvent(LogLevel::kError, "model_load_failed")
        .Str("error", status.ToString());
  }
  load_status_ = status;
  loaded_.Notify();
  if (!status.ok() && options_.on_load_failure)
    options_.on_load_failure(status);
}

absl::StatusOr<std::vector<std::unique_ptr<StyleModel>>>
Server::LoadInstances() {
  std::vector<std::unique_ptr<StyleModel>> models;
  if (options_.load_models) {
    absl::StatusOr<std::vector<std::unique_ptr<StyleModel>>> loaded =
        options_.load_models();
    if (!loaded.ok()) return loaded.status();
    models = *std::move(loaded);
  } else {
    absl::StatusOr<std::unique_ptr<StyleModel>> loaded = options_.load_model();
    if (!loaded.ok()) return loaded.status();
    models.push_back(*std::move(loaded));
  }
  if (models.empty() || models.front() == nullptr) {
    return absl::InternalError("the model loader returned no model");
  }
  const std::vector<std::string>& styles =
      models.front()->description().style_names;
  for (const auto& m : models) {
    if (m == nullptr || m->description().style_names != styles) {
      return absl::InternalError(
          "the model instances of the devices differ in their styles");
    }
  }
  return models;
}

absl::Status Server::WarmUp() {
  // One small frame through the queue and the model.
  auto frame = std::make_shared<RgbFrame>();
  frame->width = 64;
  frame->height = 48;
  frame->pixels.assign(64 * 48 * 3, 128);
  FrameRequest request;
  request.frame = frame;
  std::vector<float> row(models_.front()->num_styles(), 0.0f);
  row[0] = 1.0f;
  request.style_weights.push_back(std::move(row));
  absl::Notification done;
  absl::Status result;
  JobOptions job_options;
  job_options.name = "warmup";
  job_options.on_result = [&](FrameResult r) {
    result = r.status;
    done.Notify();
  };
  absl::StatusOr<std::unique_ptr<Job>> job =
      queue_->OpenJob(std::move(job_options));
  if (!job.ok()) return job.status();
  if (absl::Status s = (*job)->Submit(&request); !s.ok()) return s;
  done.WaitForNotification();
  if (!result.ok()) {
    return absl::Status(result.code(),
                        absl::StrCat("warm-up failed: ", result.message()));
  }
  return absl::OkStatus();
}

absl::Status Server::WaitUntilReady() {
  loaded_.WaitForNotification();
  return load_status_;
}

void Server::Drain(absl::Duration timeout,
                   const std::function<void()>& calls_ended) {
  {
    absl::MutexLock lock(&drain_mu_);
    if (drained_) return;
    drained_ = true;
  }
  if (server_ == nullptr) return;  // never started: nothing runs
  const absl::Time start = absl::Now();
  LogEvent(LogLevel::kInfo, "draining")
      .Seconds("timeout_seconds", timeout)
      .Int("active_streams", context_->active_streams());
  context_->SetDraining();
  const absl::Time deadline = start + timeout;
  SetHealth(false);
  health_->Shutdown();
  // Calls in flight run on (new ones are refused by Admit) until they end or
  // the deadline passes.
  const bool idle = context_->WaitUntilIdle(deadline);
  if (!idle) context_->SetCancellingForDrain();
  // Closes the port and cancels what is left: at once when our calls are
  // done (only health watchers remain), else at the deadline.
  server_->Shutdown(absl::ToChronoTime(idle ? absl::Now() : deadline));
  const absl::Time calls_end = absl::Now();
  if (calls_ended) calls_ended();
  if (loader_.joinable()) loader_.join();
  if (queue_ != nullptr) queue_->Drain();
  // A movie's decoder thread may still be about to open its job (a drain
  // past its deadline cancels calls whose pipelines run on): from here it
  // gets UNAVAILABLE instead of a destroyed queue.
  context_->ReleaseQueue();
  queue_.reset();  // stops the queue's threads
  pool_.reset();   // runs the reactors' last tasks, then stops
  server_->Wait();
  // What the device's last batches (and a model still loading) took after
  // the calls had ended.
  LogEvent(LogLevel::kInfo, "stopped")
      .Seconds("drain_seconds", absl::Now() - start)
      .Seconds("after_calls_seconds", absl::Now() - calls_end);
}

int64_t BatchPixelCap(int64_t setting, absl::string_view device) {
  if (setting > 0) return setting;
  if (setting < 0) return 0;
  return device == "cpu" ? kCpuMaxBatchPixels : 0;
}

Server::FilesReloading Server::ReloadFilesNow() {
  FilesReloading reloading;
  if (tls_reload_ != nullptr &&
      options_.tls_reload_interval > absl::ZeroDuration()) {
    tls_reload_->RunNow();
    reloading.tls_files = true;
  }
  if (auth_reload_ != nullptr &&
      options_.auth_token_reload_interval > absl::ZeroDuration()) {
    auth_reload_->RunNow();
    reloading.auth_tokens = true;
  }
  return reloading;
}

void Server::RemoveTlsCopies() {
  if (tls_files_ != nullptr) tls_files_->RemoveCopies();
}

Server::~Server() { Drain(absl::ZeroDuration()); }

}  // namespace stylizer
