// The JSON-RPC layer and the MCP core of clients/mcp: message
// classification, error replies, lifecycle and version negotiation, batches,
// tools/list and tools/call with argument checks, and the stdio framing over
// real pipes.
#include "clients/mcp/mcp_server.h"

#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "clients/mcp/json_rpc.h"
#include "clients/mcp/stdio_transport.h"
#include "gtest/gtest.h"

namespace resdb_trace::collector::mcp {
namespace {

Json Parse(const std::string& s) {
  std::string why;
  Json j = ParseJson(s, &why);
  EXPECT_FALSE(j.is_discarded()) << s << ": " << why;
  return j;
}

TEST(JsonRpc, ClassifiesMessages) {
  EXPECT_EQ(Classify(Parse(R"({"jsonrpc":"2.0","id":1,"method":"x"})")).kind,
            MessageKind::kRequest);
  EXPECT_EQ(Classify(Parse(R"({"jsonrpc":"2.0","id":"a","method":"x"})")).kind,
            MessageKind::kRequest);
  EXPECT_EQ(Classify(Parse(R"({"jsonrpc":"2.0","method":"x"})")).kind,
            MessageKind::kNotification);
  EXPECT_EQ(Classify(Parse(R"({"jsonrpc":"2.0","id":1,"result":{}})")).kind,
            MessageKind::kResponse);
  EXPECT_EQ(
      Classify(Parse(R"({"jsonrpc":"2.0","id":1,"error":{"code":1}})")).kind,
      MessageKind::kResponse);
  for (const char* bad : {
           R"([1])",
           R"("x")",
           R"({"id":1,"method":"x"})",
           R"({"jsonrpc":"1.0","id":1,"method":"x"})",
           R"({"jsonrpc":"2.0","id":null,"method":"x"})",
           R"({"jsonrpc":"2.0","id":1.5,"method":"x"})",
           R"({"jsonrpc":"2.0","id":{},"method":"x"})",
           R"({"jsonrpc":"2.0","id":1,"method":5})",
           R"({"jsonrpc":"2.0","id":1,"method":"x","params":3})",
           R"({"jsonrpc":"2.0","id":1})",
       }) {
    const Classified c = Classify(Parse(bad));
    EXPECT_EQ(c.kind, MessageKind::kInvalid) << bad;
    EXPECT_FALSE(c.error.empty()) << bad;
  }
}

TEST(JsonRpc, ParseRejectsTrailingGarbageAndReportsWhere) {
  std::string why;
  EXPECT_TRUE(ParseJson("{} x", &why).is_discarded());
  EXPECT_TRUE(ParseJson("{\"a\":", &why).is_discarded());
  EXPECT_NE(why.find("parse error"), std::string::npos) << why;
  EXPECT_FALSE(ParseJson("  {\"a\": [1, 2]}  ", &why).is_discarded());
}

TEST(JsonRpc, DumpIsOneLineAndSurvivesBadUtf8) {
  Json j = {{"text", std::string("a\nb\x01\xff", 5)}};
  const std::string s = Dump(j);
  EXPECT_EQ(s.find('\n'), std::string::npos) << s;
  EXPECT_NE(s.find("\\n"), std::string::npos) << s;
}

class ServerTest : public ::testing::Test {
 protected:
  ServerTest() : server_(ServerInfo{"t", "Test", "9", "do things"}) {
    Tool echo;
    echo.name = "echo";
    echo.description = "echoes";
    echo.input_schema = {
        {"type", "object"},
        {"properties",
         {{"text", {{"type", "string"}, {"maxLength", 5}}},
          {"n", {{"type", "integer"}, {"minimum", 1}, {"maximum", 10}}},
          {"mode", {{"type", "string"}, {"enum", {"a", "b"}}}}}},
        {"required", {"text"}},
        {"additionalProperties", false}};
    echo.handler = [](const Json& a) {
      ToolResult r;
      r.text = a["text"].get<std::string>();
      r.structured = {{"echo", r.text}};
      return r;
    };
    EXPECT_TRUE(server_.AddTool(echo).ok());
    Tool boom;
    boom.name = "boom";
    boom.description = "throws";
    boom.input_schema = {{"type", "object"}};
    boom.handler = [](const Json& a) -> ToolResult {
      return ToolResult::Text(a.at("missing").get<std::string>());
    };
    EXPECT_TRUE(server_.AddTool(boom).ok());
  }

  Json Send(const std::string& text) {
    return server_.Handle(Parse(text), &session_);
  }
  Json Init(const std::string& version) {
    return Send(
        R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":)"
        R"({"protocolVersion":")" +
        version +
        R"(","capabilities":{},"clientInfo":{"name":"c","version":"1"}}})");
  }
  Json Call(const std::string& args) {
    return Send(R"({"jsonrpc":"2.0","id":9,"method":"tools/call","params":)"
                R"({"name":"echo","arguments":)" +
                args + "}}");
  }

  McpServer server_;
  Session session_;
};

TEST_F(ServerTest, AddToolRejectsDuplicatesAndNonObjectSchemas) {
  Tool t;
  t.name = "echo";
  t.input_schema = {{"type", "object"}};
  t.handler = [](const Json&) { return ToolResult::Text(""); };
  EXPECT_FALSE(server_.AddTool(t).ok());
  t.name = "other";
  t.input_schema = {{"type", "string"}};
  EXPECT_FALSE(server_.AddTool(t).ok());
}

TEST_F(ServerTest, NegotiatesProtocolVersions) {
  for (const std::string& v : SupportedProtocolVersions()) {
    Json r = Init(v);
    EXPECT_EQ(r["result"]["protocolVersion"], v);
    EXPECT_EQ(session_.protocol_version(), v);
  }
  Json r = Init("1999-01-01");
  EXPECT_EQ(r["result"]["protocolVersion"], "2025-11-25");
  EXPECT_EQ(r["result"]["serverInfo"]["name"], "t");
  EXPECT_EQ(r["result"]["serverInfo"]["title"], "Test");
  EXPECT_EQ(r["result"]["serverInfo"]["version"], "9");
  EXPECT_EQ(r["result"]["instructions"], "do things");
  EXPECT_EQ(r["result"]["capabilities"]["tools"]["listChanged"], false);
  EXPECT_EQ(r["id"], 0);
  EXPECT_TRUE(IsSupportedProtocolVersion("2025-06-18"));
  EXPECT_TRUE(IsSupportedProtocolVersion("2025-03-26"));
  EXPECT_TRUE(IsSupportedProtocolVersion("2024-11-05"));
  EXPECT_FALSE(IsSupportedProtocolVersion("2024-10-07"));
}

TEST_F(ServerTest, InitializeNeedsAVersion) {
  Json r =
      Send(R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{}})");
  EXPECT_EQ(r["error"]["code"], kInvalidParams);
  r = Send(R"({"jsonrpc":"2.0","id":1,"method":"initialize",)"
           R"("params":{"protocolVersion":5}})");
  EXPECT_EQ(r["error"]["code"], kInvalidParams);
  EXPECT_FALSE(session_.initialized());
}

TEST_F(ServerTest, ToolsNeedInitializeButPingDoesNot) {
  EXPECT_EQ(Send(R"({"jsonrpc":"2.0","id":"p","method":"ping"})"),
            Parse(R"({"jsonrpc":"2.0","id":"p","result":{}})"));
  Json r = Send(R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})");
  EXPECT_EQ(r["error"]["code"], kInvalidRequest);
  EXPECT_NE(r["error"]["message"].get<std::string>().find("initialize"),
            std::string::npos);
  Init("2025-06-18");
  r = Send(R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})");
  ASSERT_EQ(r["result"]["tools"].size(), 2u);
  EXPECT_EQ(r["result"]["tools"][0]["name"], "echo");
  EXPECT_EQ(r["result"]["tools"][0]["inputSchema"]["required"][0], "text");
}

TEST_F(ServerTest, ErrorsCarryTheRequestId) {
  Init("2025-06-18");
  Json r = Send(R"({"jsonrpc":"2.0","id":"abc","method":"nope/nope"})");
  EXPECT_EQ(r["id"], "abc");
  EXPECT_EQ(r["error"]["code"], kMethodNotFound);
  r = Send(R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":[]})");
  EXPECT_EQ(r["error"]["code"], kInvalidParams);
  r = Send(R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{}})");
  EXPECT_EQ(r["error"]["code"], kInvalidParams);
  r = Send(R"({"jsonrpc":"2.0","id":7,"method":"tools/call",)"
           R"("params":{"name":"zzz"}})");
  EXPECT_EQ(r["error"]["code"], kInvalidParams);
  EXPECT_NE(r["error"]["message"].get<std::string>().find("echo, boom"),
            std::string::npos);
  r = Send(R"({"jsonrpc":"1.0","id":8,"method":"ping"})");
  EXPECT_EQ(r["id"], 8);
  EXPECT_EQ(r["error"]["code"], kInvalidRequest);
  r = Send(R"({"jsonrpc":"2.0","id":null,"method":"ping"})");
  EXPECT_TRUE(r["id"].is_null());
  EXPECT_EQ(r["error"]["code"], kInvalidRequest);
  EXPECT_EQ(McpServer::ParseErrorReply("x")["error"]["code"], kParseError);
}

TEST_F(ServerTest, NotificationsAndResponsesGetNoReply) {
  EXPECT_TRUE(Send(R"({"jsonrpc":"2.0","method":"notifications/initialized"})")
                  .is_null());
  EXPECT_TRUE(Send(R"({"jsonrpc":"2.0","method":"whatever"})").is_null());
  EXPECT_TRUE(Send(R"({"jsonrpc":"2.0","id":3,"result":{}})").is_null());
}

TEST_F(ServerTest, Batches) {
  Json r = Send(R"([{"jsonrpc":"2.0","id":1,"method":"ping"},)"
                R"({"jsonrpc":"2.0","method":"n"},)"
                R"({"jsonrpc":"2.0","id":2,"method":"x"}, 5])");
  ASSERT_TRUE(r.is_array());
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0]["id"], 1);
  EXPECT_EQ(r[1]["error"]["code"], kMethodNotFound);
  EXPECT_EQ(r[2]["error"]["code"], kInvalidRequest);
  EXPECT_TRUE(Send(R"([{"jsonrpc":"2.0","method":"n"}])").is_null());
  EXPECT_EQ(Send("[]")["error"]["code"], kInvalidRequest);
}

// Issue 16: nesting deep enough to overflow nlohmann's recursion is a parse
// error before any of it is built.
TEST(JsonRpc, DeepNestingIsAParseErrorNotACrash) {
  std::string why;
  const std::string ok =
      std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']');
  EXPECT_FALSE(ParseJson(ok, &why).is_discarded()) << why;
  for (size_t depth : {size_t{kMaxJsonDepth + 1}, size_t{1} << 20}) {
    const std::string deep = R"({"jsonrpc":"2.0","id":1,"method":)"
                             R"("initialize","params":)" +
                             std::string(depth, '[') + std::string(depth, ']') +
                             "}";
    why.clear();
    EXPECT_TRUE(ParseJson(deep, &why).is_discarded());
    EXPECT_NE(why.find("nest deeper than"), std::string::npos) << why;
  }
  // Brackets inside strings do not count.
  const std::string quoted = R"({"a":")" + std::string(1000, '[') + R"(\"]"})";
  EXPECT_FALSE(ParseJson(quoted, &why).is_discarded()) << why;
}

TEST_F(ServerTest, BatchesAreRefusedFrom20250618AndCappedBefore) {
  std::string batch = "[";
  for (size_t i = 0; i <= McpServer::kMaxBatch; ++i) {
    if (i > 0) batch += ",";
    batch += R"({"jsonrpc":"2.0","id":1,"method":"ping"})";
  }
  batch += "]";
  Json r = Send(batch);
  EXPECT_EQ(r["error"]["code"], kInvalidRequest) << r;
  EXPECT_NE(r["error"]["message"].get<std::string>().find("at most 32"),
            std::string::npos);
  Init("2025-03-26");
  EXPECT_TRUE(Send(R"([{"jsonrpc":"2.0","id":1,"method":"ping"}])").is_array());
  Init("2025-06-18");
  r = Send(R"([{"jsonrpc":"2.0","id":1,"method":"ping"}])");
  EXPECT_EQ(r["error"]["code"], kInvalidRequest) << r;
  EXPECT_NE(
      r["error"]["message"].get<std::string>().find("no JSON-RPC batches"),
      std::string::npos);
}

TEST_F(ServerTest, ToolCallResultsAndArgumentErrors) {
  Init("2025-06-18");
  Json r = Call(R"({"text":"hi","n":3,"mode":"a"})");
  EXPECT_EQ(r["result"]["isError"], false);
  EXPECT_EQ(r["result"]["content"][0]["type"], "text");
  EXPECT_EQ(r["result"]["content"][0]["text"], "hi");
  EXPECT_EQ(r["result"]["structuredContent"]["echo"], "hi");
  EXPECT_EQ(Call(R"({"text":"hi","n":3.0})")["result"]["isError"], false);

  struct Case {
    const char* args;
    const char* says;
  } cases[] = {
      {R"({})", "missing required argument 'text'"},
      {R"({"text":5})", "'text' must be a string (got 5)"},
      {R"({"text":"toolong"})", "'text' must have at most 5 characters"},
      {R"({"text":"a","n":0})", "'n' must be >= 1"},
      {R"({"text":"a","n":11})", "'n' must be <= 10"},
      {R"({"text":"a","n":2.5})", "'n' must be an integer"},
      {R"({"text":"a","mode":"c"})", "'mode' must be one of \"a\", \"b\""},
      {R"({"text":"a","extra":1})",
       "unknown argument 'extra'; this tool takes: mode, n, text"},
      {R"([1])", "arguments must be an object"},
  };
  for (const Case& c : cases) {
    r = Call(c.args);
    EXPECT_EQ(r["result"]["isError"], true) << c.args;
    const std::string text = r["result"]["content"][0]["text"];
    EXPECT_NE(text.find(c.says), std::string::npos) << c.args << ": " << text;
  }
  r = Send(R"({"jsonrpc":"2.0","id":1,"method":"tools/call",)"
           R"("params":{"name":"boom"}})");
  EXPECT_EQ(r["result"]["isError"], true);
  EXPECT_NE(r["result"]["content"][0]["text"].get<std::string>().find(
                "boom failed unexpectedly"),
            std::string::npos);
}

TEST_F(ServerTest, StructuredContentOnlyFromJune2025) {
  Init("2025-03-26");
  Json r = Call(R"({"text":"hi"})");
  EXPECT_FALSE(r["result"].contains("structuredContent"));
  Init("2025-11-25");
  r = Call(R"({"text":"hi"})");
  EXPECT_TRUE(r["result"].contains("structuredContent"));
}

// ServeStdio over pipes: what a client spawning the server sees.
std::vector<Json> RunStdio(const McpServer& server, const std::string& input,
                           size_t max_line = 4 << 20) {
  int in[2], out[2];
  EXPECT_EQ(pipe(in), 0);
  EXPECT_EQ(pipe(out), 0);
  std::thread writer([&] {
    size_t off = 0;
    while (off < input.size()) {
      ssize_t w = write(in[1], input.data() + off, input.size() - off);
      if (w <= 0) break;
      off += static_cast<size_t>(w);
    }
    close(in[1]);
  });
  std::string got;
  std::thread reader([&] {
    char buf[4096];
    ssize_t n;
    while ((n = read(out[0], buf, sizeof(buf))) > 0) got.append(buf, n);
  });
  EXPECT_TRUE(ServeStdio(server, in[0], out[1], max_line).ok());
  close(out[1]);
  writer.join();
  reader.join();
  close(in[0]);
  close(out[0]);
  std::vector<Json> replies;
  size_t start = 0;
  while (start < got.size()) {
    size_t nl = got.find('\n', start);
    EXPECT_NE(nl, std::string::npos) << "every reply ends with a newline";
    if (nl == std::string::npos) break;
    replies.push_back(Parse(got.substr(start, nl - start)));
    start = nl + 1;
  }
  return replies;
}

TEST_F(ServerTest, StdioFraming) {
  const std::string init =
      R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":)"
      R"({"protocolVersion":"2025-06-18"}})";
  std::vector<Json> r = RunStdio(
      server_, "\n  \n" + init + "\r\n" +
                   R"({"jsonrpc":"2.0","method":"notifications/initialized"})" +
                   "\nnot json\n" +
                   R"({"jsonrpc":"2.0","id":2,"method":"tools/list"})" + "\n" +
                   R"({"jsonrpc":"2.0","id":3,"method":"ping"})");
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[0]["result"]["protocolVersion"], "2025-06-18");
  EXPECT_EQ(r[1]["error"]["code"], kParseError);
  EXPECT_TRUE(r[1]["id"].is_null());
  EXPECT_EQ(r[2]["result"]["tools"].size(), 2u);
  EXPECT_EQ(r[3]["id"], 3);  // the last line needs no newline
}

TEST_F(ServerTest, StdioSkipsOverlongLines) {
  const std::string big(5000, 'x');
  std::vector<Json> r =
      RunStdio(server_,
               "{\"a\":\"" + big + "\"}\n" +
                   R"({"jsonrpc":"2.0","id":3,"method":"ping"})" + "\n",
               1024);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0]["error"]["code"], kInvalidRequest);
  EXPECT_EQ(r[1]["id"], 3);
}

TEST_F(ServerTest, StdioLargeMessagesInManyReads) {
  // A 200 KB message arrives in several reads and is still one message.
  const std::string text(200000, 'y');
  Init("2025-06-18");
  Tool big;
  big.name = "big";
  big.description = "takes a long argument";
  big.input_schema = {{"type", "object"}};
  big.handler = [](const Json& a) {
    return ToolResult::Text(std::to_string(a["s"].get<std::string>().size()));
  };
  ASSERT_TRUE(server_.AddTool(big).ok());
  std::vector<Json> r = RunStdio(
      server_,
      std::string(R"({"jsonrpc":"2.0","id":0,"method":"initialize",)") +
          R"("params":{"protocolVersion":"2025-06-18"}})" + "\n" +
          R"({"jsonrpc":"2.0","id":1,"method":"tools/call",)" +
          R"("params":{"name":"big","arguments":{"s":")" + text + "\"}}}\n");
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[1]["result"]["content"][0]["text"], "200000");
}

}  // namespace
}  // namespace resdb_trace::collector::mcp
