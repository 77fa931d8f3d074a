// The demo cluster's MCP key-value backend: registered as "demo" when
// linked, --cluster parsed with the messages resdb-trace mcp prints.
#include <memory>
#include <string>

#include "clients/mcp/kv_backend.h"
#include "demo/mcp_kv_backend.h"
#include "gtest/gtest.h"

namespace resdb_trace::demo {
namespace {

using collector::mcp::CreateKvBackend;
using collector::mcp::KvBackend;
using collector::mcp::KvBackendOptions;

TEST(DemoKvBackend, RegisteredAsDemoWithTheClusterItWasGiven) {
  KvBackendOptions o;
  o.cluster = "127.0.0.1:21000,n=7";
  absl::StatusOr<std::unique_ptr<KvBackend>> b = CreateKvBackend("demo", o);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*b)->name(), "demo");
  EXPECT_EQ((*b)->description(), "demo cluster 127.0.0.1:21000+i (n=7)");

  b = CreateKvBackend("demo", KvBackendOptions{});
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*b)->description(), "demo cluster 127.0.0.1:20000+i (n=4)");
}

TEST(DemoKvBackend, ClusterSpecErrors) {
  KvClientOptions kv;
  EXPECT_TRUE(ParseClusterSpec("localhost:30000", &kv).ok());
  EXPECT_EQ(kv.base_port, 30000);
  EXPECT_EQ(ParseClusterSpec("10.0.0.1:20000", &kv).message(),
            "--cluster 10.0.0.1:20000: the demo replicas listen on 127.0.0.1 "
            "only; give 127.0.0.1:BASE_PORT or just BASE_PORT");
  EXPECT_EQ(ParseClusterSpec("70000", &kv).message(),
            "--cluster 70000: expected [127.0.0.1:]BASE_PORT[,n=N] with "
            "BASE_PORT in 1..65000 (replica i listens on BASE_PORT+i)");
  EXPECT_EQ(ParseClusterSpec("20000,n=3", &kv).message(),
            "--cluster 20000,n=3: 'n=3' should be n=N with N in 4..100 "
            "replicas");
  KvBackendOptions o;
  o.cluster = "20000,x";
  EXPECT_EQ(CreateKvBackend("demo", o).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace resdb_trace::demo
