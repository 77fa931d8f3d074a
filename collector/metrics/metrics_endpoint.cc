#include "collector/metrics/metrics_endpoint.h"

#include <utility>

namespace resdb_trace::collector::metrics {

absl::Status RegisterMetricsEndpoint(http::HttpServer& server,
                                     const Registry& registry,
                                     std::string path) {
  return server.Handle("GET", std::move(path),
                       [&registry](const http::Request&) {
                         http::Response r;
                         r.content_type = kExpositionContentType;
                         r.headers.emplace_back("Cache-Control", "no-store");
                         r.body = registry.Render();
                         return r;
                       });
}

}  // namespace resdb_trace::collector::metrics
