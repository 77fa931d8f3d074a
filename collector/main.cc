// resdb-trace-collector: the sidecar daemon. Loads the BPF program, attaches
// to ResilientDB (or demo) replicas, and streams typed events over gRPC.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "collector/ingest/collector.h"
#include "collector/metrics/collector_metrics.h"
#include "collector/metrics/metrics_endpoint.h"
#include "collector/profile/profiler.h"
#include "collector/serve/jsonl_writer.h"
#include "collector/serve/trace_service.h"
#include "collector/serve/web/trace_service_backend.h"
#include "collector/serve/web/web_api.h"
#include "collector/timeline/timeline_runner.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "lib/catalogue.h"
#include "lib/flags/flags.h"
#include "lib/flags/version.h"
#include "lib/net/http_server.h"
#include "lib/net/listen_address.h"
#include "lib/net/tls_credentials.h"
#include "lib/output_file.h"

namespace rc = resdb_trace::collector;
namespace catalogue = resdb_trace::catalogue;

namespace {

constexpr char kUsage[] =
    R"(resdb-trace-collector: eBPF tracing of PBFT consensus hooks.

Usage: resdb-trace-collector [--binary PATH]... [--pid N]... [options]

Targets (at least one):
  --binary PATH        trace every process running PATH, now and later
                       (restarted processes included); repeatable
  --pid N              trace process N (its main executable); repeatable
  --hooks LIST         only these hooks: catalogue names or ids, comma-
                       separated (e.g. prepare_received,committed); default all

Output:
  --listen ADDR        gRPC address: unix:///PATH (default
                       unix:///run/resdb-trace/collector.sock) or HOST:PORT;
                       a non-loopback HOST needs TLS or --insecure-listen
  --insecure-listen    allow a non-loopback TCP listen without TLS
  --tls-cert FILE      serve gRPC over TLS with this PEM certificate chain
  --tls-key FILE       ... and this PEM private key
  --tls-client-ca FILE mutual TLS: require a client certificate signed by
                       a CA in this PEM bundle (resdb-trace --tls-cert/--tls-key)
  --socket-group NAME  group of the Unix socket (0660) and of its directory
                       when the collector creates it (default: its own)
  --jsonl FILE|-       also write every event as one JSON line
  --ready-file PATH    write "ready" to PATH once serving (for scripts)
  --metrics-listen ADDR  serve Prometheus metrics at http://ADDR/metrics
                       (HOST:PORT, loopback unless --insecure-listen, or
                       unix:///PATH); off by default; docs/metrics.md
  --http-listen ADDR   serve the web view (live timelines, per-request
                       diagrams, view changes, flamegraphs) and its JSON API
                       at http://ADDR/ (HOST:PORT, loopback unless
                       --insecure-listen); off by default; docs/web.md
  --http-allow-host NAME  also answer web view and metrics requests whose
                       Host is NAME (repeatable; e.g. the name a non-loopback
                       listen is reached by). Otherwise only loopback names
                       (and, for /metrics, IP addresses) are answered, so a
                       web page cannot rebind its DNS name to the collector;
                       --insecure-listen does not change this

Profiling (ResLens; docs/profiling.md):
  --profile-hz N       sample the CPU of every traced process at N Hz per CPU
                       (e.g. 99), tagged by PBFT phase; serves GetProfile and
                       `resdb-trace profile`; off (0) by default
  --profile            the same as --profile-hz 99

Timelines (per-seq PBFT timelines, view changes, anomalies; see
docs/timelines.md):
  --no-timelines       do not build timelines (the timeline RPCs fail)
  --f N                fault tolerance f (default: (n-1)/3 of the replicas seen)
  --timeline-retained N  closed timelines kept for queries (default 4096)
  --timeline-idle-ms N   close a timeline idle this long (default 3000)
  --timeline-queue N     events queued for the timeline builder before it
                       drops (counted); default 1048576 (~600 MiB at most)

Tuning:
  --ringbuf-mb N       ring buffer size in MiB, a power of two (default 8)
  --queue-capacity N   default per-subscriber queue, events (default 65536)
  --max-subscribers N  concurrent subscriptions (default 64)
  --max-timeline-watchers N  concurrent WatchTimelines streams (default 64;
                       the web view's live streams are counted apart)
  --grpc-max-streams-per-connection N  concurrent calls on one client
                       connection; more wait for a free one (default 16)
  --grpc-max-threads N   threads serving gRPC calls; a call beyond them is
                       RESOURCE_EXHAUSTED (default 256)
  --grpc-max-receive-bytes N  largest request message (default 1048576)
  --grpc-max-send-bytes N     largest response message (default 67108864)
  --max-poll-ms N      longest reader sleep when idle (default 4)
  --node NAME          host label put into every event (default hostname)

  --version            print the version (release and git commit) and exit
  -h, --help           print this text and exit

Needs root, or CAP_BPF + CAP_PERFMON (+ CAP_SYS_RESOURCE on old kernels).
Stops cleanly on SIGINT/SIGTERM: detaches, drains, ends every stream.
)";

std::atomic<int> g_signal{0};
void OnSignal(int sig) { g_signal.store(sig); }

using resdb_trace::flags::Die;

struct Flags {
  rc::CollectorOptions collector;
  std::string listen = resdb_trace::flags::kDefaultCollectorAddress;
  bool insecure_listen = false;
  rc::ServerTlsFiles tls;
  std::string socket_group;
  std::string jsonl;
  std::string ready_file;
  uint32_t queue_capacity = 65536;
  uint32_t max_timeline_watchers = 64;
  int grpc_max_streams_per_connection = 16;
  int grpc_max_threads = 256;
  int grpc_max_receive_bytes = 1 << 20;
  int grpc_max_send_bytes = 64 << 20;
  bool timelines = true;
  std::string metrics_listen;
  std::string http_listen;
  std::vector<std::string> http_allow_hosts;
  uint32_t profile_hz = 0;
  rc::TimelineRunnerOptions timeline;
};

uint32_t HookIdByName(absl::string_view token) {
  absl::StatusOr<const catalogue::Hook*> hook = catalogue::ParseHook(token);
  if (!hook.ok()) Die(absl::StrCat("--hooks: ", hook.status().message()));
  return (*hook)->id;
}

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  CLI::App app;
  resdb_trace::flags::Setup(&app, "resdb-trace-collector", kUsage);
  app.add_option_function<std::vector<std::string>>(
         "--binary",
         [&f](const std::vector<std::string>& paths) {
           for (const std::string& p : paths) {
             std::error_code ec;
             auto abs = std::filesystem::absolute(p, ec);
             f.collector.binaries.push_back(ec ? p : abs.string());
           }
         })
      ->allow_extra_args(false);
  app.add_option("--pid", f.collector.pids)
      ->check(CLI::Range(1, 1 << 22))
      ->allow_extra_args(false);
  std::vector<std::string> hooks;
  app.add_option("--hooks", hooks)->delimiter(',')->allow_extra_args(false);
  // The last --listen wins (a wrapper's default, then the caller's).
  app.add_option("--listen", f.listen)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_flag("--insecure-listen", f.insecure_listen);
  resdb_trace::flags::AddServerTlsFlags(&app, &f.tls.cert, &f.tls.key,
                                        &f.tls.client_ca);
  app.add_option("--socket-group", f.socket_group);
  app.add_option("--jsonl", f.jsonl);
  app.add_option("--ready-file", f.ready_file);
  // --ringbuf-kb is for tests of the overload path; the last one given wins.
  app.add_option_function<uint64_t>(
         "--ringbuf-mb",
         [&f](uint64_t mb) { f.collector.ringbuf_bytes = mb << 20; })
      ->check(CLI::Range(1, 1024) & resdb_trace::flags::kPowerOfTwo)
      ->trigger_on_parse();
  app.add_option_function<uint64_t>(
         "--ringbuf-kb",
         [&f](uint64_t kb) { f.collector.ringbuf_bytes = kb << 10; })
      ->check(CLI::Range(4, 1 << 20) & resdb_trace::flags::kPowerOfTwo)
      ->trigger_on_parse()
      ->group("");
  app.add_option("--queue-capacity", f.queue_capacity)
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--max-subscribers", f.collector.hub.max_subscribers)
      ->check(CLI::Range(1, 4096));
  app.add_option("--max-timeline-watchers", f.max_timeline_watchers)
      ->check(CLI::Range(1, 4096));
  app.add_option("--grpc-max-streams-per-connection",
                 f.grpc_max_streams_per_connection)
      ->check(CLI::Range(1, 1 << 16));
  app.add_option("--grpc-max-threads", f.grpc_max_threads)
      ->check(CLI::Range(4, 1 << 14));
  app.add_option("--grpc-max-receive-bytes", f.grpc_max_receive_bytes)
      ->check(CLI::Range(1 << 10, 1 << 30));
  app.add_option("--grpc-max-send-bytes", f.grpc_max_send_bytes)
      ->check(CLI::Range(1 << 10, 1 << 30));
  app.add_option("--max-poll-ms", f.collector.max_poll_ms)
      ->check(CLI::Range(1, 100));
  // --profile is --profile-hz 99; the last one given wins.
  app.add_option("--profile-hz", f.profile_hz)
      ->check(CLI::Range(0, 10000))
      ->trigger_on_parse();
  app.add_flag_callback("--profile", [&f] { f.profile_hz = 99; })
      ->trigger_on_parse();
  app.add_option("--metrics-listen", f.metrics_listen);
  app.add_option("--http-listen", f.http_listen);
  app.add_option("--http-allow-host", f.http_allow_hosts);
  app.add_flag_callback("--no-timelines", [&f] { f.timelines = false; });
  app.add_option("--f", f.timeline.timeline.f)->check(CLI::Range(1, 1000));
  app.add_option("--timeline-retained", f.timeline.timeline.retained)
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--timeline-queue", f.timeline.queue_capacity)
      ->check(CLI::Range(1024, 1 << 20));
  app.add_option_function<int64_t>("--timeline-idle-ms",
                                   [&f](int64_t ms) {
                                     f.timeline.timeline.idle_timeout =
                                         absl::Milliseconds(ms);
                                   })
      ->check(CLI::Range(10, 3'600'000));
  app.add_option("--node", f.collector.node_name);
  resdb_trace::flags::ParseOrExit(&app, argc, argv);
  for (const std::string& t : hooks) {
    if (!t.empty()) f.collector.hook_ids.push_back(HookIdByName(t));
  }
  // the hooks keep each thread's phase only for the profiler (a map update
  // per hit otherwise wasted)
  f.collector.track_thread_phase = f.profile_hz > 0;
  if (f.collector.binaries.empty() && f.collector.pids.empty()) {
    Die("nothing to trace: give at least one --binary PATH or --pid N; see "
        "--help");
  }
  if (f.collector.node_name.empty()) {
    char host[256] = {0};
    if (gethostname(host, sizeof(host) - 1) == 0) f.collector.node_name = host;
  }
  return f;
}

// This binary's build, for GetStats and resdb_trace_build_info.
resdb_trace::v1::BuildInfo Build() {
  resdb_trace::v1::BuildInfo b;
  b.set_version(std::string(resdb_trace::flags::Version()));
  b.set_commit(std::string(resdb_trace::flags::Commit()));
  return b;
}

void ReportAttach(const rc::AttachReport& r) {
  std::fprintf(
      stderr,
      "resdb-trace-collector: %s (%s): %d hooks attached, %d "
      "missing, %d failed%s\n",
      r.binary_path.c_str(),
      r.pid < 0 ? "every process" : ("pid " + std::to_string(r.pid)).c_str(),
      r.attached_count(), r.missing_count(), r.error_count(),
      r.has_semaphores ? "" : " (no semaphore table: gating off)");
  if (r.missing_count() + r.error_count() > 0) {
    std::fprintf(stderr, "%s\n", r.Summary().c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags = ParseFlags(argc, argv);

  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      rc::MakeServerCredentials(flags.tls);
  if (!credentials.ok()) Die(std::string(credentials.status().message()));
  absl::StatusOr<rc::ListenAddress> listen = rc::ParseListenAddress(
      flags.listen, flags.insecure_listen || flags.tls.enabled());
  if (!listen.ok()) Die(std::string(listen.status().message()));
  listen->socket_group = flags.socket_group;
  if (absl::Status s = rc::PrepareListenAddress(*listen); !s.ok()) {
    Die(std::string(s.message()));
  }

  absl::StatusOr<std::unique_ptr<rc::Collector>> collector =
      rc::Collector::Create(flags.collector);
  if (!collector.ok()) Die(std::string(collector.status().message()));
  for (const rc::AttachReport& r : (*collector)->attach_reports()) {
    ReportAttach(r);
  }

  std::unique_ptr<rc::JsonlWriter> jsonl;
  if (!flags.jsonl.empty()) {
    auto w =
        rc::JsonlWriter::Create(flags.jsonl, &(*collector)->hub(), 1u << 20);
    if (!w.ok()) Die(std::string(w.status().message()));
    jsonl = std::move(*w);
  }

  std::unique_ptr<rc::TimelineRunner> timelines;
  if (flags.timelines) {
    rc::Collector* c = collector->get();
    // gRPC watchers are capped by TraceService; the web view's SSE streams
    // by its HTTP connection slots (kWebUpdateSlots of the hub).
    constexpr size_t kWebUpdateSlots = 64;
    flags.timeline.max_watchers = flags.max_timeline_watchers + kWebUpdateSlots;
    auto t = rc::TimelineRunner::Start(
        &c->hub(), [c] { return c->ringbuf_drops() + c->malformed(); },
        flags.timeline);
    if (!t.ok()) Die(std::string(t.status().message()));
    timelines = std::move(*t);
  }

  rc::TraceServiceOptions sopt;
  sopt.default_queue_capacity = flags.queue_capacity;
  sopt.max_subscribers =
      static_cast<uint32_t>(flags.collector.hub.max_subscribers);
  sopt.max_timeline_watchers = flags.max_timeline_watchers;
  sopt.build = Build();
  rc::TraceService service(collector->get(), sopt, timelines.get());
  if (jsonl) {
    rc::JsonlWriter* w = jsonl.get();
    service.SetJsonlDropped([w] { return w->dropped(); });
  }
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  // A Unix socket is bound under a name of its own, then renamed into place
  // (rc::PrivateSocketPath says why).
  std::string private_socket;
  if (!listen->unix_path.empty()) {
    absl::StatusOr<std::string> p = rc::PrivateSocketPath(*listen);
    if (!p.ok()) Die(std::string(p.status().message()));
    private_socket = *p;
  }
  builder.AddListeningPort(
      private_socket.empty() ? listen->grpc_target : "unix://" + private_socket,
      *credentials);
  builder.RegisterService(&service);
  // Server-wide caps, so no client can take every thread or buffer.
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             flags.grpc_max_streams_per_connection);
  grpc::ResourceQuota quota("resdb-trace-collector");
  quota.SetMaxThreads(flags.grpc_max_threads);
  builder.SetResourceQuota(quota);
  builder.SetMaxReceiveMessageSize(flags.grpc_max_receive_bytes);
  builder.SetMaxSendMessageSize(flags.grpc_max_send_bytes);
  // The Unix socket is born 0660 (no window before FinishListenAddress).
  const mode_t old_umask = umask(0117);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  umask(old_umask);
  if (server == nullptr) {
    Die(absl::StrFormat(
        "--listen %s: cannot listen there (address in use, bad address, or "
        "no permission on the socket directory)%s",
        flags.listen,
        flags.tls.enabled() ? ", or the --tls-cert/--tls-key pair is not a "
                              "valid certificate and its matching key"
                            : ""));
  }
  if (!private_socket.empty()) {
    if (absl::Status s = rc::PublishSocket(&*listen, private_socket); !s.ok()) {
      Die(std::string(s.message()));
    }
  } else if (absl::Status s = rc::FinishListenAddress(*listen); !s.ok()) {
    Die(std::string(s.message()));
  }

  // ResLens: every traced process is sampled from its first hook hit (or
  // from the start for --pid) until it exits.
  std::unique_ptr<rc::profile::Profiler> profiler;
  std::thread profile_feeder;
  rc::EventHubT::Subscription lifecycle;
  if (flags.profile_hz > 0) {
    rc::profile::ProfilerOptions popt;
    popt.frequency_hz = flags.profile_hz;
    popt.thread_phase_map_fd = (*collector)->thread_phase_map_fd();
    for (int pid : flags.collector.pids) {
      popt.pids.push_back(static_cast<uint32_t>(pid));
    }
    auto p = rc::profile::Profiler::Create(popt);
    if (!p.ok()) Die("--profile-hz: " + std::string(p.status().message()));
    profiler = std::move(*p);
    if (absl::Status s = profiler->Start(); !s.ok()) {
      Die("--profile-hz: " + std::string(s.message()));
    }
    rc::SubscriberOptions<resdb_trace::v1::Event> lopt;
    lopt.capacity = 4096;
    lopt.name = "profiler";
    lopt.filter = [](const resdb_trace::v1::Event& e) {
      // execute_end always carries the replica's own id (meta self), which
      // ProcessStarted lacks when a process's first hook has none.
      return e.has_process_started() || e.has_process_exited() ||
             e.type() == resdb_trace::v1::EVENT_TYPE_EXECUTE_END;
    };
    auto sub = (*collector)->hub().Subscribe(std::move(lopt));
    if (!sub.ok()) Die("profiler: " + std::string(sub.status().message()));
    lifecycle = std::move(*sub);
    profile_feeder = std::thread([&lifecycle, p = profiler.get()] {
      std::vector<rc::EventPtr> out;
      std::map<uint32_t, uint32_t> replica_of;  // pid -> replica id
      while (true) {
        rc::PopResult r = lifecycle.PopBatch(256, absl::ZeroDuration(), &out,
                                             absl::Milliseconds(200));
        for (const auto& e : out) {
          const uint32_t pid = e->process().pid();
          if (e->has_process_started()) {
            const uint32_t started = e->process_started().pid();
            if (absl::Status s = p->AddPid(started); !s.ok()) {
              std::fprintf(stderr, "resdb-trace-collector: profiler: %s\n",
                           std::string(s.message()).c_str());
            }
            if (e->replica_id() != 0) {
              p->SetReplicaId(started, e->replica_id());
              replica_of[started] = e->replica_id();
            }
          } else if (e->has_process_exited()) {
            (void)p->RemovePid(e->process_exited().pid());
            replica_of.erase(e->process_exited().pid());
          } else if (e->replica_id() != 0 &&
                     replica_of[pid] != e->replica_id()) {
            p->SetReplicaId(pid, e->replica_id());
            replica_of[pid] = e->replica_id();
          }
        }
        out.clear();
        if (r.closed) return;
      }
    });
    service.SetProfiler(profiler.get());
    std::fprintf(stderr, "resdb-trace-collector: profiling at %u Hz\n",
                 flags.profile_hz);
  }

  std::unique_ptr<rc::CollectorMetrics> metrics;
  std::unique_ptr<rc::http::HttpServer> metrics_http;
  if (!flags.metrics_listen.empty()) {
    auto m = rc::CollectorMetrics::Create(collector->get(), timelines.get(),
                                          Build());
    if (!m.ok()) Die("metrics: " + std::string(m.status().message()));
    metrics = std::move(*m);
    rc::http::HttpServer::Options hopt;
    hopt.address = flags.metrics_listen;
    hopt.allow_non_loopback = flags.insecure_listen;
    // Scrapers name the target by address or by an allowed name; browsers
    // on other sites get 403 (Host and Origin).
    rc::http::BrowserPolicy browser;
    browser.allowed_hosts = flags.http_allow_hosts;
    browser.allow_ip_literal_hosts = true;
    hopt.browser = browser;
    auto h = rc::http::HttpServer::Create(hopt);
    if (!h.ok()) {
      Die(absl::StrFormat("--metrics-listen %s: %s", flags.metrics_listen,
                          h.status().message()));
    }
    metrics_http = std::move(*h);
    if (absl::Status s = rc::metrics::RegisterMetricsEndpoint(
            *metrics_http, metrics->registry());
        !s.ok()) {
      Die("metrics: " + std::string(s.message()));
    }
    if (absl::Status s = metrics_http->Start(); !s.ok()) {
      Die("metrics: " + std::string(s.message()));
    }
    std::fprintf(stderr,
                 "resdb-trace-collector: metrics on http://%s/metrics\n",
                 metrics_http->address().c_str());
  }

  // The web view calls the same TraceService handlers, in-process.
  std::unique_ptr<rc::http::HttpServer> web_http;
  if (!flags.http_listen.empty()) {
    rc::http::HttpServer::Options hopt;
    hopt.address = flags.http_listen;
    hopt.allow_non_loopback = flags.insecure_listen;
    auto h = rc::http::HttpServer::Create(hopt);
    if (!h.ok()) {
      Die(absl::StrFormat(
          "--http-listen %s: %s%s", flags.http_listen, h.status().message(),
          h.status().code() == absl::StatusCode::kPermissionDenied
              ? " (add --insecure-listen to serve the web view beyond "
                "loopback)"
              : ""));
    }
    web_http = std::move(*h);
    rc::web::WebOptions wopt;
    wopt.browser.allowed_hosts = flags.http_allow_hosts;
    auto api = std::make_shared<const rc::web::WebApi>(
        rc::web::TraceServiceBackend(&service, timelines.get()), wopt);
    if (absl::Status s = rc::web::RegisterWebRoutes(*web_http, api); !s.ok()) {
      Die("web: " + std::string(s.message()));
    }
    if (absl::Status s = web_http->Start(); !s.ok()) {
      Die("web: " + std::string(s.message()));
    }
    std::fprintf(stderr, "resdb-trace-collector: web view on http://%s/\n",
                 web_http->address().c_str());
  }

  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  (*collector)->Start();
  std::fprintf(stderr, "resdb-trace-collector: serving on %s\n",
               flags.listen.c_str());
  int exit_code = 0;
  if (!flags.ready_file.empty()) {
    if (absl::Status s = resdb_trace::WriteOutputFile(
            "--ready-file", flags.ready_file, "ready\n");
        !s.ok()) {
      std::fprintf(stderr, "resdb-trace-collector: %s\n",
                   std::string(s.message()).c_str());
      // Shut down cleanly (detach, end streams) and exit 1: nobody would
      // see the collector ready.
      exit_code = 1;
      g_signal.store(SIGTERM);
    }
  }

  while (g_signal.load() == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::fprintf(stderr, "resdb-trace-collector: %s, shutting down\n",
               strsignal(g_signal.load()));
  // Detach and drain first, so streams end with every event the kernel
  // produced; then give clients a moment to read their last batch.
  if (web_http) web_http->Stop();
  (*collector)->Stop();
  if (jsonl) jsonl->Join();
  if (timelines) timelines->Stop();
  if (metrics) metrics->Stop();
  if (profile_feeder.joinable()) profile_feeder.join();
  if (profiler) profiler->Stop();
  if (metrics_http) metrics_http->Stop();
  service.Shutdown();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(3));
  {
    resdb_trace::v1::Stats stats = (*collector)->Stats();
    std::fprintf(stderr,
                 "resdb-trace-collector: read %llu records, %llu ring-buffer "
                 "drops, %llu malformed\n",
                 static_cast<unsigned long long>(stats.records_read()),
                 static_cast<unsigned long long>(stats.ringbuf_drops_total()),
                 static_cast<unsigned long long>(stats.records_malformed()));
  }
  rc::CleanupListenAddress(*listen);
  // Every probe is detached, every stream ended and the --jsonl file flushed:
  // skip the destructors, whose grpc_shutdown (from ~ServerBuilder) can
  // wait 7-10 s on gRPC's executor timers after a busy stream.
  std::fflush(nullptr);
  _exit(exit_code);
}
