#include "collector/profile/profile_rpc.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "collector/profile/flamegraph_svg.h"
#include "collector/profile/folded.h"
#include "collector/profile/pprof.h"
#include "collector/profile/summary_md.h"
#include "lib/catalogue.h"
#include "resdb_trace/catalog.h"

namespace resdb_trace::collector::profile {
namespace {

namespace v1 = ::resdb_trace::v1;

absl::Time FromTimestamp(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

void ToTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t ns = absl::ToUnixNanos(t);
  int64_t seconds = ns / 1000000000;
  int64_t nanos = ns % 1000000000;
  if (nanos < 0) {
    nanos += 1000000000;
    --seconds;
  }
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(nanos));
}

}  // namespace

absl::StatusOr<ProfileQuery> QueryFromRequest(
    const v1::GetProfileRequest& request, absl::Time now) {
  ProfileQuery q;
  q.pids.assign(request.pids().begin(), request.pids().end());
  q.replica_ids.assign(request.replica_ids().begin(),
                       request.replica_ids().end());
  for (uint32_t id : request.phase_hook_ids()) {
    if (id >= RESDB_TRACE_SEMAPHORE_SLOTS) {
      return absl::InvalidArgumentError(
          absl::StrCat("phase_hook_ids: ", id, " is not a hook id (0..",
                       RESDB_TRACE_SEMAPHORE_SLOTS - 1, ")"));
    }
    q.phases.push_back(id);
  }
  for (int f : request.formats()) {
    if (f == v1::PROFILE_FORMAT_UNSPECIFIED || !v1::ProfileFormat_IsValid(f)) {
      return absl::InvalidArgumentError(
          absl::StrCat("formats: ", f, " is not a profile format"));
    }
  }
  switch (request.window_case()) {
    case v1::GetProfileRequest::kSeconds:
      if (request.seconds() == 0 || request.seconds() > kMaxProfileSeconds) {
        return absl::InvalidArgumentError(
            absl::StrCat("seconds must be in [1, ", kMaxProfileSeconds,
                         "], got ", request.seconds()));
      }
      q.start = now;
      q.end = now + absl::Seconds(request.seconds());
      break;
    case v1::GetProfileRequest::kRange:
      if (request.range().has_start()) {
        q.start = FromTimestamp(request.range().start());
      }
      if (request.range().has_end())
        q.end = FromTimestamp(request.range().end());
      if (q.end <= q.start) {
        return absl::InvalidArgumentError(
            "range: end must be later than start");
      }
      break;
    case v1::GetProfileRequest::kLastSeconds:
      if (request.last_seconds() == 0) {
        return absl::InvalidArgumentError("last_seconds must be positive");
      }
      q.start = now - absl::Seconds(request.last_seconds());
      q.end = absl::InfiniteFuture();
      break;
    case v1::GetProfileRequest::WINDOW_NOT_SET:
      q.start = now - absl::Seconds(kDefaultLastSeconds);
      q.end = absl::InfiniteFuture();
      break;
  }
  return q;
}

absl::StatusOr<v1::Profile> RenderProfile(
    const ProfileData& data, const v1::GetProfileRequest& request) {
  bool want[5] = {false, false, false, false, false};
  if (request.formats().empty()) {
    std::fill(std::begin(want), std::end(want), true);
  }
  for (int f : request.formats()) {
    if (f > 0 && f < 5) want[f] = true;
  }
  const v1::ProfileRenderOptions& render = request.render();
  StackOptions stacks;
  stacks.split_by_pid = render.split_by_pid();
  stacks.split_by_phase = render.split_by_phase();

  v1::Profile out;
  if (want[v1::PROFILE_FORMAT_PPROF]) {
    absl::StatusOr<std::string> gz = EncodePprofGzip(data);
    if (!gz.ok()) return gz.status();
    out.set_pprof_gz(std::move(*gz));
  }
  if (want[v1::PROFILE_FORMAT_FOLDED]) {
    out.set_folded(RenderFolded(data, stacks));
  }
  if (want[v1::PROFILE_FORMAT_SVG]) {
    FlamegraphOptions fo;
    fo.stacks = stacks;
    fo.title = render.title();
    if (render.svg_width() > 0) fo.width = static_cast<int>(render.svg_width());
    out.set_svg(RenderFlamegraphSvg(data, fo));
  }
  if (want[v1::PROFILE_FORMAT_MARKDOWN]) {
    SummaryOptions so;
    so.title = render.title();
    if (render.top_functions() > 0) so.top_functions = render.top_functions();
    out.set_markdown(RenderSummaryMarkdown(data, so));
  }

  v1::ProfileCounters* c = out.mutable_counters();
  c->set_samples(data.counters.samples);
  c->set_lost_user_stacks(data.counters.lost_user_stacks);
  c->set_lost_kernel_stacks(data.counters.lost_kernel_stacks);
  c->set_truncated_stacks(data.counters.truncated_stacks);
  c->set_dropped_samples(data.counters.dropped_samples);
  c->set_empty_user_stacks(data.counters.empty_user_stacks);
  c->set_evicted_stacks(data.counters.evicted_stacks);
  c->set_unknown_frames(data.counters.unknown_frames);
  c->set_intervals(data.counters.intervals);
  ToTimestamp(data.start, out.mutable_range()->mutable_start());
  ToTimestamp(data.end, out.mutable_range()->mutable_end());
  out.set_frequency_hz(data.frequency_hz);

  std::map<uint32_t, uint64_t> per_pid;
  for (const ProfileSample& s : data.samples) per_pid[s.pid] += s.count;
  for (const auto& [pid, count] : per_pid) {
    out.add_pids(pid);
    v1::ProfiledProcess* p = out.add_processes();
    p->set_pid(pid);
    p->set_samples(count);
    auto it = data.processes.find(pid);
    if (it == data.processes.end()) continue;
    if (it->second.replica_id) p->set_replica_id(*it->second.replica_id);
    p->set_comm(it->second.comm);
    p->set_exe(it->second.exe);
    p->set_exited(it->second.exited);
  }
  for (const auto& [phase, count] : PhaseTotals(data)) {
    v1::PhaseSamples* ps = out.add_phases();
    ps->set_hook_id(phase);
    ps->set_name(catalogue::PhaseName(phase));
    ps->set_samples(count);
  }
  return out;
}

absl::StatusOr<v1::Profile> GetProfile(
    Profiler& profiler, const v1::GetProfileRequest& request,
    const Profiler::ProgressCallback& progress,
    const Profiler::CancelCallback& cancelled) {
  absl::StatusOr<ProfileQuery> query = QueryFromRequest(request, absl::Now());
  if (!query.ok()) return query.status();
  ProfileData data;
  if (request.window_case() == v1::GetProfileRequest::kSeconds) {
    absl::StatusOr<ProfileData> sampled = profiler.CollectFor(
        absl::Seconds(request.seconds()), *query, progress, cancelled);
    if (!sampled.ok()) return sampled.status();
    data = std::move(*sampled);
  } else {
    // samples still in the kernel belong to the window too
    if (profiler.running()) {
      absl::StatusOr<absl::Time> flushed = profiler.Flush();
      if (!flushed.ok()) return flushed.status();
    }
    data = profiler.Collect(*query);
  }
  return RenderProfile(data, request);
}

}  // namespace resdb_trace::collector::profile
