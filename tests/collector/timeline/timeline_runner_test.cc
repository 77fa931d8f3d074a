// TimelineRunner under concurrency: a publisher thread feeds a 4-replica
// PBFT run into the event hub while another thread queries the builder and a
// watcher drains the update hub; Stop then races nothing. Every instance must
// come out as a COMPLETE timeline. Written to run under --config=tsan
// (scripts/sanitize.sh) as well as in the plain suite.
#include "collector/timeline/timeline_runner.h"

#include <atomic>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "collector/decode/clock.h"
#include "gtest/gtest.h"
#include "tests/collector/timeline/pbft_sim.h"

namespace resdb_trace::collector {
namespace {

using testing::PbftSim;

TEST(TimelineRunnerTest, ConcurrentPublishQueryWatchAndStop) {
  constexpr uint64_t kInstances = 40;
  EventHub<v1::Event> hub;
  std::atomic<uint64_t> upstream_losses{0};
  TimelineRunnerOptions options;
  options.tick = absl::Milliseconds(2);
  options.timeline.linger = absl::Milliseconds(1);
  absl::StatusOr<std::unique_ptr<TimelineRunner>> runner =
      TimelineRunner::Start(
          &hub, [&] { return upstream_losses.load(); }, options);
  ASSERT_TRUE(runner.ok()) << runner.status();

  SubscriberOptions<v1::TimelineUpdate> wopt;
  wopt.capacity = 1 << 16;
  auto watch = (*runner)->updates().Subscribe(wopt);
  ASSERT_TRUE(watch.ok()) << watch.status();

  // Stamps on the real monotonic clock: the runner advances on it.
  const int64_t t0 = MonotonicNowNs();
  std::atomic<bool> published{false};
  std::thread publisher([&] {
    PbftSim sim(4, 7);
    uint64_t next_id = 1;
    for (uint64_t seq = 1; seq <= kInstances; ++seq) {
      std::vector<v1::Event> events =
          sim.Instance(seq, 0, t0 + static_cast<int64_t>(seq) * 100'000, seq,
                       0xabc000 + seq)
              .events;
      PbftSim::Number(&events, &next_id);
      std::vector<EventHub<v1::Event>::EventPtr> batch;
      batch.reserve(events.size());
      for (v1::Event& e : events) {
        batch.push_back(std::make_shared<const v1::Event>(std::move(e)));
      }
      hub.PublishBatch(batch);
    }
    published = true;
  });
  std::thread querier([&] {
    v1::ListTimelinesRequest list;
    list.set_include_open(true);
    v1::GetTimelineRequest get;
    while (!published.load()) {
      (*runner)->builder().List(list);
      (*runner)->builder().Stats();
      (*runner)->builder().ListViewChanges(v1::ListViewChangesRequest());
      get.set_seq(get.seq() % kInstances + 1);
      (void)(*runner)->builder().Get(get);
    }
  });
  publisher.join();
  querier.join();

  // Every instance closes (linger 1 ms) within a few ticks; then stop.
  for (int i = 0; i < 5000; ++i) {
    const v1::TimelineStats s = (*runner)->builder().Stats();
    if (s.complete() + s.incomplete() + s.evicted() >= kInstances &&
        s.open() == 0) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  (*runner)->Stop();
  (*runner)->Stop();  // idempotent

  std::map<uint64_t, v1::TimelineState> last_state;
  std::vector<std::shared_ptr<const v1::TimelineUpdate>> out;
  while (true) {
    const PopResult r =
        watch->PopBatch(1024, absl::ZeroDuration(), &out, absl::Seconds(5));
    EXPECT_EQ(r.dropped, 0u);
    for (const auto& u : out) {
      if (u->has_timeline())
        last_state[u->timeline().seq()] = u->timeline().state();
    }
    out.clear();
    if (r.closed) break;
  }
  ASSERT_EQ(last_state.size(), kInstances);
  for (const auto& [seq, state] : last_state) {
    EXPECT_EQ(state, v1::TIMELINE_STATE_COMPLETE) << "seq " << seq;
  }
  const v1::TimelineStats s = (*runner)->builder().Stats();
  EXPECT_EQ(s.open(), 0u);
  EXPECT_EQ(s.events_dropped(), 0u);
}

}  // namespace
}  // namespace resdb_trace::collector
