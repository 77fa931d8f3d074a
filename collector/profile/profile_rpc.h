// TraceService.GetProfile on top of a Profiler: turns a
// resdb_trace.v1.GetProfileRequest into a query, collects (sampling for N
// seconds when asked) and renders the requested formats into a
// resdb_trace.v1.Profile. The gRPC handler only has to call GetProfile.
#ifndef RESDB_TRACE_COLLECTOR_PROFILE_PROFILE_RPC_H_
#define RESDB_TRACE_COLLECTOR_PROFILE_PROFILE_RPC_H_

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "collector/profile/profile_data.h"
#include "collector/profile/profiler.h"
#include "resdb_trace/v1/profile.pb.h"

namespace resdb_trace::collector::profile {

// Longest `seconds` a request may ask to sample for.
inline constexpr uint32_t kMaxProfileSeconds = 3600;
// Window of a request that names none: the last this many seconds.
inline constexpr uint32_t kDefaultLastSeconds = 10;

// The query a request selects, its window resolved against `now` (for
// `seconds` the window is [now, now + seconds], which CollectFor replaces
// with the exact sampled span). InvalidArgument for an empty or inverted
// range, `seconds` above kMaxProfileSeconds, a phase id outside the
// catalogue's id space or an unknown format.
absl::StatusOr<ProfileQuery> QueryFromRequest(
    const resdb_trace::v1::GetProfileRequest& request, absl::Time now);

// Renders `data` into the formats `request` asks for (all when none) and
// fills the figures (counters, range, pids, phases, processes).
absl::StatusOr<resdb_trace::v1::Profile> RenderProfile(
    const ProfileData& data, const resdb_trace::v1::GetProfileRequest& request);

// The whole call: validate, collect (for `seconds`: sample now for that
// long; FailedPrecondition when the profiler is not running; Cancelled /
// Unavailable as Profiler::CollectFor), render.
absl::StatusOr<resdb_trace::v1::Profile> GetProfile(
    Profiler& profiler, const resdb_trace::v1::GetProfileRequest& request,
    const Profiler::ProgressCallback& progress = {},
    const Profiler::CancelCallback& cancelled = {});

}  // namespace resdb_trace::collector::profile

#endif  // RESDB_TRACE_COLLECTOR_PROFILE_PROFILE_RPC_H_
