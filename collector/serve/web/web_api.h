// The collector's web view (--http-listen): a single-page app whose assets
// are compiled into the binary, JSON endpoints that render resdb_trace.v1
// messages with protobuf's JSON mapping, and a Server-Sent Events stream of
// closed timelines, view changes and periodic stats. See docs/web.md.
//
// WebApi reads the same in-process objects the gRPC TraceService does,
// through a WebBackend (collector/serve/web/trace_service_backend.h builds one
// from a TraceService), so tests can drive it with canned data.
#ifndef RESDB_TRACE_COLLECTOR_SERVE_WEB_WEB_API_H_
#define RESDB_TRACE_COLLECTOR_SERVE_WEB_WEB_API_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "collector/timeline/timeline_runner.h"
#include "lib/net/host_origin.h"
#include "lib/net/http_server.h"
#include "resdb_trace/v1/profile.pb.h"
#include "resdb_trace/v1/service.pb.h"
#include "resdb_trace/v1/timeline.pb.h"

namespace resdb_trace::collector::web {

// What the web view reads. Every function may be null (the feature is off:
// its endpoints answer 503). Errors keep their absl code: InvalidArgument is
// answered 400, NotFound 404, FailedPrecondition and Unavailable 503.
struct WebBackend {
  std::function<absl::StatusOr<v1::Stats>()> stats;
  std::function<absl::StatusOr<v1::Timeline>(const v1::GetTimelineRequest&)>
      get_timeline;
  std::function<absl::StatusOr<v1::ListTimelinesResponse>(
      const v1::ListTimelinesRequest&)>
      list_timelines;
  std::function<absl::StatusOr<v1::ListViewChangesResponse>(
      const v1::ListViewChangesRequest&)>
      list_view_changes;
  std::function<absl::StatusOr<v1::Profile>(const v1::GetProfileRequest&)>
      get_profile;
  // Closed timelines, view changes and anomalies for /api/v1/stream; null
  // when the collector builds no timelines.
  UpdateHub* updates = nullptr;
};

struct WebOptions {
  // Host and Origin checks (always on): Host must name a loopback host
  // (localhost, 127.0.0.1, [::1]) or one of browser.allowed_hosts
  // (--http-allow-host), so a page on another site cannot reach the
  // collector by rebinding its DNS name to 127.0.0.1; an Origin must be the
  // web view's own, so another site's page cannot drive the API (e.g. start
  // profiles). Refused requests are 403.
  http::BrowserPolicy browser;
  // Most timelines one /api/v1/timelines page holds; a larger `limit` is
  // lowered to it (the response says so in X-Limit-Capped, and `more`
  // counts the rest).
  uint32_t max_page = 500;
  // Longest `seconds` a profile request may sample for (the request holds a
  // connection, and shutdown waits for it).
  uint32_t max_profile_seconds = 30;
  // Default and bounds of the stream's stats interval (stats_ms).
  uint32_t default_stats_ms = 1000;
  uint32_t min_stats_ms = 100;
  uint32_t max_stats_ms = 60'000;
  // Queue of each stream's timeline subscription, in updates.
  size_t stream_queue = 4096;
};

class WebApi {
 public:
  explicit WebApi(WebBackend backend, WebOptions options = {});

  // Every GET route but the stream: /api/v1/... (JSON), the pages (/,
  // /timeline/<seq>, /viewchanges, /profile) and /static/<asset>.
  http::Response Handle(const http::Request& request) const;
  // /api/v1/stream: nullopt when the stream may start, else the error
  // response (400 for a bad parameter, 503 without timelines).
  std::optional<http::Response> CheckStream(const http::Request& request) const;
  // Streams until the client leaves, the server stops or the update hub
  // closes. Call only after CheckStream said yes.
  void Stream(const http::Request& request, http::StreamWriter& writer) const;

  const WebOptions& options() const { return options_; }

 private:
  http::Response Api(const http::Request& request) const;
  http::Response Page(const http::Request& request) const;
  http::Response Stats(const http::Request& request) const;
  http::Response Timelines(const http::Request& request) const;
  http::Response OneTimeline(const http::Request& request,
                             std::string_view key) const;
  http::Response ViewChanges(const http::Request& request) const;
  http::Response Profile(const http::Request& request) const;

  WebBackend backend_;
  WebOptions options_;
};

// Routes GET / (pages, /static/, /api/) and the /api/v1/stream SSE stream
// of `api` on `server`.
absl::Status RegisterWebRoutes(http::HttpServer& server,
                               std::shared_ptr<const WebApi> api);

// A JSON error body: {"error":{"code":400,"status":"INVALID_ARGUMENT",
// "message":"..."}} with the HTTP status of `code`.
http::Response JsonError(int http_status, std::string_view message);
// The HTTP status an absl error code is answered with.
int HttpStatusOf(absl::StatusCode code);

}  // namespace resdb_trace::collector::web

#endif  // RESDB_TRACE_COLLECTOR_SERVE_WEB_WEB_API_H_
