// FFmpeg's and gRPC's own log lines through the server's structured log
// (server/metrics/log.h), so that --log_format=json stays one object per line.
#ifndef STYLIZER_SERVER_LIBRARY_LOGS_H_
#define STYLIZER_SERVER_LIBRARY_LOGS_H_

#include <functional>

namespace stylizer {

// Sets FFmpeg's level to errors and routes FFmpeg's and gRPC's lines to
// LogEvent. Call once, before any thread that may log starts.
// `on_listener_failed` (on a gRPC thread, once) is called when gRPC reports
// that accepting a connection failed ("Failed accept4", out of file
// descriptors, say): Debian's gRPC then never accepts another one.
void RouteLibraryLogs(std::function<void()> on_listener_failed = nullptr);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_LIBRARY_LOGS_H_
