#include "clients/render/timeline_text.h"

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "resdb_trace/v1/events.pb.h"

namespace resdb_trace::collector {
namespace {

char Glyph(v1::EventType t) {
  switch (t) {
    case v1::EVENT_TYPE_REQUEST_RECEIVED:
      return 'Q';
    case v1::EVENT_TYPE_PRE_PREPARE_SENT:
    case v1::EVENT_TYPE_PRE_PREPARE_RECEIVED:
      return 'P';
    case v1::EVENT_TYPE_PREPARE_SENT:
    case v1::EVENT_TYPE_COMMIT_SENT:
      return 0;  // sends are implied by the receipts; keep lanes readable
    case v1::EVENT_TYPE_PREPARE_RECEIVED:
      return 'p';
    case v1::EVENT_TYPE_PREPARED:
      return '#';
    case v1::EVENT_TYPE_COMMIT_RECEIVED:
      return 'c';
    case v1::EVENT_TYPE_COMMITTED:
      return 'C';
    case v1::EVENT_TYPE_EXECUTE_START:
      return 0;
    case v1::EVENT_TYPE_EXECUTE_END:
      return 'x';
    case v1::EVENT_TYPE_REPLY_SENT:
      return 'R';
    default:
      return '?';
  }
}

// Later stages win a shared column.
int Rank(char g) {
  static const std::string kOrder = "?pcQPx#CR";
  size_t i = kOrder.find(g);
  return i == std::string::npos ? 0 : static_cast<int>(i);
}

std::string Ms(const bool has, int64_t ns) {
  return has ? absl::StrFormat("%.3f", ns / 1e6) : std::string("-");
}

std::string TypeName(v1::EventType t) {
  std::string n = v1::EventType_Name(t);
  if (n.rfind("EVENT_TYPE_", 0) == 0) n = n.substr(11);
  return absl::AsciiStrToLower(n);
}

std::string StateName(v1::TimelineState s) {
  std::string n = v1::TimelineState_Name(s);
  if (n.rfind("TIMELINE_STATE_", 0) == 0) n = n.substr(15);
  return n;
}

std::string QuorumText(const v1::Quorum& q, bool present) {
  if (!present) return "-";
  std::string at = q.has_formed_offset_ns()
                       ? absl::StrFormat("%.3f", q.formed_offset_ns() / 1e6)
                       : std::string("?");
  return absl::StrFormat(
      "%s [%s]", at,
      absl::StrJoin(q.members(), ",", [](std::string* o, uint32_t r) {
        absl::StrAppend(o, "r", r);
      }));
}

int64_t Percentile(std::vector<int64_t> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

}  // namespace

std::string FormatDuration(int64_t ns) {
  const double a = static_cast<double>(ns < 0 ? -ns : ns);
  if (a >= 1e9) return absl::StrFormat("%.2f s", ns / 1e9);
  if (a >= 1e6) return absl::StrFormat("%.3f ms", ns / 1e6);
  if (a >= 1e3) return absl::StrFormat("%.1f us", ns / 1e3);
  return absl::StrFormat("%d ns", ns);
}

std::string PhaseName(v1::Phase phase) {
  std::string n = v1::Phase_Name(phase);
  if (n.rfind("PHASE_", 0) == 0) n = n.substr(6);
  return absl::AsciiStrToLower(n);
}

std::string RenderTimeline(const v1::Timeline& t, int width) {
  width = std::max(width, 20);
  std::string out;
  absl::StrAppendFormat(
      &out, "seq %d  view %d  primary %s  state %s  completeness %.2f", t.seq(),
      t.view(), t.has_primary() ? absl::StrCat("r", t.primary()) : "?",
      StateName(t.state()), t.completeness().score());
  if (t.has_commit_latency_ns()) {
    absl::StrAppend(&out, "  commit ", FormatDuration(t.commit_latency_ns()));
  }
  if (t.has_execute_latency_ns()) {
    absl::StrAppend(&out, "  execute ", FormatDuration(t.execute_latency_ns()));
  }
  absl::StrAppend(&out, "\n");
  if (t.has_digest_prefix()) {
    absl::StrAppendFormat(&out, "digest %016x", t.digest_prefix());
  }
  if (t.views_size() > 1) {
    absl::StrAppend(&out, "  proposed in views ",
                    absl::StrJoin(t.views(), ","));
  }
  absl::StrAppend(&out,
                  t.has_digest_prefix() || t.views_size() > 1 ? "\n" : "");
  for (const auto& q : t.requests()) {
    absl::StrAppendFormat(&out, "request proxy %d", q.proxy_id());
    if (q.has_local_id())
      absl::StrAppendFormat(&out, " local_id %d", q.local_id());
    if (q.has_sent_offset_ns()) {
      absl::StrAppend(&out, ": sent at ", FormatDuration(q.sent_offset_ns()));
    }
    if (q.has_replied_offset_ns()) {
      absl::StrAppend(&out, ", client answered at ",
                      FormatDuration(q.replied_offset_ns()), " (",
                      q.matching_replies(), " matching replies)");
    }
    if (q.has_latency_ns()) {
      absl::StrAppend(&out, ", latency ", FormatDuration(q.latency_ns()));
    }
    absl::StrAppend(&out, "\n");
  }

  // Lanes.
  const int64_t span = std::max<int64_t>(t.duration_ns(), 1);
  absl::StrAppendFormat(&out, "\n      %-*s%s\n", width - 8, "0",
                        FormatDuration(t.duration_ns()));
  for (const auto& r : t.replicas()) {
    std::string lane(static_cast<size_t>(width), ' ');
    for (const auto& m : r.marks()) {
      const char g = Glyph(m.type());
      if (g == 0) continue;
      int64_t col = m.offset_ns() * (width - 1) / span;
      col = std::clamp<int64_t>(col, 0, width - 1);
      char& cell = lane[static_cast<size_t>(col)];
      if (cell == ' ' || Rank(g) > Rank(cell)) cell = g;
    }
    absl::StrAppendFormat(&out, "r%-2d%s |%s|\n", r.replica_id(),
                          r.primary() ? "*" : " ", lane);
  }
  absl::StrAppend(&out,
                  "      Q request  P pre-prepare  p prepare recv  # prepared  "
                  "c commit recv  C committed  x executed  R replied  * "
                  "primary\n\n");

  // Table (ms since offset 0).
  absl::StrAppendFormat(&out, "%-4s %9s %9s %9s %9s %9s  %-22s %-22s\n", "",
                        "pre-prep", "prepared", "committed", "executed",
                        "replied", "prepare quorum (ms)", "commit quorum (ms)");
  for (const auto& r : t.replicas()) {
    absl::StrAppendFormat(
        &out, "r%-3d %9s %9s %9s %9s %9s  %-22s %-22s\n", r.replica_id(),
        Ms(r.has_pre_prepare_offset_ns(), r.pre_prepare_offset_ns()),
        Ms(r.has_prepared_offset_ns(), r.prepared_offset_ns()),
        Ms(r.has_committed_offset_ns(), r.committed_offset_ns()),
        Ms(r.has_execute_end_offset_ns(), r.execute_end_offset_ns()),
        Ms(r.has_reply_sent_offset_ns(), r.reply_sent_offset_ns()),
        QuorumText(r.prepare_quorum(), r.has_prepare_quorum()),
        QuorumText(r.commit_quorum(), r.has_commit_quorum()));
  }
  if (t.phases_size() > 0) {
    absl::StrAppend(&out,
                    "\nphase        quorum-th replica done   straggler\n");
    for (const auto& p : t.phases()) {
      std::string q =
          p.has_quorum_replica()
              ? absl::StrFormat("r%d at %s", p.quorum_replica(),
                                FormatDuration(p.quorum_end_offset_ns()))
              : std::string("(no quorum)");
      std::string s =
          p.has_straggler()
              ? absl::StrFormat("r%d +%s", p.straggler(),
                                FormatDuration(p.straggler_lag_ns()))
              : std::string("-");
      absl::StrAppendFormat(&out, "%-12s %-24s %s\n", PhaseName(p.phase()), q,
                            s);
    }
  }
  const auto& c = t.completeness();
  const uint64_t missing = uint64_t{static_cast<uint32_t>(c.missing_size())} +
                           c.missing_not_listed();
  if (missing == 0) {
    absl::StrAppend(&out, "\nmissing: nothing (", c.observed(),
                    " events observed)\n");
  } else {
    absl::StrAppend(&out, "\nmissing (", missing, " of ",
                    c.observed() + missing, " expected events):\n");
    for (const auto& m : c.missing()) {
      absl::StrAppendFormat(
          &out, "  r%d %s%s  %s\n", m.replica_id(), TypeName(m.type()),
          m.has_peer() ? absl::StrFormat(" from r%d", m.peer()) : "",
          m.reason() == v1::MISSING_REASON_LOST
              ? "lost by the trace (later events prove it happened)"
              : "never reached (replica lagging, stalled or faulty)");
    }
    if (c.missing_not_listed() > 0) {
      absl::StrAppend(&out, "  ... and ", c.missing_not_listed(),
                      " more, not listed (the collector caps the list)\n");
    }
  }
  if (t.events_dropped() > 0) {
    absl::StrAppend(&out, "note: ", t.events_dropped(),
                    " events for this seq were beyond the collector's "
                    "per-timeline cap and not kept\n");
  }
  if (t.truncated()) {
    absl::StrAppend(&out,
                    "note: cut to the collector's size cap (marks, then "
                    "detail left out; counts are exact)\n");
  }
  if (c.losses_while_open()) {
    absl::StrAppend(&out,
                    "note: the collector reported event losses while this "
                    "timeline was open\n");
  }
  return out;
}

std::string RenderViewChange(const v1::ViewChangeEpisode& e) {
  std::string out =
      absl::StrFormat("view change #%d: view %d -> %s%s", e.id(), e.old_view(),
                      e.has_new_view() ? absl::StrCat(e.new_view()) : "?",
                      e.finished() ? "" : " (in progress)");
  if (e.has_old_primary())
    absl::StrAppend(&out, ", old primary r", e.old_primary());
  if (e.has_new_primary())
    absl::StrAppend(&out, ", new primary r", e.new_primary());
  if (e.triggered_by_size() > 0) {
    absl::StrAppend(
        &out, ", triggered by ",
        absl::StrJoin(e.triggered_by(), ",", [](std::string* o, uint32_t r) {
          absl::StrAppend(o, "r", r);
        }));
  }
  if (e.has_installed_offset_ns()) {
    absl::StrAppend(&out, ", new view installed after ",
                    FormatDuration(e.installed_offset_ns()));
  }
  if (e.has_no_progress_ns()) {
    absl::StrAppend(&out, ", no progress for ",
                    FormatDuration(e.no_progress_ns()));
  }
  if (e.has_last_seq_before() || e.has_first_seq_after()) {
    absl::StrAppendFormat(&out, " (last seq before %d, first after %d)",
                          e.last_seq_before(), e.first_seq_after());
  }
  if (e.attempted_views_size() > 1) {
    absl::StrAppend(&out, ", views attempted ",
                    absl::StrJoin(e.attempted_views(), ","));
  }
  return out;
}

void PhaseStats::Add(const v1::Timeline& t) {
  Sample s;
  s.state = t.state();
  if (t.has_commit_latency_ns()) s.commit_ns = t.commit_latency_ns();
  if (t.has_execute_latency_ns()) s.execute_ns = t.execute_latency_ns();
  for (const auto& p : t.phases()) {
    for (const auto& d : p.durations()) {
      s.durations.push_back({{p.phase(), d.replica_id()}, d.duration_ns()});
      if (p.has_quorum_replica() && d.replica_id() == p.quorum_replica()) {
        s.durations.push_back({{p.phase(), 0}, d.duration_ns()});
      }
    }
  }
  recent_.push_back(std::move(s));
  while (recent_.size() > window_) recent_.pop_front();
}

std::vector<PhaseStats::Row> PhaseStats::Rows() const {
  std::map<std::pair<int, uint32_t>, std::vector<int64_t>> by;
  for (const Sample& s : recent_) {
    for (const auto& [k, d] : s.durations) by[k].push_back(d);
  }
  std::vector<Row> rows;
  for (auto& [k, v] : by) {
    Row r{static_cast<v1::Phase>(k.first),
          k.second,
          v.size(),
          Percentile(v, 0.5),
          Percentile(v, 0.99),
          *std::max_element(v.begin(), v.end())};
    rows.push_back(r);
  }
  return rows;
}

PhaseStats::Row PhaseStats::CommitLatency() const {
  std::vector<int64_t> v;
  for (const Sample& s : recent_) {
    if (s.commit_ns >= 0) v.push_back(s.commit_ns);
  }
  return {v1::PHASE_UNSPECIFIED,
          0,
          v.size(),
          Percentile(v, 0.5),
          Percentile(v, 0.99),
          v.empty() ? 0 : *std::max_element(v.begin(), v.end())};
}

PhaseStats::Row PhaseStats::ExecuteLatency() const {
  std::vector<int64_t> v;
  for (const Sample& s : recent_) {
    if (s.execute_ns >= 0) v.push_back(s.execute_ns);
  }
  return {v1::PHASE_UNSPECIFIED,
          0,
          v.size(),
          Percentile(v, 0.5),
          Percentile(v, 0.99),
          v.empty() ? 0 : *std::max_element(v.begin(), v.end())};
}

size_t PhaseStats::incomplete() const {
  size_t n = 0;
  for (const Sample& s : recent_) n += s.state != v1::TIMELINE_STATE_COMPLETE;
  return n;
}

std::string PhaseStats::Render(double per_s, uint64_t view_changes,
                               uint64_t anomalies) const {
  std::string out = absl::StrFormat(
      "%.0f timelines/s   window %d timelines, %d incomplete   view changes "
      "%d   anomalies %d\n",
      per_s, recent_.size(), incomplete(), view_changes, anomalies);
  const Row c = CommitLatency();
  const Row x = ExecuteLatency();
  absl::StrAppendFormat(&out,
                        "commit latency  p50 %-12s p99 %-12s\n"
                        "execute latency p50 %-12s p99 %-12s\n\n",
                        FormatDuration(c.p50_ns), FormatDuration(c.p99_ns),
                        FormatDuration(x.p50_ns), FormatDuration(x.p99_ns));
  absl::StrAppendFormat(&out, "%-12s %-8s %8s %12s %12s %12s\n", "phase",
                        "replica", "samples", "p50", "p99", "max");
  for (const Row& r : Rows()) {
    absl::StrAppendFormat(&out, "%-12s %-8s %8d %12s %12s %12s\n",
                          PhaseName(r.phase),
                          r.replica_id == 0 ? std::string("quorum")
                                            : absl::StrCat("r", r.replica_id),
                          r.samples, FormatDuration(r.p50_ns),
                          FormatDuration(r.p99_ns), FormatDuration(r.max_ns));
  }
  return out;
}

}  // namespace resdb_trace::collector
