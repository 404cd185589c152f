// FFmpeg's and gRPC's own log lines through the server's structured log
// (server/metrics/log.h), so that --log_format=json stays one object per line.
#ifndef STYLIZER_SERVER_LIBRARY_LOGS_H_
#define STYLIZER_SERVER_LIBRARY_LOGS_H_

namespace stylizer {

// Sets FFmpeg's level to errors and routes FFmpeg's and gRPC's lines to
// LogEvent. Call once, before any thread that may log starts.
void RouteLibraryLogs();

}  // namespace stylizer

#endif  // STYLIZER_SERVER_LIBRARY_LOGS_H_
