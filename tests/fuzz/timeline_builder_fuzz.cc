// Fuzzes the timeline builder with hostile event streams (see
// timeline_stream.h for the input format): events with nonsense seqs,
// replica ids, views, digests and times, interleaved with Advance to any
// time, loss notes, queries and flushes. The builder must never crash, trip
// a sanitizer or break its own bounds: at most max_open open timelines and
// `retained` closed ones, every listed timeline retrievable by its seq,
// every closed timeline in a final state with a completeness score in
// [0, 1] and no larger than max_timeline_bytes, nothing open after Flush,
// and no operation taking more than kMaxOpCpu of CPU (the builder holds its
// lock for all of it).
#include <time.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "collector/timeline/timeline_builder.h"
#include "resdb_trace/v1/events.pb.h"
#include "resdb_trace/v1/timeline.pb.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/timeline_stream.h"

namespace {

using resdb_trace::collector::TimelineBuilder;
using resdb_trace::collector::TimelineOptions;
namespace fz = resdb_trace::fuzz;
namespace v1 = resdb_trace::v1;

// CPU time, not wall time: the check must not depend on the machine's load.
constexpr int64_t kMaxOpCpuNs = 200'000'000;

int64_t ThreadCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// Of the input being run.
size_t max_timeline_bytes = 0;
size_t max_missing_listed = 0;

void CheckTimeline(const v1::Timeline& t) {
  const v1::Completeness& c = t.completeness();
  FUZZ_CHECK(c.score() >= 0.0 && c.score() <= 1.0);
  FUZZ_CHECK(t.duration_ns() >= 0);
  FUZZ_CHECK(t.ByteSizeLong() <= max_timeline_bytes);
  FUZZ_CHECK(static_cast<size_t>(c.missing_size()) <= max_missing_listed);
}

void CheckClosed(const v1::Timeline& t) {
  CheckTimeline(t);
  FUZZ_CHECK(t.state() == v1::TIMELINE_STATE_COMPLETE ||
             t.state() == v1::TIMELINE_STATE_INCOMPLETE ||
             t.state() == v1::TIMELINE_STATE_EVICTED);
  if (t.state() == v1::TIMELINE_STATE_COMPLETE) {
    FUZZ_CHECK(t.completeness().missing_size() == 0);
    FUZZ_CHECK(t.completeness().missing_not_listed() == 0);
  }
}

void CheckBounds(TimelineBuilder& b, const TimelineOptions& o) {
  const v1::TimelineStats s = b.Stats();
  FUZZ_CHECK(s.open() <= o.max_open);
  FUZZ_CHECK(s.retained() <= o.retained);
  FUZZ_CHECK(s.replicas() <= o.max_replicas);
}

// Everything List shows can be fetched by its seq.
void CheckListed(TimelineBuilder& b) {
  v1::ListTimelinesRequest all;
  all.set_include_open(true);
  all.set_limit(1000);
  const v1::ListTimelinesResponse r = b.List(all);
  FUZZ_CHECK(r.more() == 0);
  FUZZ_CHECK(static_cast<uint64_t>(r.timelines_size()) <=
             uint64_t{r.stats().open()} + r.stats().retained());
  for (const v1::Timeline& t : r.timelines()) {
    CheckTimeline(t);
    v1::GetTimelineRequest get;
    get.set_seq(t.seq());
    FUZZ_CHECK(b.Get(get).ok());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < fz::kTimelineHeaderSize) return 0;
  const TimelineOptions options = fz::TimelineOptionsFrom(data);
  max_timeline_bytes = options.max_timeline_bytes;
  max_missing_listed = options.max_missing_listed;
  TimelineBuilder builder(options, [](const v1::TimelineUpdate& u) {
    if (u.has_timeline()) CheckClosed(u.timeline());
    std::string wire;
    FUZZ_CHECK(u.SerializeToString(&wire));
  });

  fz::TimelineOpReader ops(std::string_view(
      reinterpret_cast<const char*>(data) + fz::kTimelineHeaderSize,
      size - fz::kTimelineHeaderSize));
  fz::TimelineOp op;
  std::string_view payload;
  int n = 0;
  while (ops.Next(&op, &payload)) {
    const int64_t start = ThreadCpuNs();
    switch (op) {
      case fz::kAdd: {
        v1::Event e;
        if (e.ParseFromArray(payload.data(),
                             static_cast<int>(payload.size()))) {
          builder.Add(e);
        }
        break;
      }
      case fz::kAdvance:
        builder.Advance(static_cast<int64_t>(fz::FromLe64(payload)));
        break;
      case fz::kNoteLoss:
        builder.NoteLoss(fz::FromLe64(payload));
        break;
      case fz::kAddDropped:
        builder.AddDropped(fz::FromLe64(payload));
        break;
      case fz::kGet: {
        v1::GetTimelineRequest r;
        if (r.ParseFromArray(payload.data(),
                             static_cast<int>(payload.size()))) {
          const auto t = builder.Get(r);
          if (t.ok()) CheckTimeline(*t);
        }
        break;
      }
      case fz::kList: {
        v1::ListTimelinesRequest r;
        if (r.ParseFromArray(payload.data(),
                             static_cast<int>(payload.size()))) {
          const v1::ListTimelinesResponse resp = builder.List(r);
          const uint32_t limit = r.limit() == 0 ? 100 : r.limit();
          FUZZ_CHECK(static_cast<uint32_t>(resp.timelines_size()) <= limit);
          for (const v1::Timeline& t : resp.timelines()) CheckTimeline(t);
        }
        break;
      }
      case fz::kListViewChanges: {
        v1::ListViewChangesRequest r;
        if (r.ParseFromArray(payload.data(),
                             static_cast<int>(payload.size()))) {
          builder.ListViewChanges(r);
        }
        break;
      }
      case fz::kFlush:
        builder.Flush();
        FUZZ_CHECK(builder.Stats().open() == 0);
        break;
      default:
        break;
    }
    FUZZ_CHECK(ThreadCpuNs() - start <= kMaxOpCpuNs);
    CheckBounds(builder, options);
    // Listing renders every open and retained timeline: now and then, not
    // after every op of a long input.
    if (++n % 64 == 0) CheckListed(builder);
  }
  CheckListed(builder);
  builder.Flush();
  const v1::TimelineStats s = builder.Stats();
  FUZZ_CHECK(s.open() == 0);
  const v1::ListViewChangesResponse changes =
      builder.ListViewChanges(v1::ListViewChangesRequest());
  for (const v1::ViewChangeEpisode& ep : changes.episodes()) {
    FUZZ_CHECK(ep.finished());
  }
  return 0;
}
