#include "collector/metrics/collector_metrics.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "collector/metrics/process_stats.h"
#include "lib/status_macros.h"

namespace resdb_trace::collector {
namespace {

std::string PhaseLabel(v1::Phase p) {
  std::string n = v1::Phase_Name(p);
  if (n.rfind("PHASE_", 0) == 0) n = n.substr(6);
  return absl::AsciiStrToLower(n);
}

double Seconds(int64_t ns) { return static_cast<double>(ns) / 1e9; }

}  // namespace

absl::StatusOr<std::unique_ptr<CollectorMetrics>> CollectorMetrics::Create(
    Collector* collector, TimelineRunner* timelines,
    const v1::BuildInfo& build) {
  std::unique_ptr<CollectorMetrics> m(new CollectorMetrics());
  RETURN_IF_ERROR(m->Init(collector, timelines, build));
  return m;
}

CollectorMetrics::~CollectorMetrics() { Stop(); }

void CollectorMetrics::Stop() {
  std::call_once(stopped_, [this] {
    sub_.Unsubscribe();
    if (thread_.joinable()) thread_.join();
  });
}

absl::Status CollectorMetrics::Init(Collector* c, TimelineRunner* timelines,
                                    const v1::BuildInfo& build) {
  metrics::Registry& r = registry_;
  // The Prometheus *_build_info convention: constant 1, the build in labels,
  // so a query can join it onto any other series.
  ASSIGN_OR_RETURN(metrics::Family<metrics::Gauge> * build_info,
                   r.AddGaugeFamily("resdb_trace_build_info",
                                    "The collector's version and git commit; "
                                    "always 1.",
                                    {"version", "commit"}));
  ASSIGN_OR_RETURN(metrics::Gauge * build_gauge,
                   build_info->WithLabels({build.version(), build.commit()}));
  build_gauge->Set(1);
  // Pipeline, read at scrape time.
  RETURN_IF_ERROR(r.AddCallbackCounter(
      "resdb_trace_events_total", "Events the collector published.",
      [c] { return static_cast<double>(c->published()); }));
  RETURN_IF_ERROR(r.AddCallbackCounter(
      "resdb_trace_records_malformed_total",
      "Ring-buffer records the decoder rejected.",
      [c] { return static_cast<double>(c->malformed()); }));
  RETURN_IF_ERROR(r.AddCallbackCounterFamily(
      "resdb_trace_ringbuf_drops_total",
      "Hook hits lost in the kernel because the ring buffer was full, per CPU.",
      {"cpu"}, [c] {
        std::vector<metrics::Sample> out;
        const v1::Stats s = c->Stats();
        for (int i = 0; i < s.ringbuf_drops_per_cpu_size(); ++i) {
          out.push_back({{absl::StrCat(i)},
                         static_cast<double>(s.ringbuf_drops_per_cpu(i))});
        }
        return out;
      }));
  RETURN_IF_ERROR(r.AddCallbackCounterFamily(
      "resdb_trace_subscriber_dropped_total",
      "Events a subscriber (gRPC stream, timeline builder, JSON writer) lost "
      "because its queue was full.",
      {"subscriber", "name"}, [c] {
        std::vector<metrics::Sample> out;
        for (const SubscriberStats& s : c->hub().Stats()) {
          out.push_back({{absl::StrCat(s.id), s.name},
                         static_cast<double>(s.queue.dropped)});
        }
        return out;
      }));
  RETURN_IF_ERROR(r.AddCallbackGaugeFamily(
      "resdb_trace_hook_attached",
      "1 when the hook is attached to the target, 0 when missing or failed.",
      {"binary", "pid", "hook"}, [c] {
        std::vector<metrics::Sample> out;
        for (const AttachReport& a : c->attach_reports()) {
          for (const HookAttachResult& h : a.hooks) {
            out.push_back({{a.binary_path, absl::StrCat(a.pid), h.symbol},
                           h.state == HookAttachState::kAttached ? 1.0 : 0.0});
          }
        }
        return out;
      }));
  // The collector's own footprint (Stats.process); process_* follow the
  // Prometheus client conventions.
  RETURN_IF_ERROR(r.AddCallbackGauge(
      "process_resident_memory_bytes", "The collector's resident set size.",
      [] { return static_cast<double>(ReadProcessStats().rss_bytes()); }));
  RETURN_IF_ERROR(r.AddCallbackGauge(
      "process_open_fds", "The collector's open file descriptors.",
      [] { return static_cast<double>(ReadProcessStats().open_fds()); }));
  RETURN_IF_ERROR(r.AddCallbackGauge(
      "resdb_trace_heap_in_use_bytes",
      "Bytes in the collector's live heap allocations (a leak grows this).",
      [] {
        return static_cast<double>(ReadProcessStats().heap_in_use_bytes());
      }));
  // Reads an atomic of the registry, the one call a callback may make.
  RETURN_IF_ERROR(r.AddCallbackCounter(
      "resdb_trace_metrics_callback_errors_total",
      "Scrapes at which a metric callback threw; its family rendered empty.",
      [&r] { return static_cast<double>(r.callback_errors()); }));
  RETURN_IF_ERROR(r.AddCallbackGauge(
      "resdb_trace_heap_free_bytes",
      "Free heap the collector's allocator keeps for reuse.", [] {
        return static_cast<double>(ReadProcessStats().heap_free_bytes());
      }));
  if (timelines == nullptr) return absl::OkStatus();

  TimelineBuilder* b = &timelines->builder();
  RETURN_IF_ERROR(r.AddCallbackGauge(
      "resdb_trace_timelines_open", "Timelines still collecting events.",
      [b] { return static_cast<double>(b->Stats().open()); }));
  RETURN_IF_ERROR(r.AddCallbackCounter(
      "resdb_trace_timeline_events_dropped_total",
      "Events the timeline builder lost because its queue was full.",
      [b] { return static_cast<double>(b->Stats().events_dropped()); }));
  ASSIGN_OR_RETURN(
      phase_,
      r.AddHistogramFamily("resdb_trace_phase_duration_seconds",
                           "Time a replica spent in a PBFT phase, per closed "
                           "timeline (docs/timelines.md).",
                           {"replica", "phase"}));
  ASSIGN_OR_RETURN(quorum_, r.AddHistogramFamily(
                                "resdb_trace_quorum_formation_seconds",
                                "Pre-prepare at the replica -> arrival of the "
                                "2f+1-th matching vote.",
                                {"replica", "phase"}));
  ASSIGN_OR_RETURN(commit_latency_,
                   r.AddHistogram("resdb_trace_commit_latency_seconds",
                                  "Primary's pre-prepare -> 2f+1 replicas "
                                  "committed."));
  ASSIGN_OR_RETURN(execute_latency_,
                   r.AddHistogram("resdb_trace_execute_latency_seconds",
                                  "Primary's pre-prepare -> 2f+1 replicas "
                                  "executed."));
  ASSIGN_OR_RETURN(client_latency_,
                   r.AddHistogram("resdb_trace_client_latency_seconds",
                                  "Proxy sent the batch -> proxy answered "
                                  "its client (f+1 replies)."));
  ASSIGN_OR_RETURN(
      timelines_,
      r.AddCounterFamily("resdb_trace_timelines_total",
                         "Timelines closed, by final state.", {"state"}));
  ASSIGN_OR_RETURN(requests_,
                   r.AddCounter("resdb_trace_requests_total",
                                "Client requests in closed timelines "
                                "(throughput: rate() of this)."));
  ASSIGN_OR_RETURN(view_changes_, r.AddCounter("resdb_trace_view_changes_total",
                                               "View-change episodes begun."));
  ASSIGN_OR_RETURN(
      view_change_seconds_,
      r.AddHistogram("resdb_trace_view_change_no_progress_seconds",
                     "Last execution before a view change -> first after it.",
                     metrics::ExponentialBuckets(0.01, 2, 14)));
  ASSIGN_OR_RETURN(anomalies_,
                   r.AddCounterFamily("resdb_trace_anomalies_total",
                                      "Safety anomalies detected.", {"kind"}));

  SubscriberOptions<v1::TimelineUpdate> sopt;
  sopt.capacity = 1 << 16;
  sopt.name = "metrics";
  ASSIGN_OR_RETURN(sub_, timelines->updates().Subscribe(std::move(sopt)));
  thread_ = std::thread([this] {
    std::vector<std::shared_ptr<const v1::TimelineUpdate>> out;
    while (true) {
      PopResult res = sub_.PopBatch(1024, absl::ZeroDuration(), &out,
                                    absl::Milliseconds(200));
      for (const auto& u : out) Observe(*u);
      out.clear();
      if (res.closed) return;
    }
  });
  return absl::OkStatus();
}

metrics::Histogram* CollectorMetrics::Phase(v1::Phase p, uint32_t replica) {
  auto key = std::make_pair(static_cast<int>(p), replica);
  auto it = phase_children_.find(key);
  if (it != phase_children_.end()) return it->second;
  auto h = phase_->WithLabels({absl::StrCat(replica), PhaseLabel(p)});
  return phase_children_[key] = h.ok() ? *h : nullptr;
}

metrics::Histogram* CollectorMetrics::QuorumTime(v1::Phase p,
                                                 uint32_t replica) {
  auto key = std::make_pair(static_cast<int>(p), replica);
  auto it = quorum_children_.find(key);
  if (it != quorum_children_.end()) return it->second;
  auto h = quorum_->WithLabels({absl::StrCat(replica), PhaseLabel(p)});
  return quorum_children_[key] = h.ok() ? *h : nullptr;
}

void CollectorMetrics::Observe(const v1::TimelineUpdate& u) {
  if (phase_ == nullptr) return;
  if (u.has_timeline()) {
    const v1::Timeline& t = u.timeline();
    // A reopened timeline (re-proposed after it closed) was counted and
    // observed when it first closed.
    if (t.closes() > 1) return;
    std::string state = v1::TimelineState_Name(t.state());
    if (state.rfind("TIMELINE_STATE_", 0) == 0) state = state.substr(15);
    if (auto c = timelines_->WithLabels({absl::AsciiStrToLower(state)});
        c.ok()) {
      (*c)->Increment();
    }
    requests_->Increment(t.requests_size());
    if (t.has_commit_latency_ns()) {
      commit_latency_->Observe(Seconds(t.commit_latency_ns()));
    }
    if (t.has_execute_latency_ns()) {
      execute_latency_->Observe(Seconds(t.execute_latency_ns()));
    }
    for (const auto& q : t.requests()) {
      if (q.has_latency_ns()) client_latency_->Observe(Seconds(q.latency_ns()));
    }
    for (const auto& span : t.phases()) {
      for (const auto& d : span.durations()) {
        if (auto* h = Phase(span.phase(), d.replica_id())) {
          h->Observe(Seconds(d.duration_ns()));
        }
      }
    }
    for (const auto& r : t.replicas()) {
      if (!r.has_pre_prepare_offset_ns()) continue;
      for (const v1::Quorum* q : {&r.prepare_quorum(), &r.commit_quorum()}) {
        if (!q->has_formed_offset_ns()) continue;
        if (auto* h = QuorumTime(q->phase(), r.replica_id())) {
          h->Observe(
              Seconds(q->formed_offset_ns() - r.pre_prepare_offset_ns()));
        }
      }
    }
  } else if (u.has_view_change()) {
    const v1::ViewChangeEpisode& e = u.view_change();
    if (!e.finished()) {
      view_changes_->Increment();
    } else if (e.has_no_progress_ns()) {
      view_change_seconds_->Observe(Seconds(e.no_progress_ns()));
    }
  } else if (u.has_anomaly()) {
    std::string kind = v1::Anomaly::Kind_Name(u.anomaly().kind());
    if (kind.rfind("KIND_", 0) == 0) kind = kind.substr(5);
    if (auto c = anomalies_->WithLabels({absl::AsciiStrToLower(kind)});
        c.ok()) {
      (*c)->Increment();
    }
  }
}

}  // namespace resdb_trace::collector
