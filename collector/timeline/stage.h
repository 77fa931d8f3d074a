// The fields every PBFT stage event shares, pulled out of the Event oneof so
// the timeline builder can treat all stages alike.
#ifndef RESDB_TRACE_COLLECTOR_TIMELINE_STAGE_H_
#define RESDB_TRACE_COLLECTOR_TIMELINE_STAGE_H_

#include <cstdint>
#include <optional>

#include "resdb_trace/v1/events.pb.h"

namespace resdb_trace::collector {

struct StageFields {
  v1::EventType type = v1::EVENT_TYPE_UNDEF;
  std::optional<uint64_t> view;  // new_view for view-change events
  uint64_t seq = 0;              // the hook's seq argument, whatever it means
  uint32_t sender = 0;
  uint64_t proxy_id = 0;
  std::optional<uint64_t> digest;  // digest prefix, for stages that carry one
  uint64_t aux = 0;                // the stage's field 7 when not a digest
};

// The shared fields of a stage event (types 10..31); nullopt for lifecycle,
// loss and dispatch events.
std::optional<StageFields> ExtractStage(const v1::Event& event);

}  // namespace resdb_trace::collector

#endif  // RESDB_TRACE_COLLECTOR_TIMELINE_STAGE_H_
