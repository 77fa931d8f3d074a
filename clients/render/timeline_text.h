// Text renderings of timelines for terminals and agents: a per-replica phase
// diagram with a table of stage times, quorums, stragglers and what is
// missing; and a rolling per-phase latency summary (resdb-trace top).
#ifndef RESDB_TRACE_CLIENTS_RENDER_TIMELINE_TEXT_H_
#define RESDB_TRACE_CLIENTS_RENDER_TIMELINE_TEXT_H_

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "resdb_trace/v1/timeline.pb.h"

namespace resdb_trace::collector {

// The diagram: one lane per replica across `width` columns of time.
std::string RenderTimeline(const v1::Timeline& timeline, int width = 72);

// One line per view-change episode.
std::string RenderViewChange(const v1::ViewChangeEpisode& episode);

// Phase latencies over the newest `window` timelines.
class PhaseStats {
 public:
  explicit PhaseStats(size_t window = 2000) : window_(window) {}

  void Add(const v1::Timeline& timeline);

  struct Row {
    v1::Phase phase;
    uint32_t replica_id;  // 0 = the quorum-th replica (the protocol's view)
    size_t samples;
    int64_t p50_ns, p99_ns, max_ns;
  };
  std::vector<Row> Rows() const;
  // Commit / execute latency percentiles (primary pre-prepare → quorum).
  Row CommitLatency() const;
  Row ExecuteLatency() const;
  size_t timelines() const { return recent_.size(); }
  size_t incomplete() const;

  // The table `resdb-trace top` prints.
  std::string Render(double timelines_per_s, uint64_t view_changes,
                     uint64_t anomalies) const;

 private:
  struct Sample {
    v1::TimelineState state;
    int64_t commit_ns = -1, execute_ns = -1;
    // (phase, replica) -> duration; replica 0 = quorum-th finisher's end
    // offset minus the phase's start on that replica is not defined, so the
    // quorum row uses the quorum-th replica's own duration.
    std::vector<std::pair<std::pair<int, uint32_t>, int64_t>> durations;
  };
  size_t window_;
  std::deque<Sample> recent_;
};

// "1.234 ms", "87 µs", "2.1 s".
std::string FormatDuration(int64_t ns);

// "PHASE_PREPARE" -> "prepare".
std::string PhaseName(v1::Phase phase);

}  // namespace resdb_trace::collector

#endif  // RESDB_TRACE_CLIENTS_RENDER_TIMELINE_TEXT_H_
