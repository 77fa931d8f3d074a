// GET /metrics on an HttpServer: the registry in the Prometheus text
// exposition format 0.0.4 (HEAD too).
#ifndef RESDB_TRACE_COLLECTOR_METRICS_METRICS_ENDPOINT_H_
#define RESDB_TRACE_COLLECTOR_METRICS_METRICS_ENDPOINT_H_

#include <string>

#include "absl/status/status.h"
#include "collector/metrics/metrics.h"
#include "lib/net/http_server.h"

namespace resdb_trace::collector::metrics {

// Serves `registry` at GET `path` with Content-Type kExpositionContentType.
// `registry` must outlive `server`'s handlers (i.e. until server.Stop()).
// Fails as HttpServer::Handle does (e.g. ALREADY_EXISTS).
absl::Status RegisterMetricsEndpoint(http::HttpServer& server,
                                     const Registry& registry,
                                     std::string path = "/metrics");

}  // namespace resdb_trace::collector::metrics

#endif  // RESDB_TRACE_COLLECTOR_METRICS_METRICS_ENDPOINT_H_
