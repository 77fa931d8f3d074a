#include "clients/mcp/mcp_server.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace resdb_trace::collector::mcp {
namespace {

// Structured tool output (structuredContent) arrived in this revision, and
// JSON-RPC batches left.
constexpr char kStructuredSince[] = "2025-06-18";
constexpr char kNoBatchesSince[] = "2025-06-18";

std::string Describe(const Json& v) {
  std::string s = Dump(v);
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

bool HasType(const Json& v, const std::string& type) {
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "string") return v.is_string();
  if (type == "boolean") return v.is_boolean();
  if (type == "number") return v.is_number();
  if (type == "integer") {
    if (v.is_number_integer()) return true;
    // 5.0 is an integer in JSON Schema.
    if (!v.is_number_float()) return false;
    const double x = v.get<double>();
    return std::isfinite(x) && std::floor(x) == x && std::fabs(x) < 9e18;
  }
  if (type == "null") return v.is_null();
  return false;
}

absl::Status Check(const Json& schema, const Json& v, const std::string& path) {
  if (!schema.is_object()) return absl::OkStatus();
  const std::string where = path.empty() ? "arguments" : "'" + path + "'";
  if (auto t = schema.find("type"); t != schema.end() && t->is_string()) {
    if (!HasType(v, t->get<std::string>())) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s must be %s %s (got %s)", where,
                          t->get<std::string>() == "integer" ||
                                  t->get<std::string>() == "object" ||
                                  t->get<std::string>() == "array"
                              ? "an"
                              : "a",
                          t->get<std::string>(), Describe(v)));
    }
  }
  if (auto e = schema.find("enum"); e != schema.end() && e->is_array()) {
    if (std::find(e->begin(), e->end(), v) == e->end()) {
      std::vector<std::string> opts;
      for (const Json& o : *e) opts.push_back(Dump(o));
      return absl::InvalidArgumentError(
          absl::StrFormat("%s must be one of %s (got %s)", where,
                          absl::StrJoin(opts, ", "), Describe(v)));
    }
  }
  if (v.is_number()) {
    const double x = v.get<double>();
    if (auto m = schema.find("minimum");
        m != schema.end() && m->is_number() && x < m->get<double>()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s must be >= %s (got %s)", where, Dump(*m), Describe(v)));
    }
    if (auto m = schema.find("maximum");
        m != schema.end() && m->is_number() && x > m->get<double>()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s must be <= %s (got %s)", where, Dump(*m), Describe(v)));
    }
  }
  if (v.is_string()) {
    // Length in bytes; the limits here are about sizes, not characters.
    const size_t n = v.get_ref<const std::string&>().size();
    if (auto m = schema.find("minLength");
        m != schema.end() && m->is_number_integer() && m->get<int64_t>() >= 0 &&
        n < m->get<size_t>()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s must have at least %d characters", where, m->get<size_t>()));
    }
    if (auto m = schema.find("maxLength");
        m != schema.end() && m->is_number_integer() && m->get<int64_t>() >= 0 &&
        n > m->get<size_t>()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s must have at most %d characters (got %d)", where,
                          m->get<size_t>(), n));
    }
  }
  if (v.is_array()) {
    if (auto items = schema.find("items"); items != schema.end()) {
      for (size_t i = 0; i < v.size(); ++i) {
        absl::Status s = Check(*items, v[i], absl::StrCat(path, "[", i, "]"));
        if (!s.ok()) return s;
      }
    }
  }
  if (v.is_object()) {
    const auto props = schema.find("properties");
    if (auto req = schema.find("required"); req != schema.end()) {
      for (const Json& name : *req) {
        if (name.is_string() && !v.contains(name.get<std::string>())) {
          return absl::InvalidArgumentError(absl::StrFormat(
              "missing required argument '%s'", name.get<std::string>()));
        }
      }
    }
    const auto extra = schema.find("additionalProperties");
    const bool closed =
        extra != schema.end() && extra->is_boolean() && !extra->get<bool>();
    for (auto it = v.begin(); it != v.end(); ++it) {
      const std::string sub =
          path.empty() ? it.key() : absl::StrCat(path, ".", it.key());
      if (props != schema.end() && props->contains(it.key())) {
        absl::Status s = Check((*props)[it.key()], it.value(), sub);
        if (!s.ok()) return s;
      } else if (closed) {
        std::vector<std::string> known;
        if (props != schema.end()) {
          for (auto p = props->begin(); p != props->end(); ++p) {
            known.push_back(p.key());
          }
        }
        return absl::InvalidArgumentError(absl::StrFormat(
            "unknown argument '%s'; this tool takes: %s", sub,
            known.empty() ? "no arguments" : absl::StrJoin(known, ", ")));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

const std::vector<std::string>& SupportedProtocolVersions() {
  static const auto* versions = new std::vector<std::string>{
      "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"};
  return *versions;
}

bool IsSupportedProtocolVersion(std::string_view version) {
  const auto& v = SupportedProtocolVersions();
  return std::find(v.begin(), v.end(), version) != v.end();
}

absl::Status CheckArguments(const Json& schema, const Json& args) {
  return Check(schema, args, "");
}

std::string Session::protocol_version() const {
  absl::MutexLock l(&mu_);
  return protocol_version_;
}

bool Session::initialized() const { return !protocol_version().empty(); }

absl::Status McpServer::AddTool(Tool tool) {
  if (tool.name.empty() || !tool.handler) {
    return absl::InvalidArgumentError("tool needs a name and a handler");
  }
  for (const Tool& t : tools_) {
    if (t.name == tool.name) {
      return absl::InvalidArgumentError("duplicate tool " + tool.name);
    }
  }
  if (!tool.input_schema.is_object() ||
      tool.input_schema.value("type", "") != "object") {
    return absl::InvalidArgumentError("tool " + tool.name +
                                      ": input_schema must be of type object");
  }
  tools_.push_back(std::move(tool));
  return absl::OkStatus();
}

Json McpServer::ParseErrorReply(std::string_view why) {
  return MakeError(nullptr, kParseError,
                   absl::StrCat("Parse error: ", std::string(why)));
}

Json McpServer::Handle(const Json& message, Session* session) const {
  if (!message.is_array()) return HandleOne(message, session);
  if (message.empty()) {
    return MakeError(nullptr, kInvalidRequest, "Invalid Request: empty batch");
  }
  if (const std::string v = session->protocol_version();
      !v.empty() && v >= kNoBatchesSince) {
    return MakeError(
        nullptr, kInvalidRequest,
        absl::StrFormat("Invalid Request: protocol %s has no JSON-RPC "
                        "batches; send one message per request",
                        v));
  }
  if (message.size() > kMaxBatch) {
    return MakeError(nullptr, kInvalidRequest,
                     absl::StrFormat("Invalid Request: a batch of %d "
                                     "messages; at most %d are accepted",
                                     message.size(), kMaxBatch));
  }
  Json out = Json::array();
  for (const Json& m : message) {
    Json r = HandleOne(m, session);
    if (!r.is_null()) out.push_back(std::move(r));
  }
  return out.empty() ? Json(nullptr) : out;
}

Json McpServer::HandleOne(const Json& m, Session* session) const {
  const Classified c = Classify(m);
  switch (c.kind) {
    case MessageKind::kInvalid:
      return MakeError(IdOf(m), kInvalidRequest,
                       absl::StrCat("Invalid Request: ", c.error));
    case MessageKind::kResponse:
    case MessageKind::kNotification:
      // notifications/initialized, notifications/cancelled, ...: nothing to
      // answer (requests run to completion; none is cancellable yet).
      return nullptr;
    case MessageKind::kRequest:
      break;
  }
  const Json& id = m["id"];
  const std::string method = m["method"].get<std::string>();
  const Json params = m.value("params", Json::object());
  if (method == "ping") return MakeResult(id, Json::object());
  if (method == "initialize") return Initialize(id, params, session);
  const bool tools_method = method == "tools/list" || method == "tools/call";
  if (!tools_method) {
    return MakeError(
        id, kMethodNotFound,
        absl::StrFormat("Method not found: '%s' (this server implements "
                        "initialize, ping, tools/list, tools/call)",
                        method));
  }
  const std::string version = session->protocol_version();
  if (version.empty()) {
    return MakeError(id, kInvalidRequest,
                     absl::StrFormat("Invalid Request: '%s' before "
                                     "initialize; send initialize first",
                                     method));
  }
  if (!params.is_object()) {
    return MakeError(id, kInvalidParams,
                     "Invalid params: \"params\" must be an object");
  }
  if (method == "tools/list") return MakeResult(id, ListTools());
  return CallTool(id, params, version);
}

Json McpServer::Initialize(const Json& id, const Json& params,
                           Session* session) const {
  if (!params.is_object()) {
    return MakeError(id, kInvalidParams,
                     "Invalid params: \"params\" must be an object");
  }
  auto requested = params.find("protocolVersion");
  if (requested == params.end() || !requested->is_string()) {
    return MakeError(id, kInvalidParams,
                     absl::StrFormat("Invalid params: initialize needs "
                                     "\"protocolVersion\" (a string, e.g. "
                                     "\"%s\")",
                                     SupportedProtocolVersions().front()));
  }
  const std::string want = requested->get<std::string>();
  const std::string chosen = IsSupportedProtocolVersion(want)
                                 ? want
                                 : SupportedProtocolVersions().front();
  {
    absl::MutexLock l(&session->mu_);
    session->protocol_version_ = chosen;
  }
  Json server_info = {{"name", info_.name}, {"version", info_.version}};
  if (!info_.title.empty()) server_info["title"] = info_.title;
  Json result = {
      {"protocolVersion", chosen},
      {"capabilities", {{"tools", {{"listChanged", false}}}}},
      {"serverInfo", server_info},
  };
  if (!info_.instructions.empty()) result["instructions"] = info_.instructions;
  return MakeResult(id, std::move(result));
}

Json McpServer::ListTools() const {
  Json list = Json::array();
  for (const Tool& t : tools_) {
    Json j = {{"name", t.name},
              {"description", t.description},
              {"inputSchema", t.input_schema}};
    if (!t.title.empty()) j["title"] = t.title;
    if (!t.annotations.is_null()) j["annotations"] = t.annotations;
    list.push_back(std::move(j));
  }
  return Json{{"tools", std::move(list)}};
}

Json McpServer::CallTool(const Json& id, const Json& params,
                         const std::string& version) const {
  auto name = params.find("name");
  if (name == params.end() || !name->is_string()) {
    return MakeError(id, kInvalidParams,
                     "Invalid params: tools/call needs \"name\" (a string)");
  }
  const Tool* tool = nullptr;
  std::vector<std::string> names;
  for (const Tool& t : tools_) {
    names.push_back(t.name);
    if (t.name == name->get<std::string>()) tool = &t;
  }
  if (tool == nullptr) {
    return MakeError(
        id, kInvalidParams,
        absl::StrFormat("Unknown tool: '%s'; available tools: %s",
                        name->get<std::string>(), absl::StrJoin(names, ", ")));
  }
  Json args = params.value("arguments", Json::object());
  if (args.is_null()) args = Json::object();
  ToolResult r;
  // Bad arguments are a tool error, not a protocol error: the model reads
  // the message and can correct the call (the 2025-11-25 guidance).
  if (absl::Status s = CheckArguments(tool->input_schema, args); !s.ok()) {
    r = ToolResult::Error(
        absl::StrCat("invalid arguments for ", tool->name, ": ", s.message()));
  } else {
    try {
      r = tool->handler(args);
    } catch (const std::exception& e) {
      r = ToolResult::Error(
          absl::StrCat(tool->name, " failed unexpectedly: ", e.what()));
    }
  }
  Json result = {
      {"content", Json::array({{{"type", "text"}, {"text", r.text}}})},
      {"isError", r.is_error}};
  if (!r.structured.is_null() && r.structured.is_object() &&
      version >= kStructuredSince) {
    result["structuredContent"] = std::move(r.structured);
  }
  return MakeResult(id, std::move(result));
}

}  // namespace resdb_trace::collector::mcp
