// stylizer-server's flags (defined in server_flags.cc, which --help lists)
// and the checks that refuse bad values before anything starts.
#ifndef STYLIZER_SERVER_SERVER_FLAGS_H_
#define STYLIZER_SERVER_SERVER_FLAGS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/metrics/log.h"

ABSL_DECLARE_FLAG(std::string, host);
ABSL_DECLARE_FLAG(int, port);
ABSL_DECLARE_FLAG(int, metrics_port);
ABSL_DECLARE_FLAG(std::string, metrics_host);
ABSL_DECLARE_FLAG(std::string, model);
ABSL_DECLARE_FLAG(std::string, device);
ABSL_DECLARE_FLAG(std::string, precision);
ABSL_DECLARE_FLAG(bool, cudnn_benchmark);
ABSL_DECLARE_FLAG(int, cuda_max_chunk_frames);
ABSL_DECLARE_FLAG(double, cuda_memory_fraction);
ABSL_DECLARE_FLAG(bool, channels_last);
ABSL_DECLARE_FLAG(bool, cuda_graphs);
ABSL_DECLARE_FLAG(int, cuda_graph_shapes);
ABSL_DECLARE_FLAG(int, threads);
ABSL_DECLARE_FLAG(int, max_batch_size);
ABSL_DECLARE_FLAG(int64_t, max_batch_pixels);
ABSL_DECLARE_FLAG(absl::Duration, batch_timeout);
ABSL_DECLARE_FLAG(int64_t, max_queued_items);
ABSL_DECLARE_FLAG(int64_t, max_queued_bytes);
ABSL_DECLARE_FLAG(int, max_frames_in_flight_per_job);
ABSL_DECLARE_FLAG(int, queue_workers);
ABSL_DECLARE_FLAG(int, max_concurrent_streams);
ABSL_DECLARE_FLAG(uint64_t, max_frame_pixels);
ABSL_DECLARE_FLAG(int, max_styles_per_request);
ABSL_DECLARE_FLAG(int, max_frames_buffered_per_stream);
ABSL_DECLARE_FLAG(absl::Duration, stream_idle_timeout);
ABSL_DECLARE_FLAG(uint64_t, upload_min_rate);
ABSL_DECLARE_FLAG(absl::Duration, malloc_trim_interval);
ABSL_DECLARE_FLAG(int, max_receive_message_bytes);
ABSL_DECLARE_FLAG(int, max_send_message_bytes);
ABSL_DECLARE_FLAG(int64_t, memory_budget_bytes);
ABSL_DECLARE_FLAG(int64_t, grpc_memory_quota_bytes);
ABSL_DECLARE_FLAG(int, work_threads);
ABSL_DECLARE_FLAG(uint64_t, spool_memory_bytes);
ABSL_DECLARE_FLAG(uint64_t, max_upload_bytes);
ABSL_DECLARE_FLAG(std::string, spool_dir);
ABSL_DECLARE_FLAG(uint64_t, spool_disk_bytes);
ABSL_DECLARE_FLAG(int, video_frames_in_flight);
ABSL_DECLARE_FLAG(int, video_pending_frames);
ABSL_DECLARE_FLAG(uint64_t, video_pending_output_bytes);
ABSL_DECLARE_FLAG(uint64_t, video_window_bytes);
ABSL_DECLARE_FLAG(std::string, x264_preset);
ABSL_DECLARE_FLAG(int, encoder_threads);
ABSL_DECLARE_FLAG(int, default_crf);
ABSL_DECLARE_FLAG(absl::Duration, progress_interval);
ABSL_DECLARE_FLAG(absl::Duration, keepalive_time);
ABSL_DECLARE_FLAG(absl::Duration, keepalive_timeout);
ABSL_DECLARE_FLAG(absl::Duration, keepalive_min_client_interval);
ABSL_DECLARE_FLAG(absl::Duration, handshake_timeout);
ABSL_DECLARE_FLAG(absl::Duration, max_connection_idle);
ABSL_DECLARE_FLAG(absl::Duration, max_connection_age);
ABSL_DECLARE_FLAG(absl::Duration, max_connection_age_grace);
ABSL_DECLARE_FLAG(absl::Duration, drain_timeout);
ABSL_DECLARE_FLAG(absl::Duration, drain_device_timeout);
ABSL_DECLARE_FLAG(std::string, tls_cert);
ABSL_DECLARE_FLAG(std::string, tls_key);
ABSL_DECLARE_FLAG(std::string, tls_client_ca);
ABSL_DECLARE_FLAG(std::vector<std::string>, tls_client_names);
ABSL_DECLARE_FLAG(absl::Duration, tls_reload_interval);
ABSL_DECLARE_FLAG(std::string, auth_token_file);
ABSL_DECLARE_FLAG(absl::Duration, auth_token_reload_interval);
ABSL_DECLARE_FLAG(bool, reflection);
ABSL_DECLARE_FLAG(stylizer::LogFormat, log_format);

namespace stylizer {

// The interface /metrics listens on: --metrics_host, or, empty, 127.0.0.1
// when --host is this machine only, else 0.0.0.0.
std::string MetricsHost();

// Flag values that would let the server start and then fail every call that
// uses them, or silently mean something other than what they say: an
// InvalidArgumentError whose message names the flag and the accepted values.
absl::Status CheckFlags();

// The server takes flags only: an argument (`stylizer-server my.pt`) was
// ignored, and the bundled model served in its place.
absl::Status CheckNoArguments(const std::vector<std::string>& arguments);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVER_FLAGS_H_
