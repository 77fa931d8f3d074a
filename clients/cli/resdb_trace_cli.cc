// resdb-trace: the command-line client of resdb-trace-collector.
//
//   resdb-trace watch [--types prepare_received,committed] [--replicas 1,2]
//                     [--pids N,..] [--seq MIN:MAX] [--json] [--count N]
//                     [--seconds S] [--retry] [--listen ADDR]
//   resdb-trace stats [--json] [--listen ADDR]
//   resdb-trace timeline SEQ | --request PROXY:LOCAL_ID [--json] [--width N]
//   resdb-trace timelines [--slow MS] [--incomplete] [--limit N] [--json]
//   resdb-trace viewchanges [--json]
//   resdb-trace top [--seconds S] [--interval-ms N]
//   resdb-trace mcp [--http [ADDR] | --stdio] ...   (clients/mcp/)
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "clients/mcp/mcp_command.h"
#include "clients/render/timeline_text.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "lib/catalogue.h"
#include "lib/flags/flags.h"
#include "lib/net/tls_credentials.h"
#include "lib/output_file.h"
#include "resdb_trace/v1/profile.pb.h"
#include "resdb_trace/v1/service.grpc.pb.h"

namespace {

namespace v1 = resdb_trace::v1;
using google::protobuf::FieldDescriptor;

constexpr char kWatchUsage[] =
    R"(  resdb-trace watch [filters] [--json] [--count N] [--seconds S] [--retry]
      print events live, one line each (--json: protobuf JSON per line);
      --retry: when the collector goes away (restart), reconnect with
      back-off (100 ms .. 2 s) instead of exiting; the gap is noted on stderr
      filters: --types T1,T2   event types, e.g. prepare_received,committed
               --replicas 1,2  replica ids
               --pids N,M      process ids
               --seq MIN:MAX   seq range (either side may be empty)
               --batch N       events per batch (default: collector's)
               --delay-ms N    longest batching delay (default: collector's)
)";
constexpr char kStatsUsage[] = R"(  resdb-trace stats [--json]
      collector counters, subscribers, attach state, timeline counters
)";
constexpr char kTimelineUsage[] =
    R"(  resdb-trace timeline SEQ | --request PROXY:LOCAL_ID [--json] [--width N]
      one consensus instance on every replica: phase diagram, stage times,
      quorums (when and from whom), stragglers, missing events
)";
constexpr char kTimelinesUsage[] =
    R"(  resdb-trace timelines [--slow MS] [--incomplete] [--open] [--limit N] [--json]
      recent timelines, newest first, one line each
)";
constexpr char kViewChangesUsage[] = R"(  resdb-trace viewchanges [--json]
      view-change episodes and safety anomalies
)";
constexpr char kTopUsage[] =
    R"(  resdb-trace top [--seconds S] [--interval-ms N]
      live per-phase latencies (p50/p99 per replica), throughput, view changes
)";
constexpr char kProfileUsage[] =
    R"(  resdb-trace profile [--replica N].. [--pid N].. [--seconds S | --last S]
                      [--phase NAMES] -o FILE [-o FILE]..
      CPU profile of traced processes (collector started with --profile-hz):
      --seconds S samples now for S s (progress bar), --last S uses the
      history; --phase cuts by PBFT phase (prepare, commit, pre_prepare,
      execute, or hook names); FILE by extension: .pb.gz (pprof), .svg
      (flamegraph), .md (summary), .folded (--output FILE is -o FILE)
)";
constexpr char kMcpSummary[] =
    R"(  resdb-trace mcp [--http [ADDR] | --stdio] [--cluster PORT[,n=N]] ...
      Model Context Protocol server for agents (tools: commit_key_value,
      get_key_value, trace_request, trace_profile, ...); see
      `resdb-trace mcp --help` and docs/mcp.md
)";
constexpr char kCommonUsage[] = R"(
Common:
  --listen ADDR   collector address (default unix:///run/resdb-trace/collector.sock)
  --tls-ca FILE   connect with TLS; verify the collector against this PEM CA
  --tls-cert FILE --tls-key FILE
                  client certificate and key (collector with --tls-client-ca)
  --version       print the version (release and git commit) and exit
  -h, --help      print this text (after a command: that command's) and exit
)";
constexpr char kTitle[] =
    "resdb-trace: client of resdb-trace-collector.\n\nUsage:\n";

// The usage of one command: its own lines and the common flags.
std::string CommandUsage(const char* command) {
  return absl::StrCat(kTitle, command, kCommonUsage);
}

std::string FullUsage() {
  return absl::StrCat(kTitle, kWatchUsage, kStatsUsage, kTimelineUsage,
                      kTimelinesUsage, kViewChangesUsage, kTopUsage,
                      kProfileUsage, kMcpSummary, kCommonUsage);
}

using resdb_trace::flags::Die;

resdb_trace::collector::ClientTlsFiles g_tls;  // --tls-ca/--tls-cert/--tls-key

// A channel with the --tls-* credentials that reconnects quickly after the
// collector restarts (gRPC's default back-off grows to 2 minutes).
std::shared_ptr<grpc::Channel> Channel(const std::string& target) {
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> creds =
      resdb_trace::collector::MakeChannelCredentials(g_tls);
  if (!creds.ok()) Die(std::string(creds.status().message()));
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  return grpc::CreateCustomChannel(target, *creds, args);
}

std::string Target(const std::string& listen) {
  if (listen.rfind("unix:", 0) == 0) {
    std::string path = listen.substr(5);
    if (path.rfind("//", 0) == 0) path = path.substr(2);
    return "unix://" + path;
  }
  return listen;
}

v1::EventType ParseType(const std::string& token) {
  std::string upper = absl::AsciiStrToUpper(token);
  if (upper.rfind("EVENT_TYPE_", 0) != 0) upper = "EVENT_TYPE_" + upper;
  v1::EventType t;
  if (!v1::EventType_Parse(upper, &t) || t == v1::EVENT_TYPE_UNDEF) {
    Die(absl::StrFormat("--types: unknown event type '%s'", token));
  }
  return t;
}

// "prepare_received r2 pid 123 view=0 seq=7 sender=3 digest=..."
std::string Describe(const v1::Event& e) {
  const google::protobuf::Reflection* r = e.GetReflection();
  const FieldDescriptor* member = r->GetOneofFieldDescriptor(
      e, v1::Event::descriptor()->FindOneofByName("event"));
  std::string name = member ? member->name() : "event";
  const int64_t secs = e.time().seconds();
  time_t t = static_cast<time_t>(secs);
  struct tm tm;
  localtime_r(&t, &tm);
  char clock[32];
  std::strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
  std::string line = absl::StrFormat("%s.%06d r%-2u pid %-7u %-22s", clock,
                                     e.time().nanos() / 1000, e.replica_id(),
                                     e.process().pid(), name);
  if (member == nullptr) return line;
  const google::protobuf::Message& m = r->GetMessage(e, member);
  const google::protobuf::Reflection* mr = m.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  mr->ListFields(m, &fields);
  for (const FieldDescriptor* f : fields) {
    if (f->name() == "request_ptr") continue;
    std::string v;
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_UINT64:
        v = f->name() == "digest_prefix"
                ? absl::StrFormat("%016x", mr->GetUInt64(m, f))
                : absl::StrCat(mr->GetUInt64(m, f));
        break;
      case FieldDescriptor::CPPTYPE_UINT32:
        v = absl::StrCat(mr->GetUInt32(m, f));
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        v = absl::StrCat(mr->GetInt64(m, f));
        break;
      case FieldDescriptor::CPPTYPE_INT32:
        v = absl::StrCat(mr->GetInt32(m, f));
        break;
      case FieldDescriptor::CPPTYPE_ENUM:
        v = mr->GetEnum(m, f)->name();
        break;
      case FieldDescriptor::CPPTYPE_STRING:
        v = mr->GetString(m, f);
        break;
      default:
        continue;
    }
    absl::StrAppend(&line, " ", f->name(), "=", v);
  }
  return line;
}

struct WatchFlags {
  std::vector<std::string> types;
  std::vector<uint32_t> replicas;
  std::vector<uint32_t> pids;
  std::string seq;
  bool json = false;
  bool retry = false;
  long count = -1;
  double seconds = -1;
  std::optional<uint32_t> batch;
  std::optional<uint32_t> delay_ms;
};

void AddWatch(CLI::App* app, WatchFlags* w) {
  CLI::App* c = app->add_subcommand("watch", "print events live");
  resdb_trace::flags::SetUsage(c, CommandUsage(kWatchUsage));
  c->add_option("--types", w->types)->delimiter(',')->allow_extra_args(false);
  c->add_option("--replicas", w->replicas)
      ->delimiter(',')
      ->allow_extra_args(false);
  c->add_option("--pids", w->pids)->delimiter(',')->allow_extra_args(false);
  c->add_option("--seq", w->seq);
  c->add_flag("--json", w->json);
  c->add_flag("--retry", w->retry);
  c->add_option("--count", w->count);
  c->add_option("--seconds", w->seconds);
  c->add_option("--batch", w->batch);
  c->add_option("--delay-ms", w->delay_ms);
}

int Watch(const std::string& listen, const WatchFlags& w) {
  v1::SubscribeRequest req;
  req.set_client_name("resdb-trace watch");
  v1::Filter* f = nullptr;
  auto filter = [&]() {
    if (f == nullptr) f = req.add_allow_list();
    return f;
  };
  const bool json = w.json;
  const bool retry = w.retry;
  const long count = w.count;
  const double seconds = w.seconds;
  for (const std::string& t : w.types) {
    if (!t.empty()) filter()->add_event_types(ParseType(t));
  }
  for (uint32_t v : w.replicas) filter()->add_replica_ids(v);
  for (uint32_t v : w.pids) filter()->add_pids(v);
  if (!w.seq.empty()) {
    std::vector<std::string> parts = absl::StrSplit(w.seq, ':');
    uint64_t n;
    if (parts.size() != 2) Die("--seq expects MIN:MAX");
    if (!parts[0].empty()) {
      if (!absl::SimpleAtoi(parts[0], &n)) Die("--seq: bad MIN");
      filter()->set_seq_min(n);
    }
    if (!parts[1].empty()) {
      if (!absl::SimpleAtoi(parts[1], &n)) Die("--seq: bad MAX");
      filter()->set_seq_max(n);
    }
  }
  if (w.batch) req.mutable_batching()->set_max_events(*w.batch);
  if (w.delay_ms) req.mutable_batching()->set_max_delay_ms(*w.delay_ms);
  auto stub = v1::TraceService::NewStub(Channel(Target(listen)));
  const auto deadline =
      seconds > 0
          ? std::chrono::system_clock::now() +
                std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000))
          : std::chrono::system_clock::time_point::max();
  v1::EventBatch batch;
  long printed = 0;
  google::protobuf::util::JsonPrintOptions jopt;
  jopt.preserve_proto_field_names = true;
  auto backoff = std::chrono::milliseconds(100);
  while (true) {
    grpc::ClientContext ctx;
    if (seconds > 0) ctx.set_deadline(deadline);
    auto reader = stub->Subscribe(&ctx, req);
    bool got_any = false;
    while (reader->Read(&batch)) {
      got_any = true;
      for (const v1::Event& e : batch.events()) {
        if (json) {
          std::string s;
          (void)google::protobuf::util::MessageToJsonString(e, &s, jopt);
          std::printf("%s\n", s.c_str());
        } else {
          std::printf("%s\n", Describe(e).c_str());
        }
        if (e.event_case() != v1::Event::kLossNotice && ++printed == count) {
          std::fflush(stdout);
          ctx.TryCancel();
          reader->Finish();
          return 0;
        }
      }
      std::fflush(stdout);
    }
    grpc::Status s = reader->Finish();
    if (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) return 0;
    // The collector ending the stream (shutdown) or being unreachable is
    // worth a retry; a rejected request (bad filter, limits) is not.
    const bool transient = s.ok() ||
                           s.error_code() == grpc::StatusCode::UNAVAILABLE ||
                           s.error_code() == grpc::StatusCode::CANCELLED;
    if (!retry || !transient) {
      if (!s.ok()) {
        Die(absl::StrFormat("watch %s: %s", listen, s.error_message()), 1);
      }
      return 0;
    }
    if (got_any) backoff = std::chrono::milliseconds(100);
    std::fprintf(stderr,
                 "resdb-trace: watch %s: stream ended (%s); reconnecting in "
                 "%lld ms (events published meanwhile are not seen)\n",
                 listen.c_str(),
                 s.ok() ? "collector closed it" : s.error_message().c_str(),
                 static_cast<long long>(backoff.count()));
    std::this_thread::sleep_for(backoff);
    if (std::chrono::system_clock::now() >= deadline) return 0;
    backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
  }
}

int Stats(const std::string& listen, bool json) {
  auto channel = Channel(Target(listen));
  auto stub = v1::TraceService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::Stats stats;
  grpc::Status s = stub->GetStats(&ctx, v1::GetStatsRequest(), &stats);
  if (!s.ok()) {
    Die(absl::StrFormat("stats %s: %s", listen, s.error_message()), 1);
  }
  if (json) {
    std::string out;
    google::protobuf::util::JsonPrintOptions jopt;
    jopt.preserve_proto_field_names = true;
    jopt.add_whitespace = true;
    (void)google::protobuf::util::MessageToJsonString(stats, &out, jopt);
    std::printf("%s\n", out.c_str());
    return 0;
  }
  if (stats.has_build()) {
    std::printf("collector version %s (%s)\n", stats.build().version().c_str(),
                stats.build().commit().c_str());
  }
  std::printf("records read      %llu\n",
              static_cast<unsigned long long>(stats.records_read()));
  std::printf("events decoded    %llu\n",
              static_cast<unsigned long long>(stats.events_decoded()));
  std::printf("malformed         %llu\n",
              static_cast<unsigned long long>(stats.records_malformed()));
  std::printf("ring-buffer drops %llu\n",
              static_cast<unsigned long long>(stats.ringbuf_drops_total()));
  std::printf("subscribers       %d\n", stats.subscribers_size());
  for (const auto& sub : stats.subscribers()) {
    std::printf("  #%llu %-24s delivered %llu dropped %llu queue %u/%u\n",
                static_cast<unsigned long long>(sub.id()),
                sub.client_name().c_str(),
                static_cast<unsigned long long>(sub.delivered()),
                static_cast<unsigned long long>(sub.dropped()),
                sub.queue_depth(), sub.queue_capacity());
  }
  int attached = 0;
  for (const auto& a : stats.attachments()) {
    if (a.status() == v1::ATTACH_STATUS_ATTACHED) {
      ++attached;
    } else {
      std::printf("  not attached: %s in %s: %s %s\n", a.hook_name().c_str(),
                  a.binary().c_str(), v1::AttachStatus_Name(a.status()).c_str(),
                  a.message().c_str());
    }
  }
  std::printf("hooks attached    %d of %d\n", attached,
              stats.attachments_size());
  if (stats.has_timelines()) {
    const auto& t = stats.timelines();
    std::printf(
        "timelines         complete %llu, incomplete %llu, evicted %llu, open "
        "%u, view changes %llu, anomalies %llu, builder drops %llu\n",
        static_cast<unsigned long long>(t.complete()),
        static_cast<unsigned long long>(t.incomplete()),
        static_cast<unsigned long long>(t.evicted()), t.open(),
        static_cast<unsigned long long>(t.view_changes()),
        static_cast<unsigned long long>(t.anomalies()),
        static_cast<unsigned long long>(t.events_dropped()));
  }
  if (stats.jsonl_dropped() > 0) {
    std::printf("jsonl drops       %llu\n",
                static_cast<unsigned long long>(stats.jsonl_dropped()));
  }
  if (stats.has_limits()) {
    const v1::LimitStats& l = stats.limits();
    std::printf(
        "refused           %llu at max subscribers (%u), %llu batching, %llu "
        "queue capacity, %llu filters\n",
        static_cast<unsigned long long>(l.subscribers_refused()),
        l.max_subscribers(),
        static_cast<unsigned long long>(l.batching_refused()),
        static_cast<unsigned long long>(l.queue_capacity_refused()),
        static_cast<unsigned long long>(l.filter_refused()));
  }
  if (stats.has_process()) {
    const v1::ProcessStats& p = stats.process();
    std::printf(
        "collector process RSS %.1f MiB, heap in use %.1f MiB (free %.1f "
        "MiB), %u fds, %u threads\n",
        static_cast<double>(p.rss_bytes()) / (1 << 20),
        static_cast<double>(p.heap_in_use_bytes()) / (1 << 20),
        static_cast<double>(p.heap_free_bytes()) / (1 << 20), p.open_fds(),
        p.threads());
  }
  return 0;
}

std::unique_ptr<v1::TraceService::Stub> Connect(const std::string& listen) {
  return v1::TraceService::NewStub(Channel(Target(listen)));
}

std::string Json(const google::protobuf::Message& m, bool pretty = true) {
  std::string out;
  google::protobuf::util::JsonPrintOptions jopt;
  jopt.preserve_proto_field_names = true;
  jopt.add_whitespace = pretty;
  (void)google::protobuf::util::MessageToJsonString(m, &out, jopt);
  return out;
}

void Deadline(grpc::ClientContext* ctx, int seconds = 5) {
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::seconds(seconds));
}

struct TimelineFlags {
  std::optional<uint64_t> seq;
  std::string request;
  bool json = false;
  int width = 72;
};

void AddTimeline(CLI::App* app, TimelineFlags* t) {
  CLI::App* c = app->add_subcommand("timeline", "one consensus instance");
  resdb_trace::flags::SetUsage(c, CommandUsage(kTimelineUsage));
  c->add_option("SEQ", t->seq);
  c->add_option("--request", t->request);
  c->add_flag("--json", t->json);
  c->add_option("--width", t->width)->check(CLI::Range(20, 1000));
}

int Timeline(const std::string& listen, const TimelineFlags& flags) {
  v1::GetTimelineRequest req;
  const bool json = flags.json;
  const int width = flags.width;
  if (!flags.request.empty()) {
    std::vector<std::string> parts = absl::StrSplit(flags.request, ':');
    uint64_t proxy = 0, local = 0;
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &proxy) ||
        !absl::SimpleAtoi(parts[1], &local)) {
      Die("timeline --request: expected PROXY:LOCAL_ID, e.g. 5:17");
    }
    req.mutable_request()->set_proxy_id(proxy);
    req.mutable_request()->set_local_id(local);
  }
  if (flags.seq) req.set_seq(*flags.seq);
  if (req.key_case() == v1::GetTimelineRequest::KEY_NOT_SET) {
    Die("timeline: give a SEQ or --request PROXY:LOCAL_ID");
  }
  auto stub = Connect(listen);
  grpc::ClientContext ctx;
  Deadline(&ctx);
  v1::Timeline t;
  grpc::Status s = stub->GetTimeline(&ctx, req, &t);
  if (!s.ok()) Die(absl::StrFormat("timeline: %s", s.error_message()), 1);
  std::printf("%s\n",
              json ? Json(t).c_str()
                   : resdb_trace::collector::RenderTimeline(t, width).c_str());
  return 0;
}

struct TimelinesFlags {
  double slow_ms = -1;
  bool incomplete = false;
  bool open = false;
  std::optional<uint32_t> limit;
  bool json = false;
};

void AddTimelines(CLI::App* app, TimelinesFlags* t) {
  CLI::App* c = app->add_subcommand("timelines", "recent timelines");
  resdb_trace::flags::SetUsage(c, CommandUsage(kTimelinesUsage));
  c->add_option("--slow", t->slow_ms)->check(resdb_trace::flags::kNonNegative);
  c->add_flag("--incomplete", t->incomplete);
  c->add_flag("--open", t->open);
  c->add_option("--limit", t->limit);
  c->add_flag("--json", t->json);
}

int Timelines(const std::string& listen, const TimelinesFlags& flags) {
  v1::ListTimelinesRequest req;
  const bool json = flags.json;
  if (flags.incomplete) req.set_incomplete_only(true);
  if (flags.open) req.set_include_open(true);
  if (flags.slow_ms >= 0) {
    req.set_slower_than_ns(static_cast<int64_t>(flags.slow_ms * 1e6));
  }
  if (flags.limit) req.set_limit(*flags.limit);
  req.set_summary_only(!json);
  auto stub = Connect(listen);
  grpc::ClientContext ctx;
  Deadline(&ctx);
  v1::ListTimelinesResponse resp;
  grpc::Status s = stub->ListTimelines(&ctx, req, &resp);
  if (!s.ok()) Die(absl::StrFormat("timelines: %s", s.error_message()), 1);
  if (json) {
    std::printf("%s\n", Json(resp).c_str());
    return 0;
  }
  using resdb_trace::collector::FormatDuration;
  for (const auto& t : resp.timelines()) {
    std::printf(
        "seq %-8llu view %-3llu %-10s score %.2f  commit %-12s execute %s\n",
        static_cast<unsigned long long>(t.seq()),
        static_cast<unsigned long long>(t.view()),
        v1::TimelineState_Name(t.state()).substr(15).c_str(),
        t.completeness().score(),
        t.has_commit_latency_ns()
            ? FormatDuration(t.commit_latency_ns()).c_str()
            : "-",
        t.has_execute_latency_ns()
            ? FormatDuration(t.execute_latency_ns()).c_str()
            : "-");
  }
  const auto& st = resp.stats();
  std::printf(
      "(%d shown, %u more; complete %llu, incomplete %llu, evicted %llu, open "
      "%u)\n",
      resp.timelines_size(), resp.more(),
      static_cast<unsigned long long>(st.complete()),
      static_cast<unsigned long long>(st.incomplete()),
      static_cast<unsigned long long>(st.evicted()), st.open());
  return 0;
}

int ViewChanges(const std::string& listen, bool json) {
  auto stub = Connect(listen);
  grpc::ClientContext ctx;
  Deadline(&ctx);
  v1::ListViewChangesResponse resp;
  grpc::Status s =
      stub->ListViewChanges(&ctx, v1::ListViewChangesRequest(), &resp);
  if (!s.ok()) Die(absl::StrFormat("viewchanges: %s", s.error_message()), 1);
  if (json) {
    std::printf("%s\n", Json(resp).c_str());
    return 0;
  }
  if (resp.episodes_size() == 0) std::printf("no view changes\n");
  for (const auto& e : resp.episodes()) {
    std::printf("%s\n", resdb_trace::collector::RenderViewChange(e).c_str());
  }
  for (const auto& a : resp.anomalies()) {
    std::printf("ANOMALY %s\n", a.description().c_str());
  }
  return 0;
}

struct TopFlags {
  double seconds = 0;  // 0 = until interrupted
  int interval_ms = 1000;
};

void AddTop(CLI::App* app, TopFlags* t) {
  CLI::App* c = app->add_subcommand("top", "live per-phase latencies");
  resdb_trace::flags::SetUsage(c, CommandUsage(kTopUsage));
  c->add_option("--seconds", t->seconds)
      ->check(resdb_trace::flags::kNonNegative);
  c->add_option("--interval-ms", t->interval_ms)
      ->check(CLI::Range(50, std::numeric_limits<int>::max()));
}

int Top(const std::string& listen, const TopFlags& flags) {
  const double seconds = flags.seconds;
  const int interval_ms = flags.interval_ms;
  const bool tty = isatty(STDOUT_FILENO);
  auto stub = Connect(listen);
  grpc::ClientContext ctx;
  if (seconds > 0) {
    ctx.set_deadline(
        std::chrono::system_clock::now() +
        std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000)));
  }
  v1::WatchTimelinesRequest req;
  req.set_include_timelines(true);
  req.set_include_view_changes(true);
  req.set_include_anomalies(true);
  auto reader = stub->WatchTimelines(&ctx, req);
  // Ctrl-C (or SIGTERM from a script) ends the watch and prints the final
  // summary instead of killing the process.
  static std::atomic<bool> interrupted{false};
  signal(SIGINT, [](int) { interrupted.store(true); });
  signal(SIGTERM, [](int) { interrupted.store(true); });
  std::atomic<bool> done{false};
  std::thread canceller([&] {
    while (!done.load()) {
      if (interrupted.load()) {
        ctx.TryCancel();
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  resdb_trace::collector::PhaseStats stats;
  uint64_t view_changes = 0, anomalies = 0, since_last = 0, dropped = 0;
  auto last = std::chrono::steady_clock::now();
  std::string last_vc;
  auto draw = [&](bool final) {
    const auto now = std::chrono::steady_clock::now();
    const double dt = std::chrono::duration<double>(now - last).count();
    const double rate = dt > 0 ? since_last / dt : 0;
    if (tty && !final) std::printf("\033[H\033[2J");
    std::printf("resdb-trace top  %s%s\n", listen.c_str(),
                dropped
                    ? absl::StrFormat("  (%d updates dropped)", dropped).c_str()
                    : "");
    std::printf("%s", stats.Render(rate, view_changes, anomalies).c_str());
    if (!last_vc.empty()) std::printf("\nlast %s\n", last_vc.c_str());
    std::fflush(stdout);
    since_last = 0;
    last = now;
  };
  v1::TimelineUpdate u;
  auto next_draw =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(interval_ms);
  while (reader->Read(&u)) {
    dropped += u.dropped_before();
    if (u.has_timeline()) {
      stats.Add(u.timeline());
      ++since_last;
    } else if (u.has_view_change()) {
      if (!u.view_change().finished()) ++view_changes;
      last_vc = resdb_trace::collector::RenderViewChange(u.view_change());
    } else if (u.has_anomaly()) {
      ++anomalies;
      std::printf("ANOMALY %s\n", u.anomaly().description().c_str());
    }
    if (std::chrono::steady_clock::now() >= next_draw) {
      if (tty) draw(false);
      next_draw = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(interval_ms);
    }
  }
  grpc::Status s = reader->Finish();
  done.store(true);
  canceller.join();
  if (!s.ok() && s.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED &&
      !(interrupted.load() && s.error_code() == grpc::StatusCode::CANCELLED)) {
    Die(absl::StrFormat("top: %s", s.error_message()), 1);
  }
  draw(true);
  return 0;
}

std::vector<uint32_t> ParsePhases(absl::string_view value) {
  absl::StatusOr<std::vector<uint32_t>> ids =
      resdb_trace::catalogue::ParsePhases(value);
  if (!ids.ok()) Die(absl::StrCat("--phase: ", ids.status().message()));
  return *std::move(ids);
}

struct ProfileFlags {
  std::vector<uint32_t> replicas;
  std::vector<uint32_t> pids;
  uint32_t seconds = 0;
  uint32_t last = 0;
  std::vector<std::string> phases;
  std::vector<std::string> outputs;
};

void AddProfile(CLI::App* app, ProfileFlags* p) {
  CLI::App* c = app->add_subcommand("profile", "CPU profile");
  resdb_trace::flags::SetUsage(c, CommandUsage(kProfileUsage));
  c->add_option("--replica", p->replicas)
      ->delimiter(',')
      ->allow_extra_args(false);
  c->add_option("--pid", p->pids)->delimiter(',')->allow_extra_args(false);
  c->add_option("--seconds", p->seconds)->check(resdb_trace::flags::kPositive);
  c->add_option("--last", p->last)->check(resdb_trace::flags::kPositive);
  c->add_option("--phase", p->phases)->delimiter(',')->allow_extra_args(false);
  c->add_option("-o,--output", p->outputs)->allow_extra_args(false);
}

int Profile(const std::string& listen, const ProfileFlags& flags) {
  v1::GetProfileRequest req;
  const std::vector<std::string>& outputs = flags.outputs;
  const uint32_t seconds = flags.seconds;
  for (uint32_t r : flags.replicas) req.add_replica_ids(r);
  for (uint32_t p : flags.pids) req.add_pids(p);
  if (seconds > 0) req.set_seconds(seconds);
  if (flags.last > 0) req.set_last_seconds(flags.last);
  for (const std::string& phase : flags.phases) {
    for (uint32_t id : ParsePhases(phase)) req.add_phase_hook_ids(id);
  }
  if (outputs.empty())
    Die("profile: give -o FILE (.pb.gz, .svg, .md, .folded)");
  for (const std::string& o : outputs) {
    auto ends = [&](const char* ext) { return absl::EndsWith(o, ext); };
    if (ends(".pb.gz") || ends(".pprof")) {
      req.add_formats(v1::PROFILE_FORMAT_PPROF);
    } else if (ends(".svg")) {
      req.add_formats(v1::PROFILE_FORMAT_SVG);
    } else if (ends(".md")) {
      req.add_formats(v1::PROFILE_FORMAT_MARKDOWN);
    } else if (ends(".folded") || ends(".txt")) {
      req.add_formats(v1::PROFILE_FORMAT_FOLDED);
    } else {
      Die(absl::StrFormat("-o %s: name it *.pb.gz, *.svg, *.md or *.folded",
                          o));
    }
  }
  auto stub = Connect(listen);
  grpc::ClientContext ctx;
  Deadline(&ctx, static_cast<int>(seconds) + 60);
  std::atomic<bool> done{false};
  std::thread progress([&] {
    if (seconds == 0 || !isatty(STDERR_FILENO)) return;
    const auto start = std::chrono::steady_clock::now();
    while (!done.load()) {
      const double el = std::chrono::duration<double>(
                            std::chrono::steady_clock::now() - start)
                            .count();
      const int width = 30;
      const int filled =
          std::min(width, static_cast<int>(el / seconds * width));
      std::fprintf(stderr, "\rsampling [%s%s] %.0f/%u s",
                   std::string(filled, '#').c_str(),
                   std::string(width - filled, '.').c_str(),
                   std::min<double>(el, seconds), seconds);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    std::fprintf(stderr, "\n");
  });
  if (seconds > 0 && !isatty(STDERR_FILENO)) {
    std::fprintf(stderr, "resdb-trace: sampling for %u s...\n", seconds);
  }
  v1::Profile p;
  grpc::Status s = stub->GetProfile(&ctx, req, &p);
  done.store(true);
  progress.join();
  if (!s.ok()) Die(absl::StrFormat("profile: %s", s.error_message()), 1);
  for (const std::string& o : outputs) {
    std::string data;
    if (absl::EndsWith(o, ".pb.gz") || absl::EndsWith(o, ".pprof")) {
      data = p.pprof_gz();
    } else if (absl::EndsWith(o, ".svg")) {
      data = p.svg();
    } else if (absl::EndsWith(o, ".md")) {
      data = p.markdown();
    } else {
      data = p.folded();
    }
    if (absl::Status w = resdb_trace::WriteOutputFile("-o", o, data); !w.ok()) {
      Die(std::string(w.message()), 1);
    }
    std::fprintf(stderr, "wrote %s (%zu bytes)\n", o.c_str(), data.size());
  }
  std::fprintf(stderr, "%llu samples\n",
               static_cast<unsigned long long>(p.counters().samples()));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string listen = resdb_trace::flags::kDefaultCollectorAddress;
  CLI::App app;
  resdb_trace::flags::Setup(&app, "resdb-trace", FullUsage());
  // Global flags may precede the command or follow it.
  app.fallthrough();
  // At most one command; none is reported after parsing, so that an unknown
  // flag is named first.
  app.require_subcommand(0, 1);
  app.add_option("--listen", listen);
  resdb_trace::flags::AddClientTlsFlags(&app, &g_tls.ca, &g_tls.cert,
                                        &g_tls.key);
  WatchFlags watch;
  AddWatch(&app, &watch);
  bool stats_json = false;
  CLI::App* stats = app.add_subcommand("stats", "collector counters");
  resdb_trace::flags::SetUsage(stats, CommandUsage(kStatsUsage));
  stats->add_flag("--json", stats_json);
  TimelineFlags timeline;
  AddTimeline(&app, &timeline);
  TimelinesFlags timelines;
  AddTimelines(&app, &timelines);
  bool viewchanges_json = false;
  CLI::App* viewchanges =
      app.add_subcommand("viewchanges", "view-change episodes");
  resdb_trace::flags::SetUsage(viewchanges, CommandUsage(kViewChangesUsage));
  viewchanges->add_flag("--json", viewchanges_json);
  TopFlags top;
  AddTop(&app, &top);
  ProfileFlags profile;
  AddProfile(&app, &profile);
  resdb_trace::collector::mcp::McpFlags mcp;
  CLI::App* mcp_command =
      resdb_trace::collector::mcp::AddMcpCommand(&app, &mcp);
  resdb_trace::flags::ParseOrExit(&app, argc, argv);

  if (app.got_subcommand("watch")) return Watch(listen, watch);
  if (stats->parsed()) return Stats(listen, stats_json);
  if (app.got_subcommand("timeline")) return Timeline(listen, timeline);
  if (app.got_subcommand("timelines")) return Timelines(listen, timelines);
  if (viewchanges->parsed()) return ViewChanges(listen, viewchanges_json);
  if (app.got_subcommand("top")) return Top(listen, top);
  if (app.got_subcommand("profile")) return Profile(listen, profile);
  if (mcp_command->parsed()) {
    return resdb_trace::collector::mcp::RunMcpCommand(listen, g_tls, mcp);
  }
  Die("give a command (watch, stats, timeline, timelines, viewchanges, top, "
      "profile, mcp); see --help");
}
