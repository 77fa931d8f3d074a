// MCP over HTTP on lib/net's server:
//
//   POST   /mcp       Streamable HTTP (protocol 2025-03-26 and later): one
//                     JSON-RPC message or batch per request, answered with
//                     application/json (202 and no body when nothing is
//                     owed). initialize creates a session whose id comes back
//                     in Mcp-Session-Id; later requests must carry it (400
//                     without, 404 for an unknown or ended one).
//   DELETE /mcp       ends the session named by Mcp-Session-Id.
//   GET    /mcp       405: the server never starts requests of its own, so it
//                     offers no standalone SSE stream (the spec's option).
//   GET    /sse       the 2024-11-05 HTTP+SSE transport: an SSE stream whose
//   POST   /messages  first event, "endpoint", names /messages?sessionId=ID;
//                     replies to what is POSTed there arrive on the stream as
//                     "message" events.
//
// A request with an Origin header that is not a loopback origin is refused
// (403), against DNS rebinding from web pages; an unsupported
// MCP-Protocol-Version header is 400.
#ifndef RESDB_TRACE_CLIENTS_MCP_HTTP_TRANSPORT_H_
#define RESDB_TRACE_CLIENTS_MCP_HTTP_TRANSPORT_H_

#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "clients/mcp/mcp_server.h"
#include "lib/net/http_message.h"
#include "lib/net/http_server.h"

namespace resdb_trace::collector::mcp {

struct HttpTransportOptions {
  // Serve /sse and /messages too.
  bool legacy_sse = true;
  // Live sessions. A new one beyond this is refused (503) unless an idle
  // one can be ended; one client cannot end another's sessions.
  size_t max_sessions = 256;
  // Live sessions of one peer (Request::peer: an IP address, or a uid on a
  // Unix socket); its own least recently used one is ended beyond this.
  size_t max_sessions_per_peer = 16;
  // Legacy SSE: bytes of replies waiting for the stream; a POST that would
  // exceed it is refused (503) until the client reads.
  size_t max_outbox_bytes = 4 << 20;
  // A session unused this long is ended (its id then gets 404).
  absl::Duration session_idle_timeout = absl::Hours(1);
  // Accept any Origin (for a deliberately exposed server behind a proxy).
  bool allow_any_origin = false;
};

class HttpTransport {
 public:
  // `server` must outlive this object, which must outlive the HttpServer's
  // Stop (handlers refer to it).
  HttpTransport(const McpServer* server, HttpTransportOptions options)
      : server_(server), options_(options) {}

  // Adds the routes above to `http`.
  absl::Status Register(http::HttpServer* http);

  size_t sessions() const;

 private:
  struct Entry {
    Session session;
    bool legacy = false;
    std::string peer;
    absl::Time last_used;  // guarded by HttpTransport::mu_ once registered
    // Legacy SSE: replies waiting for the stream's thread.
    absl::Mutex mu;
    absl::CondVar cv;
    std::deque<std::string> outbox ABSL_GUARDED_BY(mu);
    size_t outbox_bytes ABSL_GUARDED_BY(mu) = 0;
  };

  http::Response Post(const http::Request& request);
  http::Response Delete(const http::Request& request);
  void Stream(const http::Request& request, http::StreamWriter& writer);
  http::Response PostMessage(const http::Request& request);

  // Common checks (Origin, Content-Type); a response when they fail.
  std::optional<http::Response> Refuse(const http::Request& request,
                                       bool needs_json_body) const;
  // Null when every slot is taken by live sessions of other peers.
  std::shared_ptr<Entry> NewSession(bool legacy, const std::string& peer,
                                    std::string* id);
  std::shared_ptr<Entry> Find(const std::string& id);
  void End(const std::string& id);

  const McpServer* server_;
  const HttpTransportOptions options_;
  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<Entry>> sessions_ ABSL_GUARDED_BY(mu_);
};

// A JSON-RPC error as an HTTP response (id null), for transport failures.
http::Response JsonRpcErrorResponse(int http_status, int code,
                                    const std::string& message);

// True for an Origin of http(s)://localhost, *.localhost, 127.0.0.0/8 or
// [::1] (any port); see lib/net/host_origin.h.
bool IsLoopbackOrigin(std::string_view origin);

}  // namespace resdb_trace::collector::mcp

#endif  // RESDB_TRACE_CLIENTS_MCP_HTTP_TRANSPORT_H_
