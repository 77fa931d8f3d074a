// Publish throughput of EventHub, the collector's hot path.
//
//   bazel run -c opt //tests/collector/hub:hub_bench
//
// Each iteration allocates one event (as the decoder does) and publishes it;
// consumer threads drain their queues in batches, as gRPC streams would.
// items_per_second is the publish rate; "dropped" per subscriber shows
// whether consumers kept up on this machine.
#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "collector/hub/event_hub.h"

namespace resdb_trace {
namespace collector {
namespace {

// Roughly the size of a decoded trace event.
struct BenchEvent {
  explicit BenchEvent(uint64_t s) : seq(s) {}
  uint64_t seq;
  uint64_t pad[7] = {};
};
using Hub = EventHub<BenchEvent>;

// state.range(0): subscribers; state.range(1): events per PublishBatch
// (1 = Publish per event); state.range(2): 1 = allocate every event with
// make_shared (the decoder's pattern, so malloc/free across threads is
// included), 0 = cycle through a preallocated pool (the hub's own cost).
void BM_Publish(benchmark::State& state) {
  const int subscribers = static_cast<int>(state.range(0));
  const size_t batch = static_cast<size_t>(state.range(1));
  const bool allocate = state.range(2) != 0;
  constexpr size_t kPool = 1 << 18;  // > all queues: no slot reused in flight
  std::vector<Hub::EventPtr> pool;
  if (!allocate) {
    for (size_t i = 0; i < kPool; ++i) {
      pool.push_back(std::make_shared<const BenchEvent>(i));
    }
  }
  auto next_event = [&](uint64_t seq) {
    return allocate ? std::make_shared<const BenchEvent>(seq)
                    : pool[seq & (kPool - 1)];
  };
  Hub hub;
  std::vector<Hub::Subscription> subs;
  for (int i = 0; i < subscribers; ++i) {
    SubscriberOptions<BenchEvent> options;
    options.capacity = 1 << 16;
    subs.push_back(std::move(*hub.Subscribe(std::move(options))));
  }
  std::atomic<uint64_t> delivered{0};
  std::vector<std::thread> consumers;
  for (auto& sub : subs) {
    consumers.emplace_back([&sub, &delivered] {
      std::vector<Hub::EventPtr> out;
      for (;;) {
        const PopResult r = sub.PopBatch(512, absl::Milliseconds(1), &out);
        delivered.fetch_add(r.events, std::memory_order_relaxed);
        if (r.closed) return;
      }
    });
  }

  uint64_t seq = 0;
  std::vector<Hub::EventPtr> events;
  events.reserve(batch);
  for (auto _ : state) {
    if (batch == 1) {
      hub.Publish(next_event(seq++));
      continue;
    }
    events.push_back(next_event(seq++));
    if (events.size() == batch) {
      hub.PublishBatch(events);
      events.clear();
    }
  }
  hub.PublishBatch(events);
  state.SetItemsProcessed(static_cast<int64_t>(seq));

  uint64_t dropped = 0;
  for (const auto& s : hub.Stats()) dropped += s.queue.dropped;
  hub.Shutdown();
  for (auto& t : consumers) t.join();
  if (subscribers > 0) {
    state.counters["dropped_per_sub"] =
        static_cast<double>(dropped) / subscribers;
    state.counters["drop_pct"] =
        100.0 * static_cast<double>(dropped) /
        static_cast<double>(seq * static_cast<uint64_t>(subscribers));
  }
}
BENCHMARK(BM_Publish)
    ->ArgNames({"subs", "batch", "alloc"})
    ->ArgsProduct({{0, 1, 4}, {1, 64}, {0, 1}})
    ->UseRealTime();

}  // namespace
}  // namespace collector
}  // namespace resdb_trace
