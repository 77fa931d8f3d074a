// GET /metrics end to end: the registry served by a real HttpServer.
#include "collector/metrics/metrics_endpoint.h"

#include <string>

#include "gtest/gtest.h"
#include "tests/collector/metrics/exposition_parser.h"
#include "tests/lib/net/test_client.h"

namespace resdb_trace::collector::metrics {
namespace {

namespace client = ::resdb_trace::collector::http::testing;

TEST(MetricsEndpoint, ServesTheRegistry) {
  Registry registry;
  auto requests =
      registry.AddCounterFamily("demo_requests_total", "Requests.", {"code"});
  ASSERT_TRUE(requests.ok());
  (*(*requests)->WithLabels({"200"}))->Increment(3);
  auto latency = registry.AddHistogram("demo_latency_seconds", "Latency.");
  ASSERT_TRUE(latency.ok());
  (*latency)->Observe(0.003);

  auto server = http::HttpServer::Create({});
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE(RegisterMetricsEndpoint(**server, registry).ok());
  EXPECT_EQ(RegisterMetricsEndpoint(**server, registry).code(),
            absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE((*server)->Start().ok());
  const std::string address = (*server)->address();

  client::ClientResponse r = client::Request(address, "GET", "/metrics");
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.Header("content-type"),
            "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(r.body, registry.Render());
  testing::Exposition e;
  std::string error;
  ASSERT_TRUE(testing::ParseExposition(r.body, &e, &error)) << error;
  EXPECT_EQ(e.Value("demo_requests_total", {{"code", "200"}}), 3);
  EXPECT_EQ(e.Value("demo_latency_seconds_count"), 1);

  // Values move between scrapes.
  (*(*requests)->WithLabels({"200"}))->Increment();
  r = client::Request(address, "GET", "/metrics");
  ASSERT_TRUE(testing::ParseExposition(r.body, &e, &error)) << error;
  EXPECT_EQ(e.Value("demo_requests_total", {{"code", "200"}}), 4);

  r = client::Request(address, "HEAD", "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(client::Request(address, "POST", "/metrics").status, 405);
  (*server)->Stop();
}

TEST(MetricsEndpoint, CustomPath) {
  Registry registry;
  ASSERT_TRUE(registry.AddGauge("g", "G.").ok());
  auto server = http::HttpServer::Create({});
  ASSERT_TRUE(server.ok());
  ASSERT_TRUE(RegisterMetricsEndpoint(**server, registry, "/internal/m").ok());
  ASSERT_TRUE((*server)->Start().ok());
  EXPECT_EQ(client::Request((*server)->address(), "GET", "/internal/m").body,
            "# HELP g G.\n# TYPE g gauge\ng 0\n");
  EXPECT_EQ(client::Request((*server)->address(), "GET", "/metrics").status,
            404);
}

}  // namespace
}  // namespace resdb_trace::collector::metrics
