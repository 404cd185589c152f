// The trace id of a W3C Trace Context `traceparent` header
// (https://www.w3.org/TR/trace-context/), which OpenTelemetry-instrumented
// clients and meshes send: the server logs it with each call, so that the
// call's log lines can be found from a trace.
#ifndef STYLIZER_SERVER_SERVICE_TRACE_CONTEXT_H_
#define STYLIZER_SERVER_SERVICE_TRACE_CONTEXT_H_

#include <string>

#include "absl/strings/string_view.h"

namespace stylizer {

// The 32 lowercase hex digits of the trace id in `traceparent`
// ("00-<trace id>-<parent id>-<flags>"), or empty when the header is not a
// valid one (the spec says to ignore it then): a wrong length or separator,
// upper case, an all-zero id, or version ff. A later version may carry more
// fields after the flags.
std::string TraceIdFromTraceparent(absl::string_view traceparent);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVICE_TRACE_CONTEXT_H_
