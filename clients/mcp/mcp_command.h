// `resdb-trace mcp`: flag parsing and the serve loop of the MCP server, kept
// out of the CLI's main file (which only dispatches here).
#ifndef RESDB_TRACE_CLIENTS_MCP_MCP_COMMAND_H_
#define RESDB_TRACE_CLIENTS_MCP_MCP_COMMAND_H_

#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "clients/mcp/resdb_tools.h"
#include "lib/net/tls_credentials.h"

namespace resdb_trace::collector::mcp {

// The usage text of `resdb-trace mcp`.
extern const char kMcpUsage[];

// The flags of `resdb-trace mcp`, as parsed.
struct McpFlags {
  bool stdio = false;
  bool sse = true;
  bool insecure = false;
  std::vector<std::string> allow_hosts;  // --http-allow-host
  std::string http;       // --http ADDR (empty: the default address)
  std::string collector;  // --collector ADDR (empty: the CLI's --listen)
  std::string kv_backend = "demo";  // --kv-backend NAME
  std::string cluster;     // --cluster SPEC (empty: the backend's default)
  uint32_t client_id = 0;  // 0: 1000 + pid
  int kv_timeout_ms = 0;   // 0: the key-value client's default
  std::string web_url;     // empty: the tools' default
  const CLI::Option* http_option = nullptr;  // whether --http was given
};

// Adds the `mcp` subcommand and its flags to the CLI's `app`, filling
// `flags` when parsed; returns the subcommand.
CLI::App* AddMcpCommand(CLI::App* app, McpFlags* flags);

// Runs `resdb-trace mcp`; `collector` is the CLI's --listen (overridden by
// --collector) and `tls` its --tls-* files. Returns the exit code: 0 after
// end of input (stdio) or SIGINT/SIGTERM (HTTP), 2 for bad flags, 1 when
// serving fails.
int RunMcpCommand(const std::string& collector, const ClientTlsFiles& tls,
                  const McpFlags& flags);

}  // namespace resdb_trace::collector::mcp

#endif  // RESDB_TRACE_CLIENTS_MCP_MCP_COMMAND_H_
