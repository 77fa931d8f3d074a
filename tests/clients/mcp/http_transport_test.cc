// clients/mcp's HTTP transports over real loopback TCP: Streamable HTTP
// sessions, status codes, Origin and protocol-version checks, and the legacy
// HTTP+SSE transport (endpoint event, replies as message events).
#include "clients/mcp/http_transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "lib/net/http_server.h"

namespace resdb_trace::collector::mcp {
namespace {

int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

void SendAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t w = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    ASSERT_GT(w, 0);
    off += static_cast<size_t>(w);
  }
}

struct Reply {
  int status = 0;
  std::string head, body;
  std::string Header(const std::string& name) const {
    std::string lower_head = head;
    for (char& c : lower_head) c = static_cast<char>(tolower(c));
    std::string key = "\r\n" + name + ": ";
    for (char& c : key) c = static_cast<char>(tolower(c));
    size_t p = lower_head.find(key);
    if (p == std::string::npos) return "";
    p += key.size();
    return head.substr(p, head.find("\r\n", p) - p);
  }
};

Reply Exchange(int port, const std::string& method, const std::string& target,
               const std::string& body,
               std::vector<std::pair<std::string, std::string>> headers = {},
               const std::string& content_type = "application/json") {
  int fd = Connect(port);
  EXPECT_GE(fd, 0);
  std::string req =
      absl::StrCat(method, " ", target, " HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  if (!content_type.empty()) {
    absl::StrAppend(&req, "Content-Type: ", content_type, "\r\n");
  }
  for (const auto& [k, v] : headers) absl::StrAppend(&req, k, ": ", v, "\r\n");
  absl::StrAppend(&req, "Content-Length: ", body.size(), "\r\n\r\n", body);
  SendAll(fd, req);
  std::string raw;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) raw.append(buf, n);
  close(fd);
  Reply r;
  size_t end = raw.find("\r\n\r\n");
  if (end == std::string::npos || raw.size() < 12) return r;
  r.head = raw.substr(0, end);
  r.body = raw.substr(end + 4);
  r.status = std::stoi(raw.substr(9, 3));
  return r;
}

Json Body(const Reply& r) {
  std::string why;
  Json j = ParseJson(r.body, &why);
  EXPECT_FALSE(j.is_discarded()) << r.body;
  return j;
}

const char kInit[] =
    R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":)"
    R"({"protocolVersion":"2025-06-18","capabilities":{},)"
    R"("clientInfo":{"name":"t","version":"1"}}})";
const char kList[] = R"({"jsonrpc":"2.0","id":2,"method":"tools/list"})";

class HttpTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Tool t;
    t.name = "echo";
    t.description = "echo";
    t.input_schema = {{"type", "object"}};
    t.handler = [](const Json&) { return ToolResult::Text("echoed"); };
    ASSERT_TRUE(server_.AddTool(t).ok());
    transport_ = std::make_unique<HttpTransport>(&server_, Options());
    auto http = http::HttpServer::Create(http::HttpServer::Options{});
    ASSERT_TRUE(http.ok()) << http.status();
    http_ = std::move(*http);
    ASSERT_TRUE(transport_->Register(http_.get()).ok());
    ASSERT_TRUE(http_->Start().ok());
    port_ = http_->port();
  }
  void TearDown() override { http_->Stop(); }
  virtual HttpTransportOptions Options() const { return {}; }

  std::string NewSession() {
    Reply r = Exchange(port_, "POST", "/mcp", kInit);
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(Body(r)["result"]["protocolVersion"], "2025-06-18");
    return r.Header("mcp-session-id");
  }

  McpServer server_{ServerInfo{}};
  std::unique_ptr<HttpTransport> transport_;
  std::unique_ptr<http::HttpServer> http_;
  int port_ = 0;
};

TEST_F(HttpTransportTest, SessionLifecycle) {
  const std::string id = NewSession();
  ASSERT_EQ(id.size(), 32u);
  EXPECT_EQ(transport_->sessions(), 1u);
  Reply r = Exchange(port_, "POST", "/mcp", kList, {{"Mcp-Session-Id", id}});
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.Header("content-type").find("application/json"),
            std::string::npos);
  EXPECT_EQ(Body(r)["result"]["tools"][0]["name"], "echo");
  // A notification is accepted with no body.
  r = Exchange(port_, "POST", "/mcp",
               R"({"jsonrpc":"2.0","method":"notifications/initialized"})",
               {{"Mcp-Session-Id", id}});
  EXPECT_EQ(r.status, 202);
  EXPECT_TRUE(r.body.empty());
  // The protocol-version header: supported passes, unknown is 400.
  r = Exchange(
      port_, "POST", "/mcp", kList,
      {{"Mcp-Session-Id", id}, {"MCP-Protocol-Version", "2025-06-18"}});
  EXPECT_EQ(r.status, 200);
  r = Exchange(
      port_, "POST", "/mcp", kList,
      {{"Mcp-Session-Id", id}, {"MCP-Protocol-Version", "2000-01-01"}});
  EXPECT_EQ(r.status, 400);
  // Ending it: DELETE, then 404 for its id.
  r = Exchange(port_, "DELETE", "/mcp", "", {{"Mcp-Session-Id", id}}, "");
  EXPECT_EQ(r.status, 200);
  r = Exchange(port_, "POST", "/mcp", kList, {{"Mcp-Session-Id", id}});
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(Body(r)["error"]["code"], kInvalidRequest);
  EXPECT_EQ(transport_->sessions(), 0u);
}

TEST_F(HttpTransportTest, RefusesWhatItShould) {
  // No session id outside initialize.
  Reply r = Exchange(port_, "POST", "/mcp", kList);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(
      Body(r)["error"]["message"].get<std::string>().find("Mcp-Session-Id"),
      std::string::npos);
  r = Exchange(port_, "POST", "/mcp", kList, {{"Mcp-Session-Id", "nope"}});
  EXPECT_EQ(r.status, 404);
  // No standalone SSE stream.
  r = Exchange(port_, "GET", "/mcp", "", {{"Accept", "text/event-stream"}}, "");
  EXPECT_EQ(r.status, 405);
  // Web pages from elsewhere (DNS rebinding) are refused; loopback is fine.
  r = Exchange(port_, "POST", "/mcp", kInit, {{"Origin", "http://evil.test"}});
  EXPECT_EQ(r.status, 403);
  r = Exchange(port_, "POST", "/mcp", kInit,
               {{"Origin", "http://localhost:5173"}});
  EXPECT_EQ(r.status, 200);
  // Wrong media types.
  r = Exchange(port_, "POST", "/mcp", kInit, {}, "text/plain");
  EXPECT_EQ(r.status, 415);
  r = Exchange(port_, "POST", "/mcp", kInit, {{"Accept", "text/html"}});
  EXPECT_EQ(r.status, 406);
  // Not JSON: a JSON-RPC parse error.
  r = Exchange(port_, "POST", "/mcp", "{nope");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Body(r)["error"]["code"], kParseError);
  // A failed initialize creates no session.
  r = Exchange(port_, "POST", "/mcp",
               R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{}})");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(Body(r)["error"]["code"], kInvalidParams);
  EXPECT_TRUE(r.Header("mcp-session-id").empty());
  EXPECT_EQ(transport_->sessions(), 1u);  // the localhost-origin one above
}

TEST_F(HttpTransportTest, LegacySse) {
  int fd = Connect(port_);
  ASSERT_GE(fd, 0);
  SendAll(fd, "GET /sse HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  std::string got;
  char buf[4096];
  auto read_until = [&](const std::string& marker) {
    while (got.find(marker) == std::string::npos) {
      ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) return false;
      got.append(buf, n);
    }
    return true;
  };
  ASSERT_TRUE(read_until("\n\n"));
  ASSERT_TRUE(read_until("sessionId="));
  ASSERT_TRUE(read_until("\n\n"));
  EXPECT_NE(got.find("text/event-stream"), std::string::npos);
  const size_t p = got.find("event: endpoint\ndata: /messages?sessionId=");
  ASSERT_NE(p, std::string::npos) << got;
  const std::string path =
      got.substr(p + 22, got.find('\n', p + 22) - (p + 22));
  Reply r = Exchange(port_, "POST", path, kInit);
  EXPECT_EQ(r.status, 202);
  ASSERT_TRUE(read_until("\"id\":1"));
  EXPECT_NE(got.find("event: message\ndata: {"), std::string::npos) << got;
  EXPECT_NE(got.find("\"protocolVersion\":\"2025-06-18\""), std::string::npos);
  r = Exchange(port_, "POST", path,
               R"({"jsonrpc":"2.0","id":2,"method":"tools/call",)"
               R"("params":{"name":"echo"}})");
  EXPECT_EQ(r.status, 202);
  ASSERT_TRUE(read_until("echoed"));
  // A Streamable HTTP request cannot use a legacy session id, and vice versa.
  const std::string id = path.substr(path.find('=') + 1);
  r = Exchange(port_, "POST", "/mcp", kList, {{"Mcp-Session-Id", id}});
  EXPECT_EQ(r.status, 404);
  r = Exchange(port_, "POST", "/messages?sessionId=unknown", kList);
  EXPECT_EQ(r.status, 404);
  r = Exchange(port_, "POST", "/messages", kList);
  EXPECT_EQ(r.status, 400);
  close(fd);
  // The stream's end ends the session.
  for (int i = 0; i < 100 && transport_->sessions() > 0; ++i) usleep(20000);
  EXPECT_EQ(transport_->sessions(), 0u);
}

// Issue 16: before any session, a deeply nested initialize overflowed the
// stack in nlohmann's recursive copy (params) and dump, killing the server.
TEST_F(HttpTransportTest, DeeplyNestedInitializeIsAParseError) {
  const size_t depth = 60000;  // within max_request_bytes (64 KiB)
  const std::string deep =
      R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"a":)" +
      std::string(depth / 2, '[') + std::string(depth / 2, ']') + "}}";
  Reply r = Exchange(port_, "POST", "/mcp", deep);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(Body(r)["error"]["code"], kParseError);
  EXPECT_FALSE(NewSession().empty());  // still serving
}

// Issue 16: a client opening session after session ends its own oldest
// ones, never another client's; a full table refuses instead of evicting.
class SmallTransportTest : public HttpTransportTest {
  HttpTransportOptions Options() const override {
    HttpTransportOptions o;
    o.max_sessions = 4;
    o.max_sessions_per_peer = 2;
    o.max_outbox_bytes = 256 << 10;
    return o;
  }
};

TEST_F(SmallTransportTest, ManyInitializesEndOnlyTheirOwnSessions) {
  const std::string first = NewSession();
  const std::string second = NewSession();
  for (int i = 0; i < 50; ++i) NewSession();
  EXPECT_EQ(transport_->sessions(), 2u);
  // Every session here comes from 127.0.0.1, so the first two are gone:
  // the flood ended its own (the same peer's) sessions, one at a time.
  EXPECT_EQ(Exchange(port_, "POST", "/mcp", kList, {{"Mcp-Session-Id", first}})
                .status,
            404);
}

TEST_F(SmallTransportTest, LegacyOutboxIsBounded) {
  int fd = Connect(port_);
  ASSERT_GE(fd, 0);
  // Open the stream and never read it past the endpoint event.
  SendAll(fd, "GET /sse HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  std::string got;
  char buf[4096];
  while (got.find("sessionId=") == std::string::npos ||
         got.find("\n\n", got.find("sessionId=")) == std::string::npos) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    ASSERT_GT(n, 0);
    got.append(buf, n);
  }
  const size_t p = got.find("/messages?sessionId=");
  const std::string path = got.substr(p, got.find('\n', p) - p);
  // The stream's thread drains the outbox into the socket until the
  // socket's buffers (a few MiB) are full; from then on replies wait in the
  // outbox, which must stop at its cap rather than grow without bound.
  const std::string big_ping =
      absl::StrCat(R"({"jsonrpc":"2.0","id":")", std::string(60000, 'x'),
                   R"(","method":"ping"})");
  int refused = 0;
  for (int i = 0; i < 2000 && refused == 0; ++i) {
    Reply r = Exchange(port_, "POST", path, big_ping);
    if (r.status == 503)
      ++refused;
    else
      ASSERT_EQ(r.status, 202) << r.body;
  }
  EXPECT_EQ(refused, 1);
  close(fd);
}

TEST(Origin, LoopbackOnly) {
  EXPECT_TRUE(IsLoopbackOrigin("http://localhost"));
  EXPECT_TRUE(IsLoopbackOrigin("http://LOCALHOST:3000"));
  EXPECT_TRUE(IsLoopbackOrigin("https://127.0.0.1:8443"));
  EXPECT_TRUE(IsLoopbackOrigin("http://[::1]:80"));
  EXPECT_FALSE(IsLoopbackOrigin("http://localhost.evil.test"));
  EXPECT_FALSE(IsLoopbackOrigin("http://127.0.0.1.evil.test"));
  EXPECT_FALSE(IsLoopbackOrigin("http://evil.test"));
  EXPECT_FALSE(IsLoopbackOrigin("null"));
  EXPECT_FALSE(IsLoopbackOrigin("file://"));
  EXPECT_FALSE(IsLoopbackOrigin("http://[::1"));
}

}  // namespace
}  // namespace resdb_trace::collector::mcp
