// The collector's own resource use (Stats.process): RSS, live heap, heap the
// allocator retains, open fds and threads. Reading it costs a few
// microseconds (two small /proc reads, a directory listing and mallinfo2),
// so it is taken per GetStats, never per event.
#ifndef RESDB_TRACE_COLLECTOR_METRICS_PROCESS_STATS_H_
#define RESDB_TRACE_COLLECTOR_METRICS_PROCESS_STATS_H_

#include "resdb_trace/v1/service.pb.h"

namespace resdb_trace::collector {

// Reads this process's figures; a field that cannot be read stays 0.
v1::ProcessStats ReadProcessStats();

}  // namespace resdb_trace::collector

#endif  // RESDB_TRACE_COLLECTOR_METRICS_PROCESS_STATS_H_
