// Subscription filters: a SubscribeRequest's allow/deny lists, validated once
// and compiled into flat sets that the reader thread evaluates per event.
#ifndef RESDB_TRACE_COLLECTOR_SERVE_EVENT_FILTER_H_
#define RESDB_TRACE_COLLECTOR_SERVE_EVENT_FILTER_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "resdb_trace/v1/events.pb.h"
#include "resdb_trace/v1/service.pb.h"

namespace resdb_trace::collector {

// Hard limits on what a client may ask for; beyond them a request is
// INVALID_ARGUMENT rather than an unbounded allocation.
struct FilterLimits {
  int max_filters = 64;  // allow + deny entries
  int max_values_per_criterion = 4096;
};

class EventFilter {
 public:
  // Validates `request` (INVALID_ARGUMENT naming the offending field) and
  // compiles it.
  static absl::StatusOr<EventFilter> Create(const v1::SubscribeRequest& request,
                                            const FilterLimits& limits = {});

  // True when the event passes the allow-list and no deny entry matches it.
  // Lifecycle events (loss notices, process start/exit) always pass.
  bool Matches(const v1::Event& event) const;

 private:
  struct Compiled {
    absl::flat_hash_set<int> types;
    absl::flat_hash_set<uint32_t> replicas;
    absl::flat_hash_set<uint32_t> pids;
    absl::flat_hash_set<uint32_t> hooks;
    std::optional<uint64_t> seq_min;
    std::optional<uint64_t> seq_max;
    bool Matches(const v1::Event& event) const;
  };

  std::vector<Compiled> allow_;
  std::vector<Compiled> deny_;
};

}  // namespace resdb_trace::collector

#endif  // RESDB_TRACE_COLLECTOR_SERVE_EVENT_FILTER_H_
