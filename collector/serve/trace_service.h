// resdb_trace.v1.TraceService over the collector's hub: Subscribe streams
// filtered, batched events with in-stream loss notices; GetStats reports the
// collector's and every subscriber's counters.
#ifndef RESDB_TRACE_COLLECTOR_SERVE_TRACE_SERVICE_H_
#define RESDB_TRACE_COLLECTOR_SERVE_TRACE_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "collector/ingest/collector.h"
#include "collector/profile/profiler.h"
#include "collector/serve/event_filter.h"
#include "collector/serve/limits.h"
#include "collector/timeline/timeline_runner.h"
#include "grpcpp/grpcpp.h"
#include "resdb_trace/v1/service.grpc.pb.h"

namespace resdb_trace::collector {

struct TraceServiceOptions {
  uint32_t default_queue_capacity = 65536;
  // Bytes of decoded events a stream's queue may keep alive (its batches'
  // arenas) before it drops, so a lagging client cannot grow the
  // collector's heap without bound; 0: slots only.
  size_t queue_max_bytes = 16u << 20;
  uint32_t max_queue_capacity = 1u << 20;
  uint32_t default_max_events = 256;
  uint32_t max_events_limit = 16384;
  uint32_t default_max_delay_ms = 2;
  uint32_t max_delay_limit_ms = 60'000;
  FilterLimits filter_limits;
  // Reported in Stats.limits; the hub enforces it (EventHubOptions).
  uint32_t max_subscribers = 64;
  // Concurrent WatchTimelines streams (--max-timeline-watchers); the web
  // view's SSE streams are counted separately.
  uint32_t max_timeline_watchers = 64;
  // Reported in Stats.build. main() passes //lib:version's, so only the
  // binary, not this library and its tests, re-links on a new commit.
  v1::BuildInfo build;
};

// The wire form of an EventBatch holding `head`'s events (a LossNotice)
// followed by `events`, with `batch_id` and `subscriber_id`: each shared
// event is serialized straight into the buffer, never copied into a batch
// message. Parses as the EventBatch SerializeToString would have written.
void EncodeEventBatch(const v1::EventBatch& head,
                      const std::vector<EventPtr>& events, uint64_t batch_id,
                      uint64_t subscriber_id, grpc::ByteBuffer* out);
// Parses bytes written by EncodeEventBatch (or any serialized EventBatch).
bool ParseEventBatch(const grpc::ByteBuffer& bytes, v1::EventBatch* batch);

class TraceService final : public v1::TraceService::Service {
 public:
  // `timelines` may be null (timelines disabled): the timeline RPCs then
  // return FAILED_PRECONDITION.
  TraceService(Collector* collector, TraceServiceOptions options = {},
               TimelineRunner* timelines = nullptr);

  grpc::Status Subscribe(grpc::ServerContext* context,
                         const v1::SubscribeRequest* request,
                         grpc::ServerWriter<v1::EventBatch>* writer) override;
  grpc::Status GetStats(grpc::ServerContext* context,
                        const v1::GetStatsRequest* request,
                        v1::Stats* response) override;

  grpc::Status GetTimeline(grpc::ServerContext* context,
                           const v1::GetTimelineRequest* request,
                           v1::Timeline* response) override;
  grpc::Status ListTimelines(grpc::ServerContext* context,
                             const v1::ListTimelinesRequest* request,
                             v1::ListTimelinesResponse* response) override;
  grpc::Status WatchTimelines(
      grpc::ServerContext* context, const v1::WatchTimelinesRequest* request,
      grpc::ServerWriter<v1::TimelineUpdate>* writer) override;
  grpc::Status ListViewChanges(grpc::ServerContext* context,
                               const v1::ListViewChangesRequest* request,
                               v1::ListViewChangesResponse* response) override;

  grpc::Status GetProfile(grpc::ServerContext* context,
                          const v1::GetProfileRequest* request,
                          v1::Profile* response) override;
  // Enables GetProfile (null: FAILED_PRECONDITION).
  void SetProfiler(profile::Profiler* profiler) { profiler_.store(profiler); }

  // Extra counters GetStats reports (the --jsonl writer's drops).
  void SetJsonlDropped(std::function<uint64_t()> f) {
    jsonl_dropped_ = std::move(f);
  }

  // Ends every stream (used on shutdown, after the collector stopped).
  void Shutdown() { shutting_down_.store(true); }

 private:
  struct Live {
    std::string peer;
    std::string client_name;
    int64_t subscribed_at_ns = 0;
    const EventHubT::Subscription* subscription = nullptr;
    std::atomic<uint64_t> delivered{0};
  };

  // Holds one of the WatchTimelines slots for a handler's lifetime.
  class WatcherSlot {
   public:
    explicit WatcherSlot(std::atomic<uint32_t>* n) : n_(n), count_(++*n) {}
    ~WatcherSlot() { --*n_; }
    WatcherSlot(const WatcherSlot&) = delete;
    WatcherSlot& operator=(const WatcherSlot&) = delete;
    uint32_t count() const { return count_; }  // this one included

   private:
    std::atomic<uint32_t>* n_;
    uint32_t count_;
  };

  // Subscribe's position in service TraceService (checked at run time).
  static constexpr int kSubscribeMethodIndex = 0;

  grpc::Status NeedTimelines() const;
  // Subscribe's body: `write` sends one encoded EventBatch, false when the
  // stream is gone.
  grpc::Status SubscribeStream(
      grpc::ServerContext* context, const v1::SubscribeRequest* request,
      const std::function<bool(grpc::ByteBuffer*)>& write);

  Collector* collector_;
  TraceServiceOptions options_;
  TimelineRunner* timelines_;
  std::atomic<profile::Profiler*> profiler_{nullptr};
  std::function<uint64_t()> jsonl_dropped_;
  std::atomic<bool> shutting_down_{false};
  std::atomic<uint32_t> watchers_{0};  // WatchTimelines streams open
  absl::Mutex mu_;
  std::map<uint64_t, Live*> live_ ABSL_GUARDED_BY(mu_);
  LimitCounters limits_;  // requests refused, by limit
};

}  // namespace resdb_trace::collector

#endif  // RESDB_TRACE_COLLECTOR_SERVE_TRACE_SERVICE_H_
