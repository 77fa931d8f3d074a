// Runs a TimelineBuilder inside the collector: its own hub subscription and
// thread (so timeline work never slows the ring-buffer reader), periodic
// Advance, loss accounting, and a second hub that fans timeline updates out
// to WatchTimelines streams and other observers (metrics).
#ifndef RESDB_TRACE_COLLECTOR_TIMELINE_TIMELINE_RUNNER_H_
#define RESDB_TRACE_COLLECTOR_TIMELINE_TIMELINE_RUNNER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "collector/hub/event_hub.h"
#include "collector/timeline/timeline_builder.h"
#include "resdb_trace/v1/events.pb.h"
#include "resdb_trace/v1/timeline.pb.h"

namespace resdb_trace::collector {

using UpdateHub = EventHub<v1::TimelineUpdate>;

struct TimelineRunnerOptions {
  TimelineOptions timeline;
  // Events the runner's own hub queue holds; beyond that it drops (counted
  // in TimelineStats.events_dropped, open timelines marked).
  size_t queue_capacity = 1 << 20;
  // How often open timelines are checked for closing.
  absl::Duration tick = absl::Milliseconds(50);
  // Concurrent WatchTimelines streams.
  size_t max_watchers = 64;
};

class TimelineRunner {
 public:
  // Subscribes to `events` and starts the thread. `upstream_losses` returns
  // the collector's cumulative count of records lost before the hub (ring
  // buffer drops + malformed); it may be null.
  static absl::StatusOr<std::unique_ptr<TimelineRunner>> Start(
      EventHub<v1::Event>* events, std::function<uint64_t()> upstream_losses,
      TimelineRunnerOptions options = {});
  ~TimelineRunner();

  // Drains what is queued, closes every open timeline, ends watchers.
  // Idempotent.
  void Stop();

  TimelineBuilder& builder() { return *builder_; }
  UpdateHub& updates() { return updates_; }

 private:
  TimelineRunner(TimelineRunnerOptions options,
                 std::function<uint64_t()> upstream_losses);
  void Loop();

  TimelineRunnerOptions options_;
  std::function<uint64_t()> upstream_losses_;
  UpdateHub updates_;
  std::unique_ptr<TimelineBuilder> builder_;
  EventHub<v1::Event>::Subscription sub_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::once_flag stopped_;
};

}  // namespace resdb_trace::collector

#endif  // RESDB_TRACE_COLLECTOR_TIMELINE_TIMELINE_RUNNER_H_
