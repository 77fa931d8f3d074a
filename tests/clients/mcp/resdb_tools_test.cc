// The MCP key-value tools over the KvBackend interface (a fake backend, no
// cluster), the backend registry, and TLS that never falls back to
// plaintext.
#include "clients/mcp/resdb_tools.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "clients/mcp/kv_backend.h"
#include "clients/mcp/mcp_server.h"
#include "gtest/gtest.h"

namespace resdb_trace::collector::mcp {
namespace {

// Remembers what was set; Get answers from it.
class FakeKv final : public KvBackend {
 public:
  std::string name() const override { return "fake"; }
  std::string description() const override { return "a map in memory"; }

  absl::StatusOr<KvCommit> Set(const std::string& key,
                               const std::string& value) override {
    if (key == "refuse") return absl::UnavailableError("cluster is down");
    values_.emplace_back(key, value);
    KvCommit c;
    c.seq = 41 + values_.size();
    c.view = 3;
    c.replicas = 4;
    c.matching = {0, 2, 3};
    c.client_id = 100;
    c.local_id = values_.size();
    return c;
  }

  absl::StatusOr<KvCommit> Get(const std::string& key) override {
    KvCommit c;
    c.seq = 99;
    c.replicas = 4;
    c.found = false;
    for (const auto& [k, v] : values_) {
      if (k == key) {
        c.found = true;
        c.value = v;
      }
    }
    return c;
  }

 private:
  std::vector<std::pair<std::string, std::string>> values_;
};

const Tool& FindTool(const McpServer& server, const std::string& name) {
  for (const Tool& t : server.tools()) {
    if (t.name == name) return t;
  }
  ADD_FAILURE() << "no tool " << name;
  static const Tool kNone;
  return kNone;
}

ResdbToolsOptions Options() {
  ResdbToolsOptions o;
  o.collector = "unix:///nonexistent/collector.sock";
  o.web_url = "http://127.0.0.1:8088/";
  o.kv = std::make_shared<FakeKv>();
  return o;
}

TEST(ResdbTools, KeyValueToolsGoThroughTheBackend) {
  McpServer server(ServerInfo{});
  ASSERT_TRUE(RegisterResdbTools(&server, Options()).ok());
  ASSERT_EQ(server.tools().size(), 7u);

  ToolResult set = FindTool(server, "commit_key_value")
                       .handler(Json{{"key", "user42"}, {"value", "hi there"}});
  ASSERT_FALSE(set.is_error) << set.text;
  EXPECT_EQ(set.structured["seq"], 42);
  EXPECT_EQ(set.structured["view"], 3);
  EXPECT_EQ(set.structured["request"], "100:1");
  EXPECT_EQ(set.structured["matching_replicas"], Json::array({0, 2, 3}));
  EXPECT_EQ(set.structured["timeline_url"],
            "http://127.0.0.1:8088/timeline/42");
  EXPECT_NE(set.text.find("Committed user42 = hi there at PBFT sequence "
                          "number 42 (view 3; 3 of 4 replicas answered alike "
                          "(r0,r2,r3)"),
            std::string::npos)
      << set.text;

  ToolResult got =
      FindTool(server, "get_key_value").handler(Json{{"key", "user42"}});
  ASSERT_FALSE(got.is_error) << got.text;
  EXPECT_EQ(got.structured["found"], true);
  EXPECT_EQ(got.structured["value"], "hi there");
  EXPECT_EQ(got.structured["seq"], 99);

  ToolResult missing =
      FindTool(server, "get_key_value").handler(Json{{"key", "other"}});
  ASSERT_FALSE(missing.is_error) << missing.text;
  EXPECT_EQ(missing.structured["found"], false);
  EXPECT_TRUE(missing.structured["value"].is_null());
  EXPECT_EQ(missing.text.rfind("other is not set (read through consensus at "
                               "seq 99;",
                               0),
            0u)
      << missing.text;

  ToolResult refused = FindTool(server, "commit_key_value")
                           .handler(Json{{"key", "refuse"}, {"value", "x"}});
  EXPECT_TRUE(refused.is_error);
  EXPECT_EQ(refused.text, "commit_key_value failed: cluster is down");
}

TEST(ResdbTools, TlsAskedForButUnusableFailsInsteadOfPlaintext) {
  McpServer server(ServerInfo{});
  ResdbToolsOptions o = Options();
  o.tls.ca = "/nonexistent/ca.pem";
  absl::Status s = RegisterResdbTools(&server, o);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("TLS to the collector at "
                             "unix:///nonexistent/collector.sock: "),
            std::string::npos)
      << s;
  EXPECT_NE(s.message().find("/nonexistent/ca.pem"), std::string::npos) << s;
  EXPECT_TRUE(server.tools().empty());
}

TEST(ResdbTools, NeedsABackend) {
  McpServer server(ServerInfo{});
  ResdbToolsOptions o = Options();
  o.kv = nullptr;
  EXPECT_EQ(RegisterResdbTools(&server, o).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(server.tools().empty());
}

TEST(KvBackendRegistry, CreatesByNameAndListsTheNamesWhenUnknown) {
  KvBackendOptions seen;
  ASSERT_TRUE(
      RegisterKvBackend("fake-test",
                        [&seen](const KvBackendOptions& o)
                            -> absl::StatusOr<std::unique_ptr<KvBackend>> {
                          seen = o;
                          return std::make_unique<FakeKv>();
                        }));
  EXPECT_FALSE(RegisterKvBackend(
      "fake-test",
      [](const KvBackendOptions&)
          -> absl::StatusOr<std::unique_ptr<KvBackend>> {
        return absl::InternalError("the second registration must not win");
      }));
  ASSERT_TRUE(
      RegisterKvBackend("broken-test",
                        [](const KvBackendOptions&)
                            -> absl::StatusOr<std::unique_ptr<KvBackend>> {
                          return absl::InvalidArgumentError("--cluster x: bad");
                        }));

  KvBackendOptions o;
  o.cluster = "somewhere";
  o.client_id = 7;
  o.timeout_ms = 500;
  absl::StatusOr<std::unique_ptr<KvBackend>> b =
      CreateKvBackend("fake-test", o);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*b)->name(), "fake");
  EXPECT_EQ(seen.cluster, "somewhere");
  EXPECT_EQ(seen.client_id, 7u);
  EXPECT_EQ(seen.timeout_ms, 500);

  EXPECT_EQ(CreateKvBackend("broken-test", o).status().message(),
            "--cluster x: bad");
  EXPECT_EQ(KvBackendNames(),
            (std::vector<std::string>{"broken-test", "fake-test"}));
  absl::StatusOr<std::unique_ptr<KvBackend>> none = CreateKvBackend("nope", o);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(none.status().message(),
            "--kv-backend nope: no such key-value backend (this binary has: "
            "broken-test, fake-test)");
}

}  // namespace
}  // namespace resdb_trace::collector::mcp
