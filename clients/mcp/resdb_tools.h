// The tools resdb-trace mcp offers: the demo cluster's key-value store
// (commit_key_value, get_key_value) and the collector's views of it
// (trace_request, trace_profile, list_slow_requests, view_changes,
// collector_stats). Every failure is an isError result whose text says what
// to do next. See docs/mcp.md.
#ifndef RESDB_TRACE_CLIENTS_MCP_RESDB_TOOLS_H_
#define RESDB_TRACE_CLIENTS_MCP_RESDB_TOOLS_H_

#include <string>

#include "absl/status/status.h"
#include "clients/mcp/mcp_server.h"
#include "lib/net/tls_credentials.h"
#include "demo/kv_client.h"

namespace resdb_trace::collector::mcp {

struct ResdbToolsOptions {
  // The collector's gRPC address, in the CLI's --listen forms.
  std::string collector = "unix:///run/resdb-trace/collector.sock";
  // Base of the web view's links: <web_url>/timeline/<seq>.
  std::string web_url = "http://127.0.0.1:8088";
  // The demo cluster the key-value tools write to.
  demo::KvClientOptions cluster;
  // TLS to the collector (the CLI's --tls-ca/--tls-cert/--tls-key); empty =
  // plaintext (Unix socket or loopback).
  ClientTlsFiles tls;
  // Deadline of each collector call, on top of any sampling time.
  int rpc_timeout_s = 10;
};

// The instructions sent to clients in the initialize result.
std::string ResdbInstructions();

// Adds the seven tools to `server`.
absl::Status RegisterResdbTools(McpServer* server,
                                const ResdbToolsOptions& options);

// "unix:PATH", "unix:///PATH", "HOST:PORT" -> a gRPC target.
std::string GrpcTarget(const std::string& address);

}  // namespace resdb_trace::collector::mcp

#endif  // RESDB_TRACE_CLIENTS_MCP_RESDB_TOOLS_H_
