// JSON-RPC 2.0 messages as the Model Context Protocol uses them: parsing one
// message (or a batch) from text, classifying it, and building responses.
// Pure functions, no I/O: the transports (stdio, HTTP) frame the text.
#ifndef RESDB_TRACE_CLIENTS_MCP_JSON_RPC_H_
#define RESDB_TRACE_CLIENTS_MCP_JSON_RPC_H_

#include <string>
#include <string_view>

#include "nlohmann/json.hpp"

namespace resdb_trace::collector::mcp {

using Json = nlohmann::json;

// The error codes JSON-RPC 2.0 reserves (section 5.1).
enum ErrorCode : int {
  kParseError = -32700,      // the text is not JSON
  kInvalidRequest = -32600,  // JSON, but not a valid request object
  kMethodNotFound = -32601,  // no such method
  kInvalidParams = -32602,   // the method's params are wrong
  kInternalError = -32603,   // the server failed
};

enum class MessageKind {
  kRequest,       // method and id: needs a response
  kNotification,  // method, no id: never answered
  kResponse,      // result or error with an id (a reply to a server request)
  kInvalid,       // none of these; `error` says why
};

struct Classified {
  MessageKind kind = MessageKind::kInvalid;
  std::string error;  // kInvalid: what is wrong, one line
};

// Classifies one message (an element of a batch, or the whole body). A
// request id must be a string or an integer (MCP forbids null); params, when
// present, must be an object or an array.
Classified Classify(const Json& message);

// Deepest nesting of arrays and objects ParseJson accepts. nlohmann's
// parser, copies, comparisons and dump recurse once per level, so deeper
// input would overflow the stack; no MCP message comes near this.
inline constexpr int kMaxJsonDepth = 64;

// Parses text without throwing. Sets *error and returns a discarded value
// (Json::is_discarded()) when the text is not JSON or nests arrays and
// objects deeper than kMaxJsonDepth (checked by a scan before parsing); the
// text must be one value, with nothing but whitespace after it.
Json ParseJson(std::string_view text, std::string* error);

// {"jsonrpc":"2.0","id":id,"result":result}
Json MakeResult(const Json& id, Json result);
// {"jsonrpc":"2.0","id":id,"error":{"code":code,"message":message}}; the id
// is null when the request's id could not be read.
Json MakeError(const Json& id, int code, std::string_view message);

// The request's id when it has a usable one, else null (for error replies).
Json IdOf(const Json& message);

// Serialises compactly on one line (newline-delimited transports rely on
// it: JSON escapes every control character inside strings). Invalid UTF-8
// in strings is replaced by U+FFFD rather than throwing.
std::string Dump(const Json& value);

}  // namespace resdb_trace::collector::mcp

#endif  // RESDB_TRACE_CLIENTS_MCP_JSON_RPC_H_
