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
#include "clients/mcp/kv_backend.h"
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
  --http-allow-host NAME
                       HTTP: also answer requests whose Host is NAME
                       (repeatable); by default only loopback names and IP
                       addresses are, against DNS rebinding

Backends:
  --collector ADDR     the collector (default: the CLI's --listen,
                       unix:///run/resdb-trace/collector.sock)
  --kv-backend NAME    the cluster the key-value tools use (default demo,
                       the demo PBFT cluster)
  --cluster [127.0.0.1:]BASE_PORT[,n=N]
                       demo backend: replica i at 127.0.0.1:BASE_PORT+i
                       (default 20000,n=4)
  --client-id N        proxy id of the key-value client (demo default
                       1000+pid)
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

}  // namespace

CLI::App* AddMcpCommand(CLI::App* app, McpFlags* f) {
  CLI::App* c = app->add_subcommand("mcp", "Model Context Protocol server");
  resdb_trace::flags::SetUsage(c, kMcpUsage);
  c->add_flag("--stdio", f->stdio);
  // --http takes an optional ADDR: "--http", "--http ADDR", "--http=ADDR".
  f->http_option = c->add_option("--http", f->http)->expected(0, 1);
  c->add_flag_callback("--no-sse", [f] { f->sse = false; });
  c->add_flag("--insecure-listen", f->insecure);
  c->add_option("--http-allow-host", f->allow_hosts);
  c->add_option("--collector", f->collector);
  c->add_option("--kv-backend", f->kv_backend);
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
  KvBackendOptions kv;
  kv.cluster = f.cluster;
  kv.client_id = f.client_id;
  kv.timeout_ms = f.kv_timeout_ms;
  const std::string kv_backend = f.kv_backend;
  if (!f.web_url.empty()) {
    if (!(absl::StartsWith(f.web_url, "http://") ||
          absl::StartsWith(f.web_url, "https://"))) {
      return Fail("--web-url: expected http://HOST:PORT");
    }
    tools.web_url = f.web_url;
  }
  if (stdio && http) return Fail("give --stdio or --http, not both");
  absl::StatusOr<std::unique_ptr<KvBackend>> backend =
      CreateKvBackend(kv_backend, kv);
  if (!backend.ok()) return Fail(std::string(backend.status().message()));
  tools.kv = *std::move(backend);
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
    std::fprintf(stderr, "resdb-trace mcp: MCP over stdio; collector %s, %s\n",
                 tools.collector.c_str(), tools.kv->description().c_str());
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
  // Host (DNS rebinding) and Origin checks; local MCP pages (an inspector
  // on another loopback port) may connect.
  http::BrowserPolicy browser;
  browser.allowed_hosts = f.allow_hosts;
  browser.allow_loopback_origins = true;
  browser.allow_any_origin = insecure;
  ho.browser = browser;
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
      "collector %s, %s\n",
      base.c_str(),
      sse ? absl::StrCat(" and ", base, "/sse (HTTP+SSE)").c_str() : "",
      tools.collector.c_str(), tools.kv->description().c_str());
  while (!g_stop.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  (*hs)->Stop();
  std::fprintf(stderr, "resdb-trace mcp: stopped\n");
  return 0;
}

}  // namespace resdb_trace::collector::mcp
