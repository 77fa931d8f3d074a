#include "clients/mcp/resdb_tools.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "clients/render/timeline_text.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "lib/catalogue.h"
#include "resdb_trace/v1/service.grpc.pb.h"

namespace resdb_trace::collector::mcp {
namespace {

namespace v1 = resdb_trace::v1;

constexpr size_t kMaxRemembered = 10000;

// Collector state shared by every tool.
class Backend {
 public:
  // `credentials` from MakeChannelCredentials(o.tls): the caller fails
  // rather than fall back to plaintext when TLS was asked for.
  Backend(const ResdbToolsOptions& o,
          std::shared_ptr<grpc::ChannelCredentials> credentials)
      : options_(o),
        web_url_(absl::StripSuffix(o.web_url, "/")),
        stub_(v1::TraceService::NewStub(
            grpc::CreateChannel(GrpcTarget(o.collector), credentials))),
        kv_(o.kv) {}

  const ResdbToolsOptions& options() const { return options_; }
  v1::TraceService::Stub* stub() { return stub_.get(); }
  KvBackend& kv() { return *kv_; }

  std::string TimelineUrl(uint64_t seq) const {
    return absl::StrCat(web_url_, "/timeline/", seq);
  }

  void SetDeadline(grpc::ClientContext* ctx, int extra_s = 0) const {
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::seconds(options_.rpc_timeout_s + extra_s));
  }

  // An isError result for a failed collector call, with what to do next.
  ToolResult RpcError(const std::string& what, const grpc::Status& s) const {
    std::string hint;
    switch (s.error_code()) {
      case grpc::StatusCode::UNAVAILABLE:
        hint = absl::StrFormat(
            "Is resdb-trace-collector running and listening at %s? Start it "
            "(see docs/operations.md) or pass --collector ADDR to "
            "resdb-trace mcp.",
            options_.collector);
        break;
      case grpc::StatusCode::DEADLINE_EXCEEDED:
        hint =
            "The collector did not answer in time; it may be overloaded. "
            "Retry, or call collector_stats.";
        break;
      default:
        break;
    }
    return ToolResult::Error(
        absl::StrFormat("%s: collector at %s answered %s: %s%s%s", what,
                        options_.collector, StatusCodeName(s.error_code()),
                        s.error_message(), hint.empty() ? "" : "\n", hint));
  }

  void Remember(const std::string& key, const KvCommit& r) {
    absl::MutexLock l(&mu_);
    if (written_.size() >= kMaxRemembered && !written_.count(key)) {
      written_.erase(written_.begin());
    }
    written_[key] = r;
  }
  std::optional<KvCommit> Written(const std::string& key) const {
    absl::MutexLock l(&mu_);
    auto it = written_.find(key);
    if (it == written_.end()) return std::nullopt;
    return it->second;
  }
  std::vector<std::string> WrittenKeys(size_t most) const {
    absl::MutexLock l(&mu_);
    std::vector<std::string> out;
    for (const auto& [k, r] : written_) {
      if (out.size() == most) break;
      out.push_back(k);
    }
    return out;
  }

  static std::string StatusCodeName(grpc::StatusCode c) {
    switch (c) {
      case grpc::StatusCode::CANCELLED:
        return "CANCELLED";
      case grpc::StatusCode::INVALID_ARGUMENT:
        return "INVALID_ARGUMENT";
      case grpc::StatusCode::DEADLINE_EXCEEDED:
        return "DEADLINE_EXCEEDED";
      case grpc::StatusCode::NOT_FOUND:
        return "NOT_FOUND";
      case grpc::StatusCode::FAILED_PRECONDITION:
        return "FAILED_PRECONDITION";
      case grpc::StatusCode::RESOURCE_EXHAUSTED:
        return "RESOURCE_EXHAUSTED";
      case grpc::StatusCode::UNIMPLEMENTED:
        return "UNIMPLEMENTED";
      case grpc::StatusCode::UNAVAILABLE:
        return "UNAVAILABLE";
      case grpc::StatusCode::PERMISSION_DENIED:
        return "PERMISSION_DENIED";
      default:
        return absl::StrCat("code ", static_cast<int>(c));
    }
  }

 private:
  const ResdbToolsOptions options_;
  const std::string web_url_;
  std::unique_ptr<v1::TraceService::Stub> stub_;
  const std::shared_ptr<KvBackend> kv_;
  mutable absl::Mutex mu_;
  std::map<std::string, KvCommit> written_ ABSL_GUARDED_BY(mu_);
};

Json ProtoJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions jopt;
  jopt.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, jopt);
  std::string why;
  Json j = ParseJson(out, &why);
  return j.is_discarded() ? Json::object() : j;
}

double Ms(int64_t ns) { return static_cast<double>(ns) / 1e6; }

std::string StateName(v1::TimelineState s) {
  std::string n = v1::TimelineState_Name(s);
  return absl::StartsWith(n, "TIMELINE_STATE_") ? n.substr(15) : n;
}

Json Schema(Json properties, std::vector<std::string> required = {}) {
  Json s = {{"type", "object"},
            {"properties", std::move(properties)},
            {"additionalProperties", false}};
  if (!required.empty()) s["required"] = required;
  return s;
}

Json ReadOnly() {
  return Json{{"readOnlyHint", true}, {"openWorldHint", false}};
}

std::string KvText(const KvCommit& r) {
  return absl::StrFormat(
      "view %d; %d of %d replicas answered alike (r%s) in %.1f ms; client "
      "request %d:%d",
      r.view, r.matching.size(), r.replicas, absl::StrJoin(r.matching, ",r"),
      Ms(r.latency_ns), r.client_id, r.local_id);
}

Json KvJson(const KvCommit& r) {
  return Json{{"seq", r.seq},
              {"view", r.view},
              {"client_id", r.client_id},
              {"local_id", r.local_id},
              {"request", absl::StrCat(r.client_id, ":", r.local_id)},
              {"matching_replicas", r.matching},
              {"latency_ms", Ms(r.latency_ns)},
              {"resends", r.resends}};
}

ToolResult CommitKeyValue(Backend* b, const Json& args) {
  const std::string key = args.at("key").get<std::string>();
  const std::string value = args.at("value").get<std::string>();
  absl::StatusOr<KvCommit> r = b->kv().Set(key, value);
  if (!r.ok()) {
    return ToolResult::Error(
        absl::StrCat("commit_key_value failed: ", r.status().message()));
  }
  b->Remember(key, *r);
  ToolResult out;
  out.text = absl::StrFormat(
      "Committed %s = %s at PBFT sequence number %d (%s).\nTrace it: "
      "trace_request {\"seq\": %d} (or {\"key\": \"%s\"}); web view: %s",
      key, value, r->seq, KvText(*r), r->seq, key, b->TimelineUrl(r->seq));
  out.structured = KvJson(*r);
  out.structured["key"] = key;
  out.structured["value"] = value;
  out.structured["timeline_url"] = b->TimelineUrl(r->seq);
  return out;
}

ToolResult GetKeyValue(Backend* b, const Json& args) {
  const std::string key = args.at("key").get<std::string>();
  absl::StatusOr<KvCommit> r = b->kv().Get(key);
  if (!r.ok()) {
    return ToolResult::Error(
        absl::StrCat("get_key_value failed: ", r.status().message()));
  }
  const bool found = r->found;
  ToolResult out;
  out.text = found ? absl::StrFormat(
                         "%s = %s (read through consensus at seq "
                         "%d; %s)",
                         key, r->value, r->seq, KvText(*r))
                   : absl::StrFormat(
                         "%s is not set (read through consensus "
                         "at seq %d; %s)",
                         key, r->seq, KvText(*r));
  out.structured = KvJson(*r);
  out.structured["key"] = key;
  out.structured["found"] = found;
  out.structured["value"] = found ? Json(r->value) : Json(nullptr);
  out.structured["timeline_url"] = b->TimelineUrl(r->seq);
  return out;
}

ToolResult TraceRequest(Backend* b, const Json& args) {
  const int given = static_cast<int>(args.contains("seq")) +
                    static_cast<int>(args.contains("key")) +
                    static_cast<int>(args.contains("request"));
  if (given != 1) {
    return ToolResult::Error(
        "trace_request needs exactly one of: seq (a PBFT sequence number), "
        "key (a key commit_key_value wrote through this server), request "
        "(\"PROXY:LOCAL_ID\", e.g. \"100:17\")");
  }
  v1::GetTimelineRequest req;
  std::string what;
  if (args.contains("seq")) {
    req.set_seq(args["seq"].get<uint64_t>());
    what = absl::StrCat("seq ", req.seq());
  } else if (args.contains("key")) {
    const std::string key = args["key"].get<std::string>();
    std::optional<KvCommit> w = b->Written(key);
    if (!w) {
      std::vector<std::string> keys = b->WrittenKeys(10);
      return ToolResult::Error(absl::StrFormat(
          "key '%s' was not written through this MCP server, so its seq is "
          "unknown here (keys written: %s). Give seq instead (from "
          "commit_key_value, get_key_value or list_slow_requests).",
          key, keys.empty() ? "none yet" : absl::StrJoin(keys, ", ")));
    }
    req.set_seq(w->seq);
    what = absl::StrCat("seq ", w->seq, " (key ", key, ")");
  } else {
    const std::string spec = args["request"].get<std::string>();
    std::vector<std::string> parts = absl::StrSplit(spec, ':');
    uint64_t proxy = 0, local = 0;
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &proxy) ||
        !absl::SimpleAtoi(parts[1], &local)) {
      return ToolResult::Error(absl::StrFormat(
          "request '%s' is not PROXY:LOCAL_ID (two numbers, e.g. \"100:17\": "
          "the client's proxy id and its local request id)",
          spec));
    }
    req.mutable_request()->set_proxy_id(proxy);
    req.mutable_request()->set_local_id(local);
    what = absl::StrCat("request ", spec);
  }
  const int width = args.value("width", 72);
  const double wait_s = args.value("wait_seconds", 5.0);
  const auto until =
      std::chrono::steady_clock::now() +
      std::chrono::milliseconds(static_cast<int64_t>(wait_s * 1000));
  v1::Timeline t;
  grpc::Status s;
  while (true) {
    grpc::ClientContext ctx;
    b->SetDeadline(&ctx);
    s = b->stub()->GetTimeline(&ctx, req, &t);
    const bool retry = (s.error_code() == grpc::StatusCode::NOT_FOUND ||
                        (s.ok() && t.state() == v1::TIMELINE_STATE_OPEN)) &&
                       std::chrono::steady_clock::now() < until;
    if (!retry) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (s.error_code() == grpc::StatusCode::NOT_FOUND) {
    return ToolResult::Error(absl::StrFormat(
        "no timeline for %s after waiting %.0f s: the collector has not seen "
        "it (is it tracing the replicas? collector_stats lists the attached "
        "hooks), or it aged out (the collector keeps the newest "
        "--timeline-retained, default 4096)%s",
        what, wait_s,
        req.has_request()
            ? ". A lookup by request needs the client's client_batch_sent "
              "event: the client binary must be traced too"
            : ""));
  }
  if (!s.ok()) return b->RpcError("trace_request", s);
  ToolResult out;
  out.text = RenderTimeline(t, width);
  if (t.state() == v1::TIMELINE_STATE_OPEN) {
    absl::StrAppendFormat(&out.text,
                          "\n(still open after %.0f s: events may still "
                          "arrive; call again for the final picture)",
                          wait_s);
  }
  absl::StrAppend(&out.text, "\nWeb view: ", b->TimelineUrl(t.seq()), "\n");
  Json replicas = Json::array();
  for (const auto& r : t.replicas()) replicas.push_back(r.replica_id());
  Json requests = Json::array();
  for (const auto& q : t.requests()) {
    Json j = {{"proxy_id", q.proxy_id()}};
    if (q.has_local_id()) j["local_id"] = q.local_id();
    if (q.has_latency_ns()) j["latency_ms"] = Ms(q.latency_ns());
    requests.push_back(std::move(j));
  }
  out.structured = {{"seq", t.seq()},
                    {"view", t.view()},
                    {"state", StateName(t.state())},
                    {"replicas", replicas},
                    {"requests", requests},
                    {"completeness", t.completeness().score()},
                    {"missing_events", t.completeness().missing_size()},
                    {"timeline_url", b->TimelineUrl(t.seq())}};
  if (t.has_primary()) out.structured["primary"] = t.primary();
  if (t.has_commit_latency_ns()) {
    out.structured["commit_latency_ms"] = Ms(t.commit_latency_ns());
  }
  if (t.has_execute_latency_ns()) {
    out.structured["execute_latency_ms"] = Ms(t.execute_latency_ns());
  }
  return out;
}

ToolResult TraceProfile(Backend* b, const Json& args) {
  v1::GetProfileRequest req;
  req.add_formats(v1::PROFILE_FORMAT_MARKDOWN);
  if (args.contains("replica")) {
    req.add_replica_ids(args["replica"].get<uint32_t>());
  }
  if (args.contains("seconds") && args.contains("last_seconds")) {
    return ToolResult::Error(
        "give seconds (sample now for that long) or last_seconds (use what "
        "was already sampled), not both");
  }
  uint32_t sampling = 0;
  std::string window = "the last 10 s already sampled";
  if (args.contains("seconds")) {
    sampling = args["seconds"].get<uint32_t>();
    req.set_seconds(sampling);
    window = absl::StrCat("a fresh ", sampling, " s sample");
  } else if (args.contains("last_seconds")) {
    req.set_last_seconds(args["last_seconds"].get<uint32_t>());
    window =
        absl::StrCat("the last ", req.last_seconds(), " s already sampled");
  }
  if (args.contains("phase")) {
    // Token by token, so the error names the one that is wrong in this
    // tool's words.
    for (absl::string_view p : absl::StrSplit(args["phase"].get<std::string>(),
                                              ',', absl::SkipWhitespace())) {
      p = absl::StripAsciiWhitespace(p);
      absl::StatusOr<uint32_t> id = catalogue::ParsePhase(p);
      if (!id.ok()) {
        return ToolResult::Error(
            absl::StrFormat("phase '%s' is not a PBFT phase: give %s", p,
                            catalogue::PhaseSyntax()));
      }
      req.add_phase_hook_ids(*id);
    }
  }
  grpc::ClientContext ctx;
  b->SetDeadline(&ctx, static_cast<int>(sampling) + 30);
  v1::Profile p;
  grpc::Status s = b->stub()->GetProfile(&ctx, req, &p);
  if (s.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
    return ToolResult::Error(absl::StrCat(
        "trace_profile: the collector does not profile: ", s.error_message(),
        "\nRestart resdb-trace-collector with --profile (99 Hz) to enable "
        "CPU profiles."));
  }
  if (!s.ok()) return b->RpcError("trace_profile", s);
  ToolResult out;
  const uint64_t samples = p.counters().samples();
  out.text = absl::StrFormat(
      "CPU profile of %s%s%s: %d samples at %d Hz\n\n",
      args.contains("replica") ? absl::StrCat("replica ", req.replica_ids(0))
                               : std::string("every traced replica"),
      args.contains("phase")
          ? absl::StrCat(", phase ", args["phase"].get<std::string>())
          : std::string(),
      absl::StrCat(" over ", window), samples, p.frequency_hz());
  if (samples == 0) {
    absl::StrAppend(
        &out.text,
        "No samples in this window. Are replicas running and busy (a "
        "profile only sees CPU time)? Try {\"seconds\": 5} while load runs, "
        "or a wider last_seconds.\n\n");
  }
  absl::StrAppend(&out.text, p.markdown());
  Json phases = Json::array();
  for (const auto& ph : p.phases()) {
    phases.push_back({{"phase", ph.name()}, {"samples", ph.samples()}});
  }
  out.structured = {
      {"samples", samples},
      {"frequency_hz", p.frequency_hz()},
      {"pids", Json(std::vector<uint32_t>(p.pids().begin(), p.pids().end()))},
      {"phases", phases}};
  return out;
}

ToolResult ListSlowRequests(Backend* b, const Json& args) {
  const size_t limit = args.value("limit", 10);
  v1::ListTimelinesRequest req;
  req.set_summary_only(true);
  req.set_limit(10000);  // the collector's maximum
  const double min_ms = args.value("min_latency_ms", 0.0);
  req.set_slower_than_ns(static_cast<int64_t>(min_ms * 1e6));
  req.set_incomplete_only(args.value("incomplete_only", false));
  grpc::ClientContext ctx;
  b->SetDeadline(&ctx);
  v1::ListTimelinesResponse resp;
  grpc::Status s = b->stub()->ListTimelines(&ctx, req, &resp);
  if (!s.ok()) return b->RpcError("list_slow_requests", s);
  auto latency = [](const v1::Timeline& t) -> int64_t {
    if (t.has_execute_latency_ns()) return t.execute_latency_ns();
    if (t.has_commit_latency_ns()) return t.commit_latency_ns();
    return t.duration_ns();
  };
  std::vector<const v1::Timeline*> all;
  for (const auto& t : resp.timelines()) all.push_back(&t);
  std::stable_sort(all.begin(), all.end(),
                   [&](const v1::Timeline* a, const v1::Timeline* b2) {
                     return latency(*a) > latency(*b2);
                   });
  if (all.size() > limit) all.resize(limit);
  ToolResult out;
  Json rows = Json::array();
  out.text = absl::StrFormat(
      "%d slowest of %d retained timelines (by execute latency: primary's "
      "pre-prepare to the quorum's execution%s%s):\n",
      all.size(), resp.timelines_size(),
      min_ms > 0 ? absl::StrFormat("; at least %.3f ms", min_ms) : "",
      req.incomplete_only() ? "; incomplete only" : "");
  for (const v1::Timeline* t : all) {
    absl::StrAppendFormat(
        &out.text,
        "seq %-7d view %-2d %-10s commit %-10s execute %-10s completeness "
        "%.2f  %s\n",
        t->seq(), t->view(), StateName(t->state()),
        t->has_commit_latency_ns() ? FormatDuration(t->commit_latency_ns())
                                   : "-",
        t->has_execute_latency_ns() ? FormatDuration(t->execute_latency_ns())
                                    : "-",
        t->completeness().score(), b->TimelineUrl(t->seq()));
    Json row = {{"seq", t->seq()},
                {"view", t->view()},
                {"state", StateName(t->state())},
                {"completeness", t->completeness().score()},
                {"timeline_url", b->TimelineUrl(t->seq())}};
    if (t->has_commit_latency_ns()) {
      row["commit_latency_ms"] = Ms(t->commit_latency_ns());
    }
    if (t->has_execute_latency_ns()) {
      row["execute_latency_ms"] = Ms(t->execute_latency_ns());
    }
    rows.push_back(std::move(row));
  }
  if (all.empty()) {
    absl::StrAppend(
        &out.text,
        "(none matched: is traffic flowing through traced "
        "replicas? Lower min_latency_ms, or see collector_stats)\n");
  } else {
    absl::StrAppend(&out.text, "Trace one with trace_request {\"seq\": N}.\n");
  }
  out.structured = {{"requests", rows},
                    {"retained", resp.timelines_size()},
                    {"stats", ProtoJson(resp.stats())}};
  return out;
}

ToolResult ViewChanges(Backend* b, const Json&) {
  grpc::ClientContext ctx;
  b->SetDeadline(&ctx);
  v1::ListViewChangesResponse resp;
  grpc::Status s =
      b->stub()->ListViewChanges(&ctx, v1::ListViewChangesRequest(), &resp);
  if (!s.ok()) return b->RpcError("view_changes", s);
  ToolResult out;
  if (resp.episodes_size() == 0) {
    out.text =
        "No view changes seen: the primary has not been replaced "
        "since the collector started.\n";
  }
  for (const auto& e : resp.episodes()) {
    absl::StrAppend(&out.text, RenderViewChange(e), "\n");
  }
  for (const auto& a : resp.anomalies()) {
    absl::StrAppend(&out.text, "ANOMALY ", a.description(), "\n");
  }
  if (resp.anomalies_size() == 0) {
    absl::StrAppend(&out.text,
                    "No safety anomalies (no conflicting commits "
                    "or executions).\n");
  }
  out.structured = ProtoJson(resp);
  out.structured["episode_count"] = resp.episodes_size();
  out.structured["anomaly_count"] = resp.anomalies_size();
  return out;
}

ToolResult CollectorStats(Backend* b, const Json&) {
  grpc::ClientContext ctx;
  b->SetDeadline(&ctx);
  v1::Stats st;
  grpc::Status s = b->stub()->GetStats(&ctx, v1::GetStatsRequest(), &st);
  if (!s.ok()) return b->RpcError("collector_stats", s);
  int attached = 0;
  std::vector<std::string> problems;
  for (const auto& a : st.attachments()) {
    if (a.status() == v1::ATTACH_STATUS_ATTACHED) {
      ++attached;
    } else if (problems.size() < 10) {
      problems.push_back(
          absl::StrFormat("%s in %s: %s %s", a.hook_name(), a.binary(),
                          v1::AttachStatus_Name(a.status()), a.message()));
    }
  }
  ToolResult out;
  out.text = absl::StrFormat(
      "collector %s\nrecords read %d, events decoded %d, malformed %d, "
      "ring-buffer drops %d\nsubscribers %d\nhooks attached %d of %d\n",
      b->options().collector, st.records_read(), st.events_decoded(),
      st.records_malformed(), st.ringbuf_drops_total(), st.subscribers_size(),
      attached, st.attachments_size());
  for (const std::string& p : problems) {
    absl::StrAppend(&out.text, "  not attached: ", p, "\n");
  }
  if (st.has_timelines()) {
    const auto& t = st.timelines();
    absl::StrAppendFormat(
        &out.text,
        "timelines complete %d, incomplete %d, evicted %d, open %d, view "
        "changes %d, anomalies %d, builder drops %d\n",
        t.complete(), t.incomplete(), t.evicted(), t.open(), t.view_changes(),
        t.anomalies(), t.events_dropped());
  }
  out.structured = ProtoJson(st);
  out.structured["hooks_attached"] = attached;
  return out;
}

}  // namespace

std::string GrpcTarget(const std::string& address) {
  if (absl::StartsWith(address, "unix:")) {
    std::string path = address.substr(5);
    if (absl::StartsWith(path, "//")) path = path.substr(2);
    return "unix://" + path;
  }
  return address;
}

std::string ResdbInstructions() {
  return "resdb-trace traces PBFT consensus (Apache ResilientDB's protocol) "
         "with eBPF on every replica. Typical workflow: commit_key_value "
         "writes a key through the demo cluster and returns the PBFT "
         "sequence number (seq) it committed at; trace_request {seq} shows "
         "that request on every replica (pre-prepare, prepare and commit "
         "quorums, execution, reply, stragglers, missing events) with a web "
         "link; trace_profile gives a markdown CPU profile, optionally for "
         "one replica and one PBFT phase; list_slow_requests, view_changes "
         "and collector_stats give the wider picture.";
}

absl::Status RegisterResdbTools(McpServer* server,
                                const ResdbToolsOptions& options) {
  if (options.kv == nullptr) {
    return absl::InvalidArgumentError(
        "the key-value tools need a KvBackend (resdb-trace mcp --kv-backend)");
  }
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      MakeChannelCredentials(options.tls);
  if (!credentials.ok()) {
    // Never plaintext instead: the operator asked for TLS.
    return absl::InvalidArgumentError(
        absl::StrCat("TLS to the collector at ", options.collector, ": ",
                     credentials.status().message()));
  }
  auto b = std::make_shared<Backend>(options, *std::move(credentials));
  const Json key = {
      {"type", "string"},
      {"minLength", 1},
      {"maxLength", 256},
      {"description", "The key: one word, no whitespace (e.g. \"user42\")."}};
  std::vector<Tool> tools;
  tools.push_back(Tool{
      "commit_key_value", "Commit a key-value pair",
      "Writes key = value through PBFT consensus on the demo cluster (a "
      "\"set\" transaction sent to the primary; done when f+1 replicas "
      "answered alike). Returns the PBFT sequence number (seq) it executed "
      "at, the view, the answering replicas and the client request id; pass "
      "the seq to trace_request to see the request on every replica.",
      Schema({{"key", key},
              {"value",
               {{"type", "string"},
                {"minLength", 1},
                {"maxLength", 4096},
                {"description",
                 "The value; spaces allowed, no control characters."}}}},
             {"key", "value"}),
      Json{{"readOnlyHint", false},
           {"destructiveHint", false},
           {"idempotentHint", false},
           {"openWorldHint", false}},
      [b](const Json& a) { return CommitKeyValue(b.get(), a); }});
  tools.push_back(
      Tool{"get_key_value", "Read a key",
           "Reads a key through PBFT consensus on the demo cluster (a \"get\" "
           "transaction, ordered like every other). Returns the value (or that "
           "the key is not set) and the seq the read executed at.",
           Schema({{"key", key}}, {"key"}), ReadOnly(),
           [b](const Json& a) { return GetKeyValue(b.get(), a); }});
  tools.push_back(Tool{
      "trace_request", "Trace one request through PBFT",
      "The timeline of one consensus instance across every traced replica: "
      "a lane per replica (Q request, P pre-prepare, p prepare received, # "
      "prepared, c commit received, C committed, x executed, R replied), "
      "stage times, when the prepare and commit quorums formed and from "
      "whom, stragglers, missing events, latencies; plus a link to the web "
      "view. Give exactly one of seq, key or request. Waits up to "
      "wait_seconds for a just-committed request's timeline to close.",
      Schema({{"seq",
               {{"type", "integer"},
                {"minimum", 0},
                {"description", "PBFT sequence number."}}},
              {"key",
               {{"type", "string"},
                {"minLength", 1},
                {"description",
                 "A key commit_key_value wrote through this server: traces "
                 "that write."}}},
              {"request",
               {{"type", "string"},
                {"minLength", 3},
                {"description",
                 "Client request as \"PROXY:LOCAL_ID\", e.g. \"100:17\"."}}},
              {"width",
               {{"type", "integer"},
                {"minimum", 40},
                {"maximum", 200},
                {"description", "Diagram width in columns (default 72)."}}},
              {"wait_seconds",
               {{"type", "number"},
                {"minimum", 0},
                {"maximum", 30},
                {"description",
                 "Longest wait for the timeline to appear and close "
                 "(default 5)."}}}}),
      ReadOnly(), [b](const Json& a) { return TraceRequest(b.get(), a); }});
  tools.push_back(Tool{
      "trace_profile", "CPU profile of the replicas",
      "A markdown summary of a CPU profile of the traced replicas: top "
      "functions by flat and cumulative share, hottest paths, and the "
      "split by PBFT phase (each sample is tagged with the phase its thread "
      "was in). By default the last 10 s already sampled; seconds samples "
      "afresh (the call takes that long). Needs the collector started with "
      "--profile.",
      Schema({{"replica",
               {{"type", "integer"},
                {"minimum", 0},
                {"maximum", 4294967295u},
                {"description", "Only this replica id (default: all)."}}},
              {"seconds",
               {{"type", "integer"},
                {"minimum", 1},
                {"maximum", 60},
                {"description", "Sample now for this many seconds."}}},
              {"last_seconds",
               {{"type", "integer"},
                {"minimum", 1},
                {"maximum", 3600},
                {"description",
                 "Use the samples of the last this many seconds."}}},
              {"phase",
               {{"type", "string"},
                {"minLength", 1},
                {"description",
                 "Only samples in these phases, comma-separated: prepare, "
                 "commit, pre_prepare, execute, request, or hook names "
                 "(commit_received, ...), or none."}}}}),
      ReadOnly(), [b](const Json& a) { return TraceProfile(b.get(), a); }});
  tools.push_back(Tool{
      "list_slow_requests", "Slowest recent requests",
      "The slowest consensus instances the collector retains (the newest "
      "4096 by default), slowest first, by execute latency (primary's "
      "pre-prepare to the quorum's execution): seq, view, state, commit and "
      "execute latency, completeness, web link.",
      Schema({{"limit",
               {{"type", "integer"},
                {"minimum", 1},
                {"maximum", 100},
                {"description", "How many (default 10)."}}},
              {"min_latency_ms",
               {{"type", "number"},
                {"minimum", 0},
                {"maximum", 3600000},
                {"description", "Only those at least this slow."}}},
              {"incomplete_only",
               {{"type", "boolean"},
                {"description",
                 "Only timelines with missing events (lost, or replicas "
                 "that never got there)."}}}}),
      ReadOnly(), [b](const Json& a) { return ListSlowRequests(b.get(), a); }});
  tools.push_back(Tool{
      "view_changes", "View changes and anomalies",
      "Every view-change episode the collector saw (old and new view and "
      "primary, who triggered it, when the new view was installed, how long "
      "the cluster made no progress) and safety anomalies (conflicting "
      "commits).",
      Schema(Json::object()), ReadOnly(),
      [b](const Json& a) { return ViewChanges(b.get(), a); }});
  tools.push_back(Tool{
      "collector_stats", "Collector health",
      "The collector's counters: events read and decoded, ring-buffer "
      "drops, subscribers, which hooks are attached to which binaries, and "
      "timeline counts (complete, incomplete, view changes, anomalies).",
      Schema(Json::object()), ReadOnly(),
      [b](const Json& a) { return CollectorStats(b.get(), a); }});
  for (Tool& t : tools) {
    absl::Status s = server->AddTool(std::move(t));
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace resdb_trace::collector::mcp
