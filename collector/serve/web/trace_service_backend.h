// A WebBackend over the collector's own TraceService (and its timeline
// runner): the web view calls the very handlers the gRPC clients reach,
// in-process, without going through gRPC.
#ifndef RESDB_TRACE_COLLECTOR_SERVE_WEB_TRACE_SERVICE_BACKEND_H_
#define RESDB_TRACE_COLLECTOR_SERVE_WEB_TRACE_SERVICE_BACKEND_H_

#include "collector/timeline/timeline_runner.h"
#include "collector/serve/trace_service.h"
#include "collector/serve/web/web_api.h"

namespace resdb_trace::collector::web {

// `service` must outlive the backend; `timelines` may be null (timelines
// off: the timeline endpoints answer 503 and there is no stream).
WebBackend TraceServiceBackend(TraceService* service,
                               TimelineRunner* timelines);

}  // namespace resdb_trace::collector::web

#endif  // RESDB_TRACE_COLLECTOR_SERVE_WEB_TRACE_SERVICE_BACKEND_H_
