#include "lib/net/host_origin.h"

#include "gtest/gtest.h"

namespace resdb_trace::collector::http {
namespace {

Request With(std::vector<std::pair<std::string, std::string>> headers) {
  Request r;
  r.method = "GET";
  r.path = "/";
  r.headers = std::move(headers);
  return r;
}

TEST(HostOrigin, ParsesHostHeaders) {
  auto a = ParseHostHeader("LocalHost.:8080");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "localhost");
  EXPECT_EQ(a->port, 8080);
  a = ParseHostHeader("[::1]:9");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "[::1]");
  EXPECT_EQ(a->port, 9);
  EXPECT_FALSE(ParseHostHeader(""));
  EXPECT_FALSE(ParseHostHeader(":80"));
  EXPECT_FALSE(ParseHostHeader("a:99999"));
  EXPECT_FALSE(ParseHostHeader("a:"));
  EXPECT_FALSE(ParseHostHeader("[::1"));
  EXPECT_FALSE(ParseHostHeader("[::1]x"));
  EXPECT_FALSE(ParseHostHeader("[zz]"));
  EXPECT_FALSE(ParseHostHeader("a b"));
  EXPECT_FALSE(ParseHostHeader("user@host"));
}

TEST(HostOrigin, ParsesOrigins) {
  auto o = ParseOrigin("https://Example.com:8443");
  ASSERT_TRUE(o);
  EXPECT_EQ(o->scheme, "https");
  EXPECT_EQ(o->authority.host, "example.com");
  EXPECT_EQ(o->authority.port, 8443);
  EXPECT_FALSE(ParseOrigin("null"));
  EXPECT_FALSE(ParseOrigin("file://"));
  EXPECT_FALSE(ParseOrigin("http://a/path"));
  EXPECT_FALSE(ParseOrigin("http://"));
}

TEST(HostOrigin, LoopbackAndLiterals) {
  EXPECT_TRUE(IsLoopbackHost("localhost"));
  EXPECT_TRUE(IsLoopbackHost("app.localhost"));
  EXPECT_TRUE(IsLoopbackHost("127.8.9.1"));
  EXPECT_TRUE(IsLoopbackHost("[::1]"));
  EXPECT_FALSE(IsLoopbackHost("localhost.evil.test"));
  EXPECT_FALSE(IsLoopbackHost("127.0.0.1.evil.test"));
  EXPECT_TRUE(IsIpLiteral("10.0.0.5"));
  EXPECT_TRUE(IsIpLiteral("[fe80::1]"));
  EXPECT_FALSE(IsIpLiteral("collector.lan"));
}

TEST(HostOrigin, HostMustBeLoopbackLiteralOrAllowed) {
  BrowserPolicy p;
  EXPECT_FALSE(CheckBrowserRequest(With({}), p));  // HTTP/1.0, no Host
  EXPECT_FALSE(CheckBrowserRequest(With({{"host", "127.0.0.1:1"}}), p));
  EXPECT_TRUE(CheckBrowserRequest(With({{"host", "10.1.2.3:9464"}}), p));
  EXPECT_TRUE(CheckBrowserRequest(With({{"host", "collector.lan:1"}}), p));
  p.allow_ip_literal_hosts = true;
  EXPECT_FALSE(CheckBrowserRequest(With({{"host", "10.1.2.3:9464"}}), p));
  EXPECT_FALSE(CheckBrowserRequest(With({{"host", "[fe80::1]:9464"}}), p));
  EXPECT_TRUE(CheckBrowserRequest(With({{"host", "collector.lan:1"}}), p));
  EXPECT_TRUE(CheckBrowserRequest(With({{"host", "bad host"}}), p));
  p.allowed_hosts = {"Collector.LAN"};
  EXPECT_FALSE(CheckBrowserRequest(With({{"host", "collector.lan:1"}}), p));
}

TEST(HostOrigin, OriginMustBeSameOriginUnlessAllowed) {
  BrowserPolicy p;
  auto req = [](std::string host, std::string origin) {
    return With({{"host", host}, {"origin", origin}});
  };
  EXPECT_FALSE(
      CheckBrowserRequest(req("127.0.0.1:8088", "http://127.0.0.1:8088"), p));
  EXPECT_FALSE(CheckBrowserRequest(req("localhost", "http://localhost:80"), p));
  EXPECT_TRUE(
      CheckBrowserRequest(req("127.0.0.1:8088", "http://127.0.0.1:9"), p));
  EXPECT_TRUE(
      CheckBrowserRequest(req("127.0.0.1:8088", "http://localhost:8088"), p));
  EXPECT_TRUE(
      CheckBrowserRequest(req("127.0.0.1:8088", "http://evil.test"), p));
  EXPECT_TRUE(CheckBrowserRequest(req("127.0.0.1:8088", "null"), p));
  p.allow_loopback_origins = true;
  EXPECT_FALSE(
      CheckBrowserRequest(req("127.0.0.1:8088", "http://localhost:5173"), p));
  EXPECT_TRUE(
      CheckBrowserRequest(req("127.0.0.1:8088", "http://evil.test"), p));
  p.allow_any_origin = true;
  EXPECT_FALSE(
      CheckBrowserRequest(req("127.0.0.1:8088", "http://evil.test"), p));
}

}  // namespace
}  // namespace resdb_trace::collector::http
