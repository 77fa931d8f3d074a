// The transport-independent core of an MCP server: the lifecycle
// (initialize with protocol-version negotiation, initialized, ping), tools
// (tools/list with JSON Schemas, tools/call with argument checks) and the
// JSON-RPC error replies. Transports hand it parsed messages with the
// Session they belong to and send back what it returns.
#ifndef RESDB_TRACE_CLIENTS_MCP_MCP_SERVER_H_
#define RESDB_TRACE_CLIENTS_MCP_MCP_SERVER_H_

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "clients/mcp/json_rpc.h"

namespace resdb_trace::collector::mcp {

// Protocol revisions this server speaks, newest first. An initialize asking
// for one of them gets it; any other gets the newest (the client then
// decides whether to go on).
const std::vector<std::string>& SupportedProtocolVersions();
// "2025-11-25" etc.; true when `version` is in SupportedProtocolVersions().
bool IsSupportedProtocolVersion(std::string_view version);

// What a tool returns: text for the model, optionally structured data (sent
// as structuredContent to clients of 2025-06-18 and later), and whether it is
// an error the model should see and act on (isError: true).
struct ToolResult {
  std::string text;
  Json structured;  // null: none
  bool is_error = false;

  static ToolResult Text(std::string text) {
    return ToolResult{std::move(text), nullptr, false};
  }
  static ToolResult Error(std::string text) {
    return ToolResult{std::move(text), nullptr, true};
  }
};

struct Tool {
  std::string name;         // unique; [a-z_]
  std::string title;        // for people
  std::string description;  // for the model: what, when, what it returns
  // JSON Schema of the arguments object. Checked before `handler` runs, for
  // the keywords CheckArguments supports.
  Json input_schema;
  // MCP tool annotations (readOnlyHint, idempotentHint, ...); may be null.
  Json annotations;
  // Runs on the transport's thread; must be thread-safe (HTTP calls tools
  // concurrently). Exceptions become isError results.
  std::function<ToolResult(const Json& arguments)> handler;
};

// Checks `args` against `schema`, for this subset of JSON Schema: type
// (object, string, integer, number, boolean, array), properties, required,
// additionalProperties: false, minimum, maximum, minLength, maxLength, enum,
// items. INVALID_ARGUMENT with a message naming the argument and the rule.
absl::Status CheckArguments(const Json& schema, const Json& args);

// Per-connection protocol state (one for stdio, one per Mcp-Session-Id).
class Session {
 public:
  // The negotiated protocol version; empty before initialize.
  std::string protocol_version() const;
  bool initialized() const;  // initialize answered

 private:
  friend class McpServer;
  mutable absl::Mutex mu_;
  std::string protocol_version_ ABSL_GUARDED_BY(mu_);
};

struct ServerInfo {
  std::string name = "resdb-trace";
  std::string title;
  std::string version;
  std::string instructions;  // sent in the initialize result when non-empty
};

class McpServer {
 public:
  // Most messages in one JSON-RPC batch.
  static constexpr size_t kMaxBatch = 32;

  explicit McpServer(ServerInfo info) : info_(std::move(info)) {}

  // Registers a tool; call before serving. INVALID_ARGUMENT for an empty or
  // duplicate name or a schema that is not an object schema.
  absl::Status AddTool(Tool tool);
  const std::vector<Tool>& tools() const { return tools_; }

  // Handles one message or a batch (a JSON array). Returns what to send
  // back: a response, an array of responses, or null when nothing is owed
  // (only notifications and responses). A batch is refused (Invalid
  // Request) once the session has negotiated 2025-06-18 or later, which
  // removed batches, and when it holds more than kMaxBatch messages.
  // Thread-safe.
  Json Handle(const Json& message, Session* session) const;

  // The reply to text that is not JSON (parse error, id null).
  static Json ParseErrorReply(std::string_view why);

 private:
  Json HandleOne(const Json& message, Session* session) const;
  Json Initialize(const Json& id, const Json& params, Session* session) const;
  Json ListTools() const;
  Json CallTool(const Json& id, const Json& params,
                const std::string& version) const;

  const ServerInfo info_;
  std::vector<Tool> tools_;
};

}  // namespace resdb_trace::collector::mcp

#endif  // RESDB_TRACE_CLIENTS_MCP_MCP_SERVER_H_
