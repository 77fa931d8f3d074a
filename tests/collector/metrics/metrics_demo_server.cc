// metrics_demo_server: serves a small, deterministic registry at GET /metrics
// for prometheus_test.py (a real Prometheus scrapes it).
//
//   metrics_demo_server --port-file PATH [--events N] [--address ADDR]
//
// Listens on ADDR (default 127.0.0.1:0), writes the bound port to PATH once
// serving, and runs until SIGINT/SIGTERM. The values:
//   demo_events_total                     N
//   demo_requests_total{code,path}        7 and 2; the path needs escaping
//   demo_latency_seconds (histogram)      N observations of (i % 10) ms
//   demo_callback_value (callback gauge)  42.5
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "collector/metrics/metrics.h"
#include "collector/metrics/metrics_endpoint.h"
#include "lib/flags/flags.h"
#include "lib/net/http_server.h"

namespace {

namespace http = resdb_trace::collector::http;
namespace metrics = resdb_trace::collector::metrics;

std::atomic<int> g_signal{0};
void OnSignal(int sig) { g_signal.store(sig); }

using resdb_trace::flags::Die;

template <typename T>
T Check(absl::StatusOr<T> v) {
  if (!v.ok()) Die(std::string(v.status().message()));
  return *std::move(v);
}

void Check(const absl::Status& s) {
  if (!s.ok()) Die(std::string(s.message()));
}

}  // namespace

int main(int argc, char** argv) {
  std::string port_file;
  std::string address = "127.0.0.1:0";
  long events = 1234;
  CLI::App app;
  resdb_trace::flags::Setup(&app, "metrics_demo_server",
                            R"(metrics_demo_server: a test /metrics endpoint.

Usage: metrics_demo_server --port-file PATH [--events N] [--address ADDR]

  --port-file PATH  write the bound port there once serving
  --events N        demo_events_total's value (default 1234)
  --address ADDR    where to listen (default 127.0.0.1:0)
  --version         print the version and exit
  -h, --help        print this text and exit
)");
  app.add_option("--port-file", port_file);
  app.add_option("--events", events);
  app.add_option("--address", address);
  resdb_trace::flags::ParseOrExit(&app, argc, argv);
  if (port_file.empty()) Die("--port-file is required");
  if (events < 0 || events > 100'000'000) Die("--events out of range");

  metrics::Registry registry;
  metrics::Counter* total =
      Check(registry.AddCounter("demo_events_total", "Events produced."));
  metrics::Family<metrics::Counter>* requests = Check(registry.AddCounterFamily(
      "demo_requests_total", "Requests by code and \"path\".\nTwo lines.",
      {"code", "path"}));
  metrics::Histogram* latency = Check(
      registry.AddHistogram("demo_latency_seconds", "Latency of demo events."));
  Check(registry.AddCallbackGauge("demo_callback_value", "Read at scrape time.",
                                  [] { return 42.5; }));
  for (long i = 0; i < events; ++i) {
    total->Increment();
    latency->Observe(static_cast<double>(i % 10) / 1000.0);
  }
  Check(requests->WithLabels({"200", "/a \"quoted\" \\ path"}))->Increment(7);
  Check(requests->WithLabels({"404", "/missing\nline"}))->Increment(2);

  http::HttpServer::Options options;
  options.address = address;
  std::unique_ptr<http::HttpServer> server =
      Check(http::HttpServer::Create(options));
  Check(metrics::RegisterMetricsEndpoint(*server, registry));

  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  Check(server->Start());

  // Written whole, then renamed: a reader never sees a partial number.
  std::string tmp = port_file + ".tmp";
  std::ofstream(tmp) << server->port() << "\n";
  if (std::rename(tmp.c_str(), port_file.c_str()) != 0) {
    Die("cannot write " + port_file);
  }
  std::fprintf(stderr, "metrics_demo_server: serving on %s\n",
               server->address().c_str());

  while (g_signal.load() == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  server->Stop();
  std::fprintf(stderr, "metrics_demo_server: stopped (%llu requests)\n",
               static_cast<unsigned long long>(server->stats().requests));
  return 0;
}
