#include "clients/mcp/http_transport.h"

#include <sys/random.h>

#include <cstdint>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "lib/net/host_origin.h"

namespace resdb_trace::collector::mcp {
namespace {

constexpr char kSessionHeader[] = "Mcp-Session-Id";
constexpr char kVersionHeader[] = "MCP-Protocol-Version";

std::string RandomId() {
  uint8_t bytes[16];
  size_t got = 0;
  while (got < sizeof(bytes)) {
    const ssize_t n = getrandom(bytes + got, sizeof(bytes) - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
  }
  std::string out;
  for (uint8_t b : bytes) absl::StrAppendFormat(&out, "%02x", b);
  return out;
}

http::Response JsonResponse(int status, const Json& body) {
  http::Response r;
  r.status = status;
  r.content_type = "application/json";
  r.body = Dump(body);
  return r;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = absl::ascii_tolower(static_cast<unsigned char>(c));
  return out;
}

// 503 with Retry-After: a limit that frees itself (sessions end, the
// stream reads).
http::Response Busy(const std::string& message) {
  http::Response r = JsonRpcErrorResponse(503, kInternalError,
                                          "Service Unavailable: " + message);
  r.headers.emplace_back("Retry-After", "1");
  return r;
}

bool IsInitialize(const Json& m) {
  return m.is_object() && m.contains("method") && m["method"].is_string() &&
         m["method"].get<std::string>() == "initialize";
}

}  // namespace

http::Response JsonRpcErrorResponse(int http_status, int code,
                                    const std::string& message) {
  return JsonResponse(http_status, MakeError(nullptr, code, message));
}

bool IsLoopbackOrigin(std::string_view origin) {
  std::optional<http::Origin> o = http::ParseOrigin(origin);
  return o.has_value() && http::IsLoopbackHost(o->authority.host);
}

absl::Status HttpTransport::Register(http::HttpServer* http) {
  absl::Status s = http->Handle(
      "POST", "/mcp", [this](const http::Request& r) { return Post(r); });
  if (!s.ok()) return s;
  s = http->Handle("DELETE", "/mcp",
                   [this](const http::Request& r) { return Delete(r); });
  if (!s.ok() || !options_.legacy_sse) return s;
  s = http->HandleStream(
      "/sse",
      [this](const http::Request& r, http::StreamWriter& w) { Stream(r, w); });
  if (!s.ok()) return s;
  return http->Handle("POST", "/messages", [this](const http::Request& r) {
    return PostMessage(r);
  });
}

size_t HttpTransport::sessions() const {
  absl::MutexLock l(&mu_);
  return sessions_.size();
}

std::optional<http::Response> HttpTransport::Refuse(
    const http::Request& request, bool needs_json_body) const {
  if (auto origin = request.Header("origin");
      origin && !options_.allow_any_origin && !IsLoopbackOrigin(*origin)) {
    return JsonRpcErrorResponse(
        403, kInvalidRequest,
        absl::StrCat("Forbidden: Origin ", std::string(*origin),
                     " is not a loopback origin (web pages must not drive "
                     "this server)"));
  }
  if (auto v = request.Header(kVersionHeader);
      v && !IsSupportedProtocolVersion(*v)) {
    return JsonRpcErrorResponse(
        400, kInvalidRequest,
        absl::StrCat("Bad Request: unsupported MCP-Protocol-Version ",
                     std::string(*v)));
  }
  if (needs_json_body) {
    auto type = request.Header("content-type");
    if (!type || Lower(*type).rfind("application/json", 0) != 0) {
      return JsonRpcErrorResponse(
          415, kInvalidRequest,
          "Unsupported Media Type: send Content-Type: application/json");
    }
  }
  return std::nullopt;
}

std::shared_ptr<HttpTransport::Entry> HttpTransport::NewSession(
    bool legacy, const std::string& peer, std::string* id) {
  auto e = std::make_shared<Entry>();
  e->legacy = legacy;
  e->peer = peer;
  e->last_used = absl::Now();
  *id = RandomId();
  absl::MutexLock l(&mu_);
  const absl::Time now = absl::Now();
  size_t mine = 0;
  auto my_oldest = sessions_.end();
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    if (!it->second->legacy &&
        now - it->second->last_used > options_.session_idle_timeout) {
      it = sessions_.erase(it);
      continue;
    }
    if (it->second->peer == peer) {
      ++mine;
      // A legacy session ends with its stream.
      if (!it->second->legacy &&
          (my_oldest == sessions_.end() ||
           it->second->last_used < my_oldest->second->last_used)) {
        my_oldest = it;
      }
    }
    ++it;
  }
  if (mine >= options_.max_sessions_per_peer) {
    if (my_oldest == sessions_.end()) return nullptr;
    sessions_.erase(my_oldest);
  }
  if (sessions_.size() >= options_.max_sessions) return nullptr;
  sessions_[*id] = e;
  return e;
}

std::shared_ptr<HttpTransport::Entry> HttpTransport::Find(
    const std::string& id) {
  absl::MutexLock l(&mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return nullptr;
  it->second->last_used = absl::Now();
  return it->second;
}

void HttpTransport::End(const std::string& id) {
  absl::MutexLock l(&mu_);
  sessions_.erase(id);
}

http::Response HttpTransport::Post(const http::Request& request) {
  if (auto refused = Refuse(request, /*needs_json_body=*/true)) {
    return *refused;
  }
  if (auto accept = request.Header("accept");
      accept && Lower(*accept).find("application/json") == std::string::npos &&
      accept->find("*/*") == std::string_view::npos) {
    return JsonRpcErrorResponse(
        406, kInvalidRequest,
        "Not Acceptable: this server answers with application/json; accept "
        "it");
  }
  std::string why;
  const Json message = ParseJson(request.body, &why);
  if (message.is_discarded()) {
    return JsonResponse(400, McpServer::ParseErrorReply(why));
  }
  std::shared_ptr<Entry> entry;
  std::string id;
  const bool init =
      IsInitialize(message) ||
      (message.is_array() && message.size() == 1 && IsInitialize(message[0]));
  if (init) {
    entry = NewSession(/*legacy=*/false, request.peer, &id);
    if (entry == nullptr)
      return Busy("too many MCP sessions; end one (DELETE /mcp) and retry");
  } else {
    auto header = request.Header(kSessionHeader);
    if (!header) {
      return JsonRpcErrorResponse(
          400, kInvalidRequest,
          "Bad Request: no Mcp-Session-Id header; send initialize first and "
          "then the session id it returned");
    }
    id = std::string(*header);
    entry = Find(id);
    if (entry == nullptr || entry->legacy) {
      return JsonRpcErrorResponse(
          404, kInvalidRequest,
          "Session not found (ended or expired); send initialize again");
    }
  }
  Json reply = server_->Handle(message, &entry->session);
  if (init && !entry->session.initialized()) End(id);  // failed initialize
  http::Response r;
  if (reply.is_null()) {
    r.status = 202;
  } else {
    r = JsonResponse(200, reply);
  }
  if (init && entry->session.initialized()) {
    r.headers.emplace_back(kSessionHeader, id);
  }
  return r;
}

http::Response HttpTransport::Delete(const http::Request& request) {
  if (auto refused = Refuse(request, /*needs_json_body=*/false)) {
    return *refused;
  }
  auto header = request.Header(kSessionHeader);
  if (!header) {
    return JsonRpcErrorResponse(400, kInvalidRequest,
                                "Bad Request: no Mcp-Session-Id header");
  }
  std::shared_ptr<Entry> e = Find(std::string(*header));
  if (e == nullptr || e->legacy) {
    return JsonRpcErrorResponse(404, kInvalidRequest, "Session not found");
  }
  End(std::string(*header));
  return http::Response::Text(200, "session ended\n");
}

void HttpTransport::Stream(const http::Request& request,
                           http::StreamWriter& writer) {
  if (auto origin = request.Header("origin");
      origin && !options_.allow_any_origin && !IsLoopbackOrigin(*origin)) {
    // The head is already out; an error event and an end is all we can do.
    writer.Send("error", "Origin is not a loopback origin");
    return;
  }
  std::string id;
  std::shared_ptr<Entry> e = NewSession(/*legacy=*/true, request.peer, &id);
  if (e == nullptr) {
    writer.Send("error", "too many sessions; end one and retry");
    return;
  }
  if (!writer.Send("endpoint", "/messages?sessionId=" + id)) {
    End(id);
    return;
  }
  absl::Time last_write = absl::Now();
  while (true) {
    std::deque<std::string> out;
    {
      absl::MutexLock l(&e->mu);
      const absl::Time deadline = absl::Now() + absl::Milliseconds(50);
      while (e->outbox.empty() && !e->cv.WaitWithDeadline(&e->mu, deadline)) {
      }
      out.swap(e->outbox);
      e->outbox_bytes = 0;
    }
    bool ok = true;
    for (const std::string& m : out) ok = ok && writer.Send("message", m);
    if (!out.empty()) last_write = absl::Now();
    if (ok && absl::Now() - last_write > absl::Seconds(15)) {
      ok = writer.SendComment("keep-alive");
      last_write = absl::Now();
    }
    if (!ok || writer.WaitClosed(absl::ZeroDuration())) break;
  }
  End(id);
}

http::Response HttpTransport::PostMessage(const http::Request& request) {
  if (auto refused = Refuse(request, /*needs_json_body=*/true)) {
    return *refused;
  }
  auto sid = request.Query("sessionId");
  if (!sid) {
    return JsonRpcErrorResponse(
        400, kInvalidRequest,
        "Bad Request: no sessionId; open GET /sse first and POST to the "
        "endpoint it names");
  }
  std::shared_ptr<Entry> e = Find(std::string(*sid));
  if (e == nullptr || !e->legacy) {
    return JsonRpcErrorResponse(404, kInvalidRequest,
                                "Session not found; open GET /sse again");
  }
  {
    absl::MutexLock l(&e->mu);
    if (e->outbox_bytes >= options_.max_outbox_bytes) {
      return Busy(
          "the /sse stream has not read earlier replies; read them and "
          "retry");
    }
  }
  std::string why;
  const Json message = ParseJson(request.body, &why);
  Json reply = message.is_discarded() ? McpServer::ParseErrorReply(why)
                                      : server_->Handle(message, &e->session);
  if (!reply.is_null()) {
    std::string text = Dump(reply);
    absl::MutexLock l(&e->mu);
    if (e->outbox_bytes + text.size() > options_.max_outbox_bytes) {
      return Busy(
          "the /sse stream has not read earlier replies; read them and "
          "retry");
    }
    e->outbox_bytes += text.size();
    e->outbox.push_back(std::move(text));
    e->cv.SignalAll();
  }
  return http::Response::Text(202, "Accepted\n");
}

}  // namespace resdb_trace::collector::mcp
