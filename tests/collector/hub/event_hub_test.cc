#include "collector/hub/event_hub.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace resdb_trace {
namespace collector {
namespace {

// Counts live instances so tests can prove every event was released.
struct Event {
  explicit Event(uint64_t s) : seq(s) { live.fetch_add(1); }
  ~Event() { live.fetch_sub(1); }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  uint64_t seq;
  static std::atomic<int64_t> live;
};
std::atomic<int64_t> Event::live{0};

using Hub = EventHub<Event>;
using EventPtr = Hub::EventPtr;

EventPtr Make(uint64_t seq) { return std::make_shared<const Event>(seq); }

SubscriberOptions<Event> Options(size_t capacity,
                                 std::function<bool(const Event&)> filter = {},
                                 std::string name = "test") {
  SubscriberOptions<Event> options;
  options.capacity = capacity;
  options.filter = std::move(filter);
  options.name = std::move(name);
  return options;
}

// What one consumer saw, checked against what was produced for it.
struct Tally {
  uint64_t delivered = 0;
  uint64_t dropped = 0;
  uint64_t gaps = 0;  // missing sequence numbers seen in the stream
  uint64_t last = 0;
  bool any = false;
  bool in_order = true;
  bool closed = false;
};

// Reads until the subscription is closed and drained.
Tally Consume(Hub::Subscription& sub, size_t max_events,
              absl::Duration max_delay, uint64_t stride = 1) {
  Tally t;
  std::vector<EventPtr> out;
  while (!t.closed) {
    const PopResult r = sub.PopBatch(max_events, max_delay, &out);
    t.delivered += r.events;
    t.dropped += r.dropped;
    t.closed = r.closed;
    for (const EventPtr& e : out) {
      if (t.any) {
        if (e->seq <= t.last) t.in_order = false;
        t.gaps += (e->seq - t.last) / stride - 1;
      } else {
        t.gaps += e->seq / stride;
      }
      t.last = e->seq;
      t.any = true;
    }
  }
  return t;
}

// Publishes [0, n) alternating Publish and PublishBatch of `batch` events.
void PublishSequence(Hub& hub, uint64_t n, size_t batch) {
  std::vector<EventPtr> events;
  for (uint64_t base = 0; base < n; base += batch) {
    const uint64_t end = std::min<uint64_t>(base + batch, n);
    if ((base / batch) % 4 == 3) {
      for (uint64_t i = base; i < end; ++i) hub.Publish(Make(i));
      continue;
    }
    events.clear();
    for (uint64_t i = base; i < end; ++i) events.push_back(Make(i));
    hub.PublishBatch(events);
  }
}

TEST(EventHubTest, FanOutDeliversEveryEventToEverySubscriberInOrder) {
  constexpr uint64_t kEvents = 1000000;
  EventHubOptions limits;
  limits.max_queue_capacity = kEvents;
  Hub hub(limits);
  // Queues as large as the run: no drop is possible, so exact content counts.
  std::vector<Hub::Subscription> subs;
  for (int i = 0; i < 3; ++i) {
    auto sub = hub.Subscribe(Options(kEvents));
    ASSERT_TRUE(sub.ok()) << sub.status();
    subs.push_back(std::move(*sub));
  }
  std::vector<Tally> tallies(3);
  std::vector<std::thread> consumers;
  for (int i = 0; i < 3; ++i) {
    consumers.emplace_back(
        [&, i] { tallies[i] = Consume(subs[i], 512, absl::Milliseconds(1)); });
  }
  std::thread publisher([&] { PublishSequence(hub, kEvents, 256); });
  publisher.join();
  hub.Shutdown();
  for (auto& t : consumers) t.join();

  EXPECT_EQ(hub.published(), kEvents);
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    EXPECT_TRUE(tallies[i].closed);
    EXPECT_TRUE(tallies[i].in_order);
    EXPECT_EQ(tallies[i].delivered, kEvents);
    EXPECT_EQ(tallies[i].dropped, 0u);
    EXPECT_EQ(tallies[i].gaps, 0u);
    EXPECT_EQ(tallies[i].last, kEvents - 1);
    EXPECT_EQ(subs[i].Stats().delivered, kEvents);
  }
  subs.clear();
  EXPECT_EQ(Event::live.load(), 0);
}

TEST(EventHubTest, FanOutWithSmallQueuesAccountsForEveryEvent) {
  constexpr uint64_t kEvents = 1000000;
  Hub hub;
  std::vector<Hub::Subscription> subs;
  for (size_t capacity : {64, 1024, 8192}) {
    auto sub = hub.Subscribe(Options(capacity));
    ASSERT_TRUE(sub.ok()) << sub.status();
    subs.push_back(std::move(*sub));
  }
  std::vector<Tally> tallies(3);
  std::vector<std::thread> consumers;
  for (int i = 0; i < 3; ++i) {
    consumers.emplace_back([&, i] {
      tallies[i] = Consume(subs[i], 256, absl::Microseconds(500));
    });
  }
  std::thread publisher([&] { PublishSequence(hub, kEvents, 128); });
  publisher.join();
  hub.Shutdown();
  for (auto& t : consumers) t.join();

  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    EXPECT_TRUE(tallies[i].in_order);
    EXPECT_EQ(tallies[i].delivered + tallies[i].dropped, kEvents);
    EXPECT_EQ(tallies[i].gaps + (kEvents - 1 - tallies[i].last),
              tallies[i].dropped);
    const QueueStats stats = subs[i].Stats();
    EXPECT_EQ(stats.delivered, tallies[i].delivered);
    EXPECT_EQ(stats.dropped, tallies[i].dropped);
    EXPECT_LE(stats.high_water_mark, stats.capacity);
  }
}

TEST(EventHubTest, SlowSubscriberLosesOnlyItsOwnEvents) {
  constexpr uint64_t kEvents = 200000;
  constexpr size_t kFastCapacity = 4096;
  constexpr size_t kSlowCapacity = 1000;
  constexpr size_t kChunk = 512;
  Hub hub;
  auto fast_or = hub.Subscribe(Options(kFastCapacity, {}, "fast"));
  auto slow_or = hub.Subscribe(Options(kSlowCapacity, {}, "slow"));
  ASSERT_TRUE(fast_or.ok() && slow_or.ok());
  Hub::Subscription fast = std::move(*fast_or);
  Hub::Subscription slow = std::move(*slow_or);
  SubscriberQueue<Event>* fast_queue = &fast.queue();

  Tally fast_tally;
  std::thread fast_consumer(
      [&] { fast_tally = Consume(fast, 256, absl::Microseconds(200)); });
  // The test paces itself on the fast queue's depth (the hub never blocks),
  // so the fast subscriber cannot lose events however the threads are
  // scheduled, while the slow one, never read, overflows.
  std::thread publisher([&] {
    std::vector<EventPtr> events;
    for (uint64_t base = 0; base < kEvents; base += kChunk) {
      while (fast_queue->Stats().depth + kChunk > kFastCapacity) {
        std::this_thread::yield();
      }
      events.clear();
      for (uint64_t i = base; i < std::min<uint64_t>(base + kChunk, kEvents);
           ++i) {
        events.push_back(Make(i));
      }
      hub.PublishBatch(events);
    }
  });
  publisher.join();

  const QueueStats slow_before = slow.Stats();
  EXPECT_EQ(slow_before.depth, kSlowCapacity);
  EXPECT_EQ(slow_before.dropped, kEvents - kSlowCapacity);
  EXPECT_EQ(slow_before.delivered, 0u);

  hub.Shutdown();
  fast_consumer.join();
  const Tally slow_tally = Consume(slow, 300, absl::ZeroDuration());

  EXPECT_EQ(fast_tally.delivered, kEvents);
  EXPECT_EQ(fast_tally.dropped, 0u);
  EXPECT_TRUE(fast_tally.in_order);
  EXPECT_EQ(fast_tally.gaps, 0u);

  // The slow one got exactly the first `capacity` events, then lost the rest.
  EXPECT_EQ(slow_tally.delivered, kSlowCapacity);
  EXPECT_EQ(slow_tally.dropped, kEvents - kSlowCapacity);
  EXPECT_EQ(slow_tally.delivered + slow_tally.dropped, kEvents);
  EXPECT_EQ(slow_tally.last, kSlowCapacity - 1);
  EXPECT_EQ(slow_tally.gaps, 0u);
  EXPECT_TRUE(slow_tally.in_order);
}

TEST(EventHubTest, FiltersSelectPerSubscriber) {
  Hub hub;
  auto all = hub.Subscribe(Options(10000));
  auto even = hub.Subscribe(
      Options(10000, [](const Event& e) { return e.seq % 2 == 0; }));
  auto tenth = hub.Subscribe(
      Options(10000, [](const Event& e) { return e.seq % 10 == 0; }));
  auto none = hub.Subscribe(Options(10000, [](const Event&) { return false; }));
  ASSERT_TRUE(all.ok() && even.ok() && tenth.ok() && none.ok());

  PublishSequence(hub, 4000, 100);  // both Publish and PublishBatch
  hub.Shutdown();

  const Tally t_all = Consume(*all, 1000, absl::ZeroDuration());
  const Tally t_even = Consume(*even, 1000, absl::ZeroDuration(), 2);
  const Tally t_tenth = Consume(*tenth, 1000, absl::ZeroDuration(), 10);
  const Tally t_none = Consume(*none, 1000, absl::ZeroDuration());
  EXPECT_EQ(t_all.delivered, 4000u);
  EXPECT_EQ(t_even.delivered, 2000u);
  EXPECT_EQ(t_even.gaps, 0u);
  EXPECT_EQ(t_even.last, 3998u);
  EXPECT_EQ(t_tenth.delivered, 400u);
  EXPECT_EQ(t_tenth.gaps, 0u);
  EXPECT_EQ(t_none.delivered, 0u);
  EXPECT_EQ(none->Stats().dropped, 0u);  // filtered out is not dropped
  EXPECT_EQ(hub.published(), 4000u);
}

TEST(EventHubTest, PublishBatchSignalsAWaitingConsumerAtMostOnce) {
  Hub hub;
  auto sub = hub.Subscribe(Options(1000));
  ASSERT_TRUE(sub.ok());
  std::atomic<bool> done{false};
  PopResult result;
  std::thread consumer([&] {
    std::vector<EventPtr> out;
    result = sub->PopBatch(100, absl::Hours(1), &out);
    done = true;
  });
  // Let the consumer start waiting; correctness does not depend on it.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::vector<EventPtr> events;
  for (uint64_t i = 0; i < 100; ++i) events.push_back(Make(i));
  hub.PublishBatch(events);
  consumer.join();
  EXPECT_TRUE(done);
  EXPECT_EQ(result.events, 100u);
  EXPECT_LE(sub->Stats().wakeups, 1u);
}

TEST(EventHubTest, SubscribeUnsubscribeChurnWhilePublishing) {
  ASSERT_EQ(Event::live.load(), 0);
  {
    EventHubOptions limits;
    limits.max_subscribers = 32;
    Hub hub(limits);
    std::atomic<bool> stop{false};
    std::thread publisher([&] {
      uint64_t seq = 0;
      std::vector<EventPtr> events;
      while (!stop.load(std::memory_order_relaxed)) {
        hub.Publish(Make(seq++));
        events.clear();
        for (int i = 0; i < 16; ++i) events.push_back(Make(seq++));
        hub.PublishBatch(events);
      }
    });

    constexpr int kThreads = 4;
    constexpr int kRounds = 150;  // 600 subscriptions in all
    std::atomic<int> subscribed{0};
    std::vector<std::thread> churners;
    for (int t = 0; t < kThreads; ++t) {
      churners.emplace_back([&, t] {
        std::mt19937 rng(t);
        std::vector<EventPtr> out;
        for (int round = 0; round < kRounds; ++round) {
          const size_t capacity = 1 + rng() % 64;
          std::function<bool(const Event&)> filter;
          if (round % 3 == 0) {
            filter = [t](const Event& e) { return e.seq % 4 == uint64_t(t); };
          }
          auto sub = hub.Subscribe(Options(capacity, std::move(filter)));
          if (!sub.ok()) {
            ADD_FAILURE() << sub.status();
            return;
          }
          ++subscribed;
          Hub::Subscription held = std::move(*sub);
          const int reads = rng() % 3;
          for (int r = 0; r < reads; ++r) {
            held.PopBatch(8, absl::Microseconds(100), &out,
                          absl::Milliseconds(1));
          }
          if (round % 5 == 0) {
            held.Unsubscribe();  // explicit, then drain what is left
            while (!held.PopBatch(64, absl::ZeroDuration(), &out).closed) {
            }
          }
          out.clear();
        }  // others leave via the destructor, undrained
      });
    }
    for (auto& t : churners) t.join();
    stop = true;
    publisher.join();
    EXPECT_EQ(subscribed.load(), kThreads * kRounds);
    EXPECT_EQ(hub.subscriber_count(), 0u);
    EXPECT_TRUE(hub.Stats().empty());
    EXPECT_GT(hub.published(), 0u);
  }
  EXPECT_EQ(Event::live.load(), 0) << "an event outlived every subscriber";
}

TEST(EventHubTest, LimitsAreEnforced) {
  EventHubOptions limits;
  limits.max_subscribers = 2;
  limits.max_queue_capacity = 100;
  Hub hub(limits);

  auto too_big = hub.Subscribe(Options(101));
  EXPECT_EQ(too_big.status().code(), absl::StatusCode::kResourceExhausted);
  auto zero = hub.Subscribe(Options(0));
  EXPECT_EQ(zero.status().code(), absl::StatusCode::kInvalidArgument);

  auto a = hub.Subscribe(Options(100));
  auto b = hub.Subscribe(Options(1));
  ASSERT_TRUE(a.ok() && b.ok());
  auto c = hub.Subscribe(Options(1));
  EXPECT_EQ(c.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(hub.subscriber_count(), 2u);

  // Leaving frees the slot.
  *a = Hub::Subscription();
  EXPECT_EQ(hub.subscriber_count(), 1u);
  auto d = hub.Subscribe(Options(1));
  EXPECT_TRUE(d.ok()) << d.status();

  hub.Shutdown();
  auto e = hub.Subscribe(Options(1));
  EXPECT_EQ(e.status().code(), absl::StatusCode::kUnavailable);
}

TEST(EventHubTest, ShutdownWakesBlockedConsumers) {
  Hub hub;
  std::vector<Hub::Subscription> subs;
  for (int i = 0; i < 3; ++i) {
    auto sub = hub.Subscribe(Options(16));
    ASSERT_TRUE(sub.ok());
    subs.push_back(std::move(*sub));
  }
  hub.Publish(Make(7));
  std::atomic<int> closed{0};
  std::vector<std::thread> consumers;
  for (int i = 0; i < 3; ++i) {
    consumers.emplace_back([&, i] {
      // Without Shutdown these would wait forever: batch of 16, no deadline.
      const Tally t = Consume(subs[i], 16, absl::InfiniteDuration());
      if (t.closed && t.delivered == 1) ++closed;
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(closed.load(), 0);
  hub.Shutdown();
  for (auto& t : consumers) t.join();
  EXPECT_EQ(closed.load(), 3);
  EXPECT_EQ(hub.subscriber_count(), 0u);
  hub.Publish(Make(8));  // reaches nobody, harmlessly
  EXPECT_EQ(subs[0].Stats().enqueued, 1u);
}

TEST(EventHubTest, SubscriptionIsRaiiAndMovable) {
  Hub hub;
  {
    auto sub = hub.Subscribe(Options(8, {}, "peer:1"));
    ASSERT_TRUE(sub.ok());
    EXPECT_EQ(hub.subscriber_count(), 1u);
    Hub::Subscription moved = std::move(*sub);
    EXPECT_FALSE(*sub);
    EXPECT_TRUE(moved);
    EXPECT_EQ(moved.name(), "peer:1");
    const std::vector<SubscriberStats> stats = hub.Stats();
    ASSERT_EQ(stats.size(), 1u);
    EXPECT_EQ(stats[0].id, moved.id());
    EXPECT_EQ(stats[0].name, "peer:1");
    EXPECT_EQ(stats[0].queue.capacity, 8u);
  }
  EXPECT_EQ(hub.subscriber_count(), 0u);
}

TEST(EventHubTest, SubscriptionMayOutliveHub) {
  auto hub = std::make_unique<Hub>();
  auto sub = hub->Subscribe(Options(8));
  ASSERT_TRUE(sub.ok());
  hub->Publish(Make(1));
  hub.reset();
  std::vector<EventPtr> out;
  const PopResult r = sub->PopBatch(8, absl::Hours(1), &out);
  EXPECT_EQ(r.events, 1u);
  EXPECT_TRUE(r.closed);
  sub->Unsubscribe();  // the hub is gone: must not crash
}

}  // namespace
}  // namespace collector
}  // namespace resdb_trace
