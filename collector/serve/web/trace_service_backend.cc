#include "collector/serve/web/trace_service_backend.h"

#include <string>

#include "grpcpp/grpcpp.h"

namespace resdb_trace::collector::web {
namespace {

absl::Status FromGrpc(const grpc::Status& s) {
  const std::string& m = s.error_message();
  switch (s.error_code()) {
    case grpc::StatusCode::OK:
      return absl::OkStatus();
    case grpc::StatusCode::INVALID_ARGUMENT:
      return absl::InvalidArgumentError(m);
    case grpc::StatusCode::NOT_FOUND:
      return absl::NotFoundError(m);
    case grpc::StatusCode::FAILED_PRECONDITION:
      return absl::FailedPreconditionError(m);
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return absl::ResourceExhaustedError(m);
    case grpc::StatusCode::UNAVAILABLE:
      return absl::UnavailableError(m);
    default:
      return absl::InternalError(m);
  }
}

// Calls one unary TraceService handler directly; the handlers read nothing
// from the context but its peer, so a fresh one stands in for a call.
template <typename Req, typename Resp, typename Method>
absl::StatusOr<Resp> Call(TraceService* service, Method method,
                          const Req& request) {
  grpc::ServerContext context;
  Resp response;
  grpc::Status s = (service->*method)(&context, &request, &response);
  if (!s.ok()) return FromGrpc(s);
  return response;
}

}  // namespace

WebBackend TraceServiceBackend(TraceService* service,
                               TimelineRunner* timelines) {
  WebBackend b;
  b.stats = [service]() {
    return Call<v1::GetStatsRequest, v1::Stats>(
        service, &TraceService::GetStats, v1::GetStatsRequest());
  };
  b.get_profile = [service](const v1::GetProfileRequest& r) {
    return Call<v1::GetProfileRequest, v1::Profile>(
        service, &TraceService::GetProfile, r);
  };
  if (timelines == nullptr) return b;
  b.get_timeline = [service](const v1::GetTimelineRequest& r) {
    return Call<v1::GetTimelineRequest, v1::Timeline>(
        service, &TraceService::GetTimeline, r);
  };
  b.list_timelines = [service](const v1::ListTimelinesRequest& r) {
    return Call<v1::ListTimelinesRequest, v1::ListTimelinesResponse>(
        service, &TraceService::ListTimelines, r);
  };
  b.list_view_changes = [service](const v1::ListViewChangesRequest& r) {
    return Call<v1::ListViewChangesRequest, v1::ListViewChangesResponse>(
        service, &TraceService::ListViewChanges, r);
  };
  b.updates = &timelines->updates();
  return b;
}

}  // namespace resdb_trace::collector::web
