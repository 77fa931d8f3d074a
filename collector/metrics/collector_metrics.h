// The collector's Prometheus metrics: phase latencies per replica, quorum
// formation, commit/execute latency, timelines by state, view changes and
// their duration, anomalies (observed from the timeline updates on a thread
// of their own), plus events, drops per CPU and per subscriber, and attach
// state read at scrape time. Served on --metrics-listen (docs/metrics.md).
#ifndef RESDB_TRACE_COLLECTOR_METRICS_COLLECTOR_METRICS_H_
#define RESDB_TRACE_COLLECTOR_METRICS_COLLECTOR_METRICS_H_

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "absl/status/statusor.h"
#include "collector/ingest/collector.h"
#include "collector/metrics/metrics.h"
#include "collector/timeline/timeline_runner.h"

namespace resdb_trace::collector {

class CollectorMetrics {
 public:
  // `timelines` may be null (then only the pipeline families exist). Both
  // must outlive the returned object. `build` labels resdb_trace_build_info
  // (main() passes //lib:version's).
  static absl::StatusOr<std::unique_ptr<CollectorMetrics>> Create(
      Collector* collector, TimelineRunner* timelines,
      const v1::BuildInfo& build = {});
  ~CollectorMetrics();

  metrics::Registry& registry() { return registry_; }
  void Stop();

  // Records one closed timeline / episode / anomaly (public for tests).
  void Observe(const v1::TimelineUpdate& update);

 private:
  CollectorMetrics() = default;
  absl::Status Init(Collector* collector, TimelineRunner* timelines,
                    const v1::BuildInfo& build);
  metrics::Histogram* Phase(v1::Phase phase, uint32_t replica);
  metrics::Histogram* QuorumTime(v1::Phase phase, uint32_t replica);

  metrics::Registry registry_;
  metrics::Family<metrics::Histogram>* phase_ = nullptr;
  metrics::Family<metrics::Histogram>* quorum_ = nullptr;
  metrics::Histogram* commit_latency_ = nullptr;
  metrics::Histogram* execute_latency_ = nullptr;
  metrics::Histogram* client_latency_ = nullptr;
  metrics::Family<metrics::Counter>* timelines_ = nullptr;
  metrics::Counter* view_changes_ = nullptr;
  metrics::Histogram* view_change_seconds_ = nullptr;
  metrics::Family<metrics::Counter>* anomalies_ = nullptr;
  metrics::Counter* requests_ = nullptr;
  // Children looked up once (WithLabels takes a lock).
  std::map<std::pair<int, uint32_t>, metrics::Histogram*> phase_children_;
  std::map<std::pair<int, uint32_t>, metrics::Histogram*> quorum_children_;

  UpdateHub::Subscription sub_;
  std::thread thread_;
  std::once_flag stopped_;
};

}  // namespace resdb_trace::collector

#endif  // RESDB_TRACE_COLLECTOR_METRICS_COLLECTOR_METRICS_H_
