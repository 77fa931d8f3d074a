// The tools resdb-trace mcp offers: a cluster's key-value store through a
// KvBackend (commit_key_value, get_key_value) and the collector's views of it
// (trace_request, trace_profile, list_slow_requests, view_changes,
// collector_stats). Every failure is an isError result whose text says what
// to do next. See docs/mcp.md.
#ifndef RESDB_TRACE_CLIENTS_MCP_RESDB_TOOLS_H_
#define RESDB_TRACE_CLIENTS_MCP_RESDB_TOOLS_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "clients/mcp/kv_backend.h"
#include "clients/mcp/mcp_server.h"
#include "lib/net/tls_credentials.h"

namespace resdb_trace::collector::mcp {

struct ResdbToolsOptions {
  // The collector's gRPC address, in the CLI's --listen forms.
  std::string collector = "unix:///run/resdb-trace/collector.sock";
  // Base of the web view's links: <web_url>/timeline/<seq>.
  std::string web_url = "http://127.0.0.1:8088";
  // The cluster the key-value tools write to (required).
  std::shared_ptr<KvBackend> kv;
  // TLS to the collector (the CLI's --tls-ca/--tls-cert/--tls-key); empty =
  // plaintext (Unix socket or loopback). Never a plaintext fallback: when
  // TLS is asked for and the files are unusable, registration fails.
  ClientTlsFiles tls;
  // Deadline of each collector call, on top of any sampling time.
  int rpc_timeout_s = 10;
};

// The instructions sent to clients in the initialize result.
std::string ResdbInstructions();

// Adds the seven tools to `server`. INVALID_ARGUMENT without a KvBackend or
// when `options.tls` names files that do not make TLS credentials.
absl::Status RegisterResdbTools(McpServer* server,
                                const ResdbToolsOptions& options);

// "unix:PATH", "unix:///PATH", "HOST:PORT" -> a gRPC target.
std::string GrpcTarget(const std::string& address);

}  // namespace resdb_trace::collector::mcp

#endif  // RESDB_TRACE_CLIENTS_MCP_RESDB_TOOLS_H_
