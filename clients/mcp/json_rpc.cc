#include "clients/mcp/json_rpc.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_format.h"

namespace resdb_trace::collector::mcp {
namespace {

bool ValidId(const Json& id) {
  return id.is_string() || id.is_number_integer() || id.is_number_unsigned();
}

// The deepest array/object nesting of `text`, brackets inside strings
// excluded; stops counting past `limit`. Malformed text is the parser's
// business: this only has to be right for text that parses.
int NestingDepth(std::string_view text, int limit) {
  int depth = 0;
  int deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) return deepest;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

}  // namespace

Classified Classify(const Json& m) {
  Classified c;
  if (!m.is_object()) {
    c.error = "a JSON-RPC message must be a JSON object";
    return c;
  }
  auto v = m.find("jsonrpc");
  if (v == m.end() || !v->is_string() || v->get<std::string>() != "2.0") {
    c.error = "\"jsonrpc\" must be \"2.0\"";
    return c;
  }
  const bool has_id = m.contains("id");
  if (auto method = m.find("method"); method != m.end()) {
    if (!method->is_string()) {
      c.error = "\"method\" must be a string";
      return c;
    }
    if (auto p = m.find("params");
        p != m.end() && !p->is_object() && !p->is_array()) {
      c.error = "\"params\" must be an object or an array";
      return c;
    }
    if (!has_id) {
      c.kind = MessageKind::kNotification;
      return c;
    }
    if (!ValidId(m["id"])) {
      c.error = "\"id\" must be a string or an integer (null is not allowed)";
      return c;
    }
    c.kind = MessageKind::kRequest;
    return c;
  }
  if (has_id && (m.contains("result") || m.contains("error"))) {
    c.kind = MessageKind::kResponse;
    return c;
  }
  c.error = "a request needs \"method\" (a string)";
  return c;
}

Json ParseJson(std::string_view text, std::string* error) {
  if (NestingDepth(text, kMaxJsonDepth) > kMaxJsonDepth) {
    *error = absl::StrFormat("arrays and objects nest deeper than %d levels",
                             kMaxJsonDepth);
    return Json(Json::value_t::discarded);
  }
  Json out = Json::parse(text.begin(), text.end(), nullptr,
                         /*allow_exceptions=*/false);
  if (out.is_discarded()) {
    // Parse again with exceptions for the position and reason.
    try {
      Json again = Json::parse(text.begin(), text.end());
      (void)again;
      *error = "not JSON";
    } catch (const Json::parse_error& e) {
      *error = e.what();
    }
  }
  return out;
}

Json MakeResult(const Json& id, Json result) {
  return Json{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}};
}

Json MakeError(const Json& id, int code, std::string_view message) {
  return Json{{"jsonrpc", "2.0"},
              {"id", id},
              {"error", {{"code", code}, {"message", std::string(message)}}}};
}

Json IdOf(const Json& m) {
  if (!m.is_object()) return nullptr;
  auto id = m.find("id");
  if (id == m.end() || !ValidId(*id)) return nullptr;
  return *id;
}

std::string Dump(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace resdb_trace::collector::mcp
