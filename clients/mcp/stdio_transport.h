// The MCP stdio transport: newline-delimited JSON-RPC messages on a pair of
// file descriptors (the client spawns the server and talks over its stdin
// and stdout; logs go to stderr). One session; messages are handled in
// order.
#ifndef RESDB_TRACE_CLIENTS_MCP_STDIO_TRANSPORT_H_
#define RESDB_TRACE_CLIENTS_MCP_STDIO_TRANSPORT_H_

#include <cstddef>

#include "absl/status/status.h"
#include "clients/mcp/mcp_server.h"

namespace resdb_trace::collector::mcp {

// Reads messages from `in_fd` until end of file and writes each reply as one
// line to `out_fd`. Blank lines are skipped; a line that is not JSON is
// answered with a parse error, one longer than `max_line` bytes with an
// invalid-request error (and skipped to its end). OK at end of input;
// UNAVAILABLE when reading or writing fails (e.g. the client went away).
absl::Status ServeStdio(const McpServer& server, int in_fd, int out_fd,
                        size_t max_line = 4 << 20);

}  // namespace resdb_trace::collector::mcp

#endif  // RESDB_TRACE_CLIENTS_MCP_STDIO_TRANSPORT_H_
