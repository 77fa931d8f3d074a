// `resdb-trace mcp`: flag parsing and the serve loop of the MCP server, kept
// out of the CLI's main file (which only dispatches here).
#ifndef RESDB_TRACE_CLIENTS_MCP_MCP_COMMAND_H_
#define RESDB_TRACE_CLIENTS_MCP_MCP_COMMAND_H_

#include <string>

namespace resdb_trace::collector::mcp {

// The usage text of `resdb-trace mcp`.
extern const char kMcpUsage[];

// Runs `resdb-trace mcp` with argv[first..argc) as its flags; `collector` is
// the CLI's --listen (overridden by --collector). Returns the exit code: 0
// after end of input (stdio) or SIGINT/SIGTERM (HTTP), 2 for bad flags, 1
// when serving fails.
int RunMcpCommand(const std::string& collector, int argc, char** argv,
                  int first);

}  // namespace resdb_trace::collector::mcp

#endif  // RESDB_TRACE_CLIENTS_MCP_MCP_COMMAND_H_
