// A minimal blocking HTTP/1.0 GET over loopback TCP, for tests that scrape
// /metrics or query a Prometheus server without an HTTP client library.
#ifndef STYLIZER_SERVER_METRICS_TESTING_HTTP_GET_H_
#define STYLIZER_SERVER_METRICS_TESTING_HTTP_GET_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace stylizer::testing {

struct HttpResponse {
  int status = 0;    // e.g. 200
  std::string body;  // everything after the header block
};

// GETs http://127.0.0.1:<port><target> (target starts with '/'). Fails on
// connection errors or a malformed response; a non-2xx status is returned,
// not an error. Gives up after 10 s without data.
absl::StatusOr<HttpResponse> HttpGet(int port, absl::string_view target);

// Percent-encodes a query-string value.
std::string UrlEncode(absl::string_view text);

}  // namespace stylizer::testing

#endif  // STYLIZER_SERVER_METRICS_TESTING_HTTP_GET_H_
