#include "clients/mcp/mcp_command.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "clients/mcp/http_transport.h"
#include "clients/mcp/mcp_server.h"
#include "clients/mcp/resdb_tools.h"
#include "clients/mcp/stdio_transport.h"
#include "lib/flags/flags.h"
#include "lib/flags/version.h"
#include "lib/net/http_server.h"

namespace resdb_trace::collector::mcp {

const char kMcpUsage[] =
    R"(resdb-trace mcp: a Model Context Protocol server for agents (docs/mcp.md).

Usage:
  resdb-trace mcp [--http [ADDR] | --stdio] [options]

Transports:
  --http [ADDR]        Streamable HTTP at http://ADDR/mcp and the legacy
                       HTTP+SSE transport at http://ADDR/sse (the default;
                       ADDR defaults to 127.0.0.1:3500, port 0 picks one;
                       loopback only unless --insecure-listen)
  --stdio              newline-delimited JSON-RPC on stdin/stdout (for
                       clients that spawn the server, e.g. Claude Desktop)
  --no-sse             HTTP: serve /mcp only
  --insecure-listen    HTTP: allow a non-loopback ADDR and any Origin
                       (nothing authenticates; use a trusted network only)

Backends:
  --collector ADDR     the collector (default: the CLI's --listen,
                       unix:///run/resdb-trace/collector.sock)
  --cluster [127.0.0.1:]BASE_PORT[,n=N]
                       the demo cluster the key-value tools use: replica i
                       at 127.0.0.1:BASE_PORT+i (default 20000,n=4)
  --client-id N        proxy id of the key-value client (default 1000+pid)
  --kv-timeout-ms N    give up a key-value request after N ms (default 10000)
  --web-url URL        base of the web links (default http://127.0.0.1:8088)
  --tls-ca FILE [--tls-cert FILE --tls-key FILE]
                       TLS (mTLS) to a collector started with --tls-cert
                       (the CLI's flags: before or after `mcp`)
  --listen ADDR        the CLI's collector address (see --collector)
  --version            print the version and exit

Tools: commit_key_value, get_key_value, trace_request, trace_profile,
list_slow_requests, view_changes, collector_stats.
)";

namespace {

std::atomic<bool> g_stop{false};

int Fail(const std::string& msg) {
  std::fprintf(stderr, "resdb-trace mcp: %s\n", msg.c_str());
  return 2;
}

// "[127.0.0.1:]PORT[,n=N]"
bool ParseCluster(const std::string& spec, demo::KvClientOptions* o,
                  std::string* error) {
  std::vector<std::string> parts = absl::StrSplit(spec, ',');
  std::string addr = parts[0];
  const size_t colon = addr.rfind(':');
  if (colon != std::string::npos) {
    const std::string host = addr.substr(0, colon);
    if (host != "127.0.0.1" && host != "localhost") {
      *error = absl::StrFormat(
          "--cluster %s: the demo replicas listen on 127.0.0.1 only; give "
          "127.0.0.1:BASE_PORT or just BASE_PORT",
          spec);
      return false;
    }
    addr = addr.substr(colon + 1);
  }
  int port = 0;
  if (!absl::SimpleAtoi(addr, &port) || port <= 0 || port > 65000) {
    *error = absl::StrFormat(
        "--cluster %s: expected [127.0.0.1:]BASE_PORT[,n=N] with BASE_PORT "
        "in 1..65000 (replica i listens on BASE_PORT+i)",
        spec);
    return false;
  }
  o->base_port = port;
  for (size_t i = 1; i < parts.size(); ++i) {
    int n = 0;
    if (!absl::StartsWith(parts[i], "n=") ||
        !absl::SimpleAtoi(parts[i].substr(2), &n) || n < 4 || n > 100) {
      *error = absl::StrFormat(
          "--cluster %s: '%s' should be n=N with N in 4..100 replicas", spec,
          parts[i]);
      return false;
    }
    o->replicas = n;
  }
  return true;
}

}  // namespace

CLI::App* AddMcpCommand(CLI::App* app, McpFlags* f) {
  CLI::App* c = app->add_subcommand("mcp", "Model Context Protocol server");
  resdb_trace::flags::SetUsage(c, kMcpUsage);
  c->add_flag("--stdio", f->stdio);
  // --http takes an optional ADDR: "--http", "--http ADDR", "--http=ADDR".
  f->http_option = c->add_option("--http", f->http)->expected(0, 1);
  c->add_flag_callback("--no-sse", [f] { f->sse = false; });
  c->add_flag("--insecure-listen", f->insecure);
  c->add_option("--collector", f->collector);
  c->add_option("--cluster", f->cluster);
  c->add_option("--client-id", f->client_id)
      ->check(resdb_trace::flags::kPositive);
  c->add_option("--kv-timeout-ms", f->kv_timeout_ms)
      ->check(CLI::Range(100, 600000));
  c->add_option("--web-url", f->web_url);
  return c;
}

int RunMcpCommand(const std::string& collector, const ClientTlsFiles& tls,
                  const McpFlags& f) {
  ResdbToolsOptions tools;
  tools.collector = f.collector.empty() ? collector : f.collector;
  tools.tls = tls;
  const bool stdio = f.stdio;
  const bool http = f.http_option != nullptr && f.http_option->count() > 0;
  const bool sse = f.sse;
  const bool insecure = f.insecure;
  std::string address = f.http.empty() ? "127.0.0.1:3500" : f.http;
  if (!f.cluster.empty()) {
    std::string error;
    if (!ParseCluster(f.cluster, &tools.cluster, &error)) return Fail(error);
  }
  if (f.client_id != 0) tools.cluster.client_id = f.client_id;
  if (f.kv_timeout_ms != 0) tools.cluster.deadline_ms = f.kv_timeout_ms;
  if (!f.web_url.empty()) {
    if (!(absl::StartsWith(f.web_url, "http://") ||
          absl::StartsWith(f.web_url, "https://"))) {
      return Fail("--web-url: expected http://HOST:PORT");
    }
    tools.web_url = f.web_url;
  }
  if (stdio && http) return Fail("give --stdio or --http, not both");
  if (absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> creds =
          MakeChannelCredentials(tools.tls);
      !creds.ok()) {
    return Fail(std::string(creds.status().message()));
  }
  if (!stdio && absl::StartsWith(address, ":")) {
    address = "127.0.0.1" + address;
  }
  int port_only = 0;
  if (absl::SimpleAtoi(address, &port_only)) {
    address = absl::StrCat("127.0.0.1:", port_only);
  }

  McpServer server(ServerInfo{"resdb-trace", "resdb_trace PBFT tracing",
                              std::string(resdb_trace::flags::Version()),
                              ResdbInstructions()});
  if (absl::Status s = RegisterResdbTools(&server, tools); !s.ok()) {
    std::fprintf(stderr, "resdb-trace mcp: %s\n",
                 std::string(s.message()).c_str());
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);
  if (stdio) {
    std::fprintf(stderr,
                 "resdb-trace mcp: MCP over stdio; collector %s, demo "
                 "cluster 127.0.0.1:%d+i (n=%d)\n",
                 tools.collector.c_str(), tools.cluster.base_port,
                 tools.cluster.replicas);
    absl::Status s = ServeStdio(server, STDIN_FILENO, STDOUT_FILENO);
    if (!s.ok()) {
      std::fprintf(stderr, "resdb-trace mcp: %s\n",
                   std::string(s.message()).c_str());
      return 1;
    }
    return 0;
  }

  http::HttpServer::Options ho;
  ho.address = address;
  ho.allow_non_loopback = insecure;
  ho.max_request_bytes = 1 << 20;
  // trace_profile may sample for up to a minute before answering.
  ho.write_timeout = absl::Seconds(30);
  absl::StatusOr<std::unique_ptr<http::HttpServer>> hs =
      http::HttpServer::Create(ho);
  if (!hs.ok()) {
    return Fail(absl::StrFormat(
        "--http %s: %s%s", address, hs.status().message(),
        hs.status().code() == absl::StatusCode::kPermissionDenied
            ? " (add --insecure-listen to expose it)"
            : ""));
  }
  HttpTransportOptions to;
  to.legacy_sse = sse;
  to.allow_any_origin = insecure;
  HttpTransport transport(&server, to);
  if (absl::Status s = transport.Register(hs->get()); !s.ok()) {
    std::fprintf(stderr, "resdb-trace mcp: %s\n",
                 std::string(s.message()).c_str());
    return 1;
  }
  if (absl::Status s = (*hs)->Start(); !s.ok()) {
    std::fprintf(stderr, "resdb-trace mcp: %s\n",
                 std::string(s.message()).c_str());
    return 1;
  }
  signal(SIGINT, [](int) { g_stop.store(true); });
  signal(SIGTERM, [](int) { g_stop.store(true); });
  const std::string base = absl::StrCat("http://", (*hs)->address());
  std::fprintf(
      stderr,
      "resdb-trace mcp: listening on %s/mcp (Streamable HTTP)%s; "
      "collector %s, demo cluster 127.0.0.1:%d+i (n=%d)\n",
      base.c_str(),
      sse ? absl::StrCat(" and ", base, "/sse (HTTP+SSE)").c_str() : "",
      tools.collector.c_str(), tools.cluster.base_port, tools.cluster.replicas);
  while (!g_stop.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  (*hs)->Stop();
  std::fprintf(stderr, "resdb-trace mcp: stopped\n");
  return 0;
}

}  // namespace resdb_trace::collector::mcp
