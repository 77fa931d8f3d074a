// The limits a Subscribe request is held to, and the counters of requests
// they refused (Stats.limits). Out-of-range parameters are INVALID_ARGUMENT;
// a full collector (max subscribers) is RESOURCE_EXHAUSTED.
#ifndef RESDB_TRACE_COLLECTOR_SERVE_LIMITS_H_
#define RESDB_TRACE_COLLECTOR_SERVE_LIMITS_H_

#include <atomic>
#include <cstdint>

#include "absl/status/status.h"
#include "collector/serve/event_filter.h"
#include "resdb_trace/v1/service.pb.h"

namespace resdb_trace::collector {

struct SubscribeLimits {
  uint32_t max_subscribers = 64;
  uint32_t max_events_per_batch = 16384;
  uint32_t max_delay_ms = 60'000;
  uint32_t max_queue_capacity = 1u << 20;
  FilterLimits filter;
};

class LimitCounters {
 public:
  enum class Refusal { kSubscribers, kBatching, kQueueCapacity, kFilter };

  explicit LimitCounters(const SubscribeLimits& limits) : limits_(limits) {}

  // Checks the batching and queue_capacity of `request` (the filter is
  // checked by EventFilter::Create); counts and returns INVALID_ARGUMENT
  // naming the field and the limit when one is out of range.
  absl::Status CheckSubscribe(const v1::SubscribeRequest& request);
  // Counts a refusal made elsewhere (hub full, filter rejected).
  void Count(Refusal why);
  const SubscribeLimits& limits() const { return limits_; }
  v1::LimitStats ToProto() const;

 private:
  SubscribeLimits limits_;
  std::atomic<uint64_t> subscribers_{0};
  std::atomic<uint64_t> batching_{0};
  std::atomic<uint64_t> queue_capacity_{0};
  std::atomic<uint64_t> filter_{0};
};

}  // namespace resdb_trace::collector

#endif  // RESDB_TRACE_COLLECTOR_SERVE_LIMITS_H_
