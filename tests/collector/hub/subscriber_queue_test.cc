#include "collector/hub/subscriber_queue.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace resdb_trace {
namespace collector {
namespace {

struct Event {
  explicit Event(uint64_t s) : seq(s) {}
  uint64_t seq;
};
using Queue = SubscriberQueue<Event>;
using EventPtr = Queue::EventPtr;

EventPtr Make(uint64_t seq) { return std::make_shared<const Event>(seq); }

// Generous: only catches "waited for the full max_delay" or a hang.
constexpr auto kPrompt = std::chrono::seconds(20);

TEST(SubscriberQueueTest, FullQueueDropsAndReportsExactCountsOnce) {
  Queue queue(4);
  for (uint64_t i = 0; i < 10; ++i) {
    EXPECT_EQ(queue.Push(Make(i)), i < 4) << i;
  }
  std::vector<EventPtr> out;
  PopResult r = queue.PopBatch(100, absl::ZeroDuration(), &out);
  ASSERT_EQ(r.events, 4u);
  ASSERT_EQ(out.size(), 4u);
  for (uint64_t i = 0; i < 4; ++i) EXPECT_EQ(out[i]->seq, i);
  EXPECT_EQ(r.dropped, 6u);
  EXPECT_FALSE(r.closed);

  // The drop count is reset by the read that reported it.
  r = queue.PopBatch(100, absl::ZeroDuration(), &out, absl::Milliseconds(1));
  EXPECT_EQ(r.events, 0u);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(r.dropped, 0u);

  const QueueStats stats = queue.Stats();
  EXPECT_EQ(stats.capacity, 4u);
  EXPECT_EQ(stats.enqueued, 4u);
  EXPECT_EQ(stats.delivered, 4u);
  EXPECT_EQ(stats.dropped, 6u);
  EXPECT_EQ(stats.depth, 0u);
  EXPECT_EQ(stats.high_water_mark, 4u);
}

std::vector<EventPtr> MakeBatch(uint64_t first, size_t n) {
  std::vector<EventPtr> batch;
  for (size_t i = 0; i < n; ++i) batch.push_back(Make(first + i));
  return batch;
}

// A batch's retained bytes are charged while any of its events is queued; a
// batch that would pass max_bytes is dropped whole, counted exactly.
TEST(SubscriberQueueTest, ByteBoundDropsWholeBatchesAndCountsThem) {
  Queue queue(1000, /*max_bytes=*/250);
  PublishClock clock;
  const std::vector<EventPtr> a = MakeBatch(0, 10), b = MakeBatch(10, 10),
                              c = MakeBatch(20, 10), d = MakeBatch(30, 10);
  EXPECT_EQ(queue.PushBatch(a.data(), a.size(), nullptr, clock, 100), 10u);
  EXPECT_EQ(queue.PushBatch(b.data(), b.size(), nullptr, clock, 100), 10u);
  EXPECT_EQ(queue.Stats().bytes, 200u);
  // 300 > 250: dropped
  EXPECT_EQ(queue.PushBatch(c.data(), c.size(), nullptr, clock, 100), 0u);
  EXPECT_EQ(queue.Stats().dropped, 10u);
  // unbounded events (no retained bytes) are bound by slots only
  EXPECT_EQ(queue.Push(Make(99)), true);

  std::vector<EventPtr> out;
  PopResult r = queue.PopBatch(5, absl::ZeroDuration(), &out);
  EXPECT_EQ(r.events, 5u);
  EXPECT_EQ(r.dropped, 10u);
  EXPECT_EQ(queue.Stats().bytes, 200u);  // a's last event is still queued
  r = queue.PopBatch(5, absl::ZeroDuration(), &out);
  EXPECT_EQ(queue.Stats().bytes, 100u);  // a is out
  EXPECT_EQ(queue.PushBatch(d.data(), d.size(), nullptr, clock, 100), 10u);
  EXPECT_EQ(queue.Stats().bytes, 200u);
  r = queue.PopBatch(100, absl::ZeroDuration(), &out);
  EXPECT_EQ(r.events, 21u);
  EXPECT_EQ(r.dropped, 0u);
  EXPECT_EQ(out.front()->seq, 10u);
  EXPECT_EQ(out[10]->seq, 99u);
  EXPECT_EQ(out.back()->seq, 39u);
  const QueueStats st = queue.Stats();
  EXPECT_EQ(st.bytes, 0u);
  EXPECT_EQ(st.max_bytes, 250u);
  EXPECT_EQ(st.enqueued, st.delivered);
  EXPECT_EQ(st.enqueued + st.dropped, 41u);
}

TEST(SubscriberQueueTest, ByteBoundAlwaysAdmitsOneBatchIntoAnEmptyQueue) {
  Queue queue(100, /*max_bytes=*/10);
  PublishClock clock;
  const std::vector<EventPtr> big = MakeBatch(0, 3);
  EXPECT_EQ(queue.PushBatch(big.data(), big.size(), nullptr, clock, 1 << 20),
            3u);
  EXPECT_EQ(queue.PushBatch(big.data(), big.size(), nullptr, clock, 1), 0u);
  std::vector<EventPtr> out;
  EXPECT_EQ(queue.PopBatch(100, absl::ZeroDuration(), &out).dropped, 3u);
  EXPECT_EQ(queue.Stats().bytes, 0u);
}

TEST(SubscriberQueueTest, ByteBoundChargesOnlyBatchesWithQueuedEvents) {
  // A filter that keeps nothing: nothing queued, nothing charged or dropped.
  Queue queue(100, /*max_bytes=*/150);
  PublishClock clock;
  const Queue::Filter none = [](const Event&) { return false; };
  const Queue::Filter odd = [](const Event& e) { return e.seq % 2 == 1; };
  const std::vector<EventPtr> a = MakeBatch(0, 4);
  EXPECT_EQ(queue.PushBatch(a.data(), a.size(), &none, clock, 100), 0u);
  EXPECT_EQ(queue.Stats().bytes, 0u);
  EXPECT_EQ(queue.PushBatch(a.data(), a.size(), &odd, clock, 100), 2u);
  EXPECT_EQ(queue.Stats().bytes, 100u);
  // over the bound: only the events the filter keeps count as dropped
  EXPECT_EQ(queue.PushBatch(a.data(), a.size(), &odd, clock, 100), 0u);
  EXPECT_EQ(queue.Stats().dropped, 2u);
}

TEST(SubscriberQueueTest, RingWrapsAroundInFifoOrder) {
  Queue queue(5);
  std::vector<EventPtr> out;
  uint64_t next_push = 0;
  uint64_t next_pop = 0;
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(queue.Push(Make(next_push++)));
    const PopResult r = queue.PopBatch(3, absl::ZeroDuration(), &out);
    ASSERT_EQ(r.events, 3u);
    for (const EventPtr& e : out) EXPECT_EQ(e->seq, next_pop++);
  }
  EXPECT_EQ(queue.Stats().high_water_mark, 3u);
}

TEST(SubscriberQueueTest, PushBatchAppliesFilterAndSkipsNull) {
  Queue queue(100);
  std::vector<EventPtr> events;
  for (uint64_t i = 0; i < 10; ++i) events.push_back(Make(i));
  events.push_back(nullptr);
  const Queue::Filter odd = [](const Event& e) { return e.seq % 2 == 1; };
  PublishClock clock;
  EXPECT_EQ(queue.PushBatch(events.data(), events.size(), &odd, clock), 5u);
  EXPECT_EQ(queue.PushBatch(events.data(), 10, nullptr, clock), 10u);
  std::vector<EventPtr> out;
  ASSERT_EQ(queue.PopBatch(100, absl::ZeroDuration(), &out).events, 15u);
  EXPECT_EQ(out[0]->seq, 1u);
  EXPECT_EQ(out[4]->seq, 9u);
  EXPECT_EQ(out[5]->seq, 0u);
}

TEST(SubscriberQueueTest, MaxEventsAvailableReturnsWithoutWaitingForDelay) {
  Queue queue(100);
  for (uint64_t i = 0; i < 10; ++i) queue.Push(Make(i));
  std::vector<EventPtr> out;
  const auto start = std::chrono::steady_clock::now();
  const PopResult r = queue.PopBatch(4, absl::Hours(1), &out);
  EXPECT_LT(std::chrono::steady_clock::now() - start, kPrompt);
  EXPECT_EQ(r.events, 4u);
  EXPECT_EQ(out.front()->seq, 0u);
  EXPECT_EQ(out.back()->seq, 3u);
}

TEST(SubscriberQueueTest, MaxEventsIsClampedToCapacity) {
  Queue queue(3);
  for (uint64_t i = 0; i < 3; ++i) queue.Push(Make(i));
  std::vector<EventPtr> out;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(queue.PopBatch(1000, absl::Hours(1), &out).events, 3u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, kPrompt);
}

TEST(SubscriberQueueTest, PartialBatchWaitsMaxDelayFromFirstEvent) {
  Queue queue(100);
  const auto pushed = std::chrono::steady_clock::now();
  for (uint64_t i = 0; i < 3; ++i) queue.Push(Make(i));
  std::vector<EventPtr> out;
  const PopResult r = queue.PopBatch(100, absl::Milliseconds(100), &out);
  const auto elapsed = std::chrono::steady_clock::now() - pushed;
  EXPECT_EQ(r.events, 3u);
  EXPECT_GE(elapsed, std::chrono::milliseconds(100));
  EXPECT_LT(elapsed, kPrompt);
}

TEST(SubscriberQueueTest, OverdueBacklogIsReturnedWithoutFurtherDelay) {
  Queue queue(100);
  for (uint64_t i = 0; i < 3; ++i) queue.Push(Make(i));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::vector<EventPtr> out;
  const auto start = std::chrono::steady_clock::now();
  // The first event has been available for 300 ms > max_delay already.
  EXPECT_EQ(queue.PopBatch(100, absl::Milliseconds(200), &out).events, 3u);
  EXPECT_LT(std::chrono::steady_clock::now() - start,
            std::chrono::milliseconds(150));
}

TEST(SubscriberQueueTest, WaitingConsumerWokenWhenBatchFills) {
  Queue queue(100);
  std::atomic<bool> done{false};
  PopResult result;
  std::vector<EventPtr> out;
  std::thread consumer([&] {
    result = queue.PopBatch(8, absl::Hours(1), &out);
    done = true;
  });
  for (uint64_t i = 0; i < 8; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    queue.Push(Make(i));
  }
  const auto start = std::chrono::steady_clock::now();
  while (!done && std::chrono::steady_clock::now() - start < kPrompt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_TRUE(done) << "consumer not woken by a full batch";
  consumer.join();
  EXPECT_EQ(result.events, 8u);
  // At most: first event (starts the batch timer), batch full.
  EXPECT_LE(queue.Stats().wakeups, 2u);
}

TEST(SubscriberQueueTest, NoSignalWhenConsumerIsNotWaiting) {
  Queue queue(2000);
  for (uint64_t i = 0; i < 1000; ++i) queue.Push(Make(i));
  EXPECT_EQ(queue.Stats().wakeups, 0u);
}

TEST(SubscriberQueueTest, SignalsPerBatchNotPerEvent) {
  constexpr uint64_t kEvents = 20000;
  Queue queue(kEvents);
  std::atomic<uint64_t> received{0};
  std::atomic<uint64_t> batches{0};
  std::thread consumer([&] {
    std::vector<EventPtr> out;
    for (;;) {
      const PopResult r = queue.PopBatch(100, absl::Milliseconds(5), &out);
      received += r.events;
      ++batches;
      if (r.closed) return;
    }
  });
  for (uint64_t i = 0; i < kEvents; ++i) queue.Push(Make(i));
  queue.Close();
  consumer.join();
  EXPECT_EQ(received.load(), kEvents);
  EXPECT_LE(queue.Stats().wakeups, 2 * batches.load());
  EXPECT_LT(queue.Stats().wakeups, kEvents / 10);
}

TEST(SubscriberQueueTest, IdleTimeoutReturnsEmptyBatch) {
  Queue queue(10);
  std::vector<EventPtr> out{Make(99)};
  const auto start = std::chrono::steady_clock::now();
  const PopResult r =
      queue.PopBatch(10, absl::Seconds(1), &out, absl::Milliseconds(20));
  EXPECT_GE(std::chrono::steady_clock::now() - start,
            std::chrono::milliseconds(20));
  EXPECT_EQ(r.events, 0u);
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(r.closed);
}

TEST(SubscriberQueueTest, CloseWakesBlockedConsumer) {
  Queue queue(10);
  std::atomic<bool> returned{false};
  PopResult result;
  std::thread consumer([&] {
    std::vector<EventPtr> out;
    result = queue.PopBatch(10, absl::InfiniteDuration(), &out);
    returned = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(returned);
  queue.Close();
  consumer.join();
  EXPECT_TRUE(result.closed);
  EXPECT_EQ(result.events, 0u);
}

TEST(SubscriberQueueTest, ClosedQueueDrainsThenReportsClosed) {
  Queue queue(3);
  for (uint64_t i = 0; i < 5; ++i) queue.Push(Make(i));
  queue.Close();
  EXPECT_FALSE(queue.Push(Make(100)));  // not counted as a drop
  std::vector<EventPtr> out;
  PopResult r = queue.PopBatch(2, absl::Hours(1), &out);
  EXPECT_EQ(r.events, 2u);
  EXPECT_EQ(r.dropped, 2u);
  EXPECT_FALSE(r.closed);
  r = queue.PopBatch(2, absl::Hours(1), &out);
  EXPECT_EQ(r.events, 1u);
  EXPECT_EQ(r.dropped, 0u);
  EXPECT_TRUE(r.closed);
  r = queue.PopBatch(2, absl::Hours(1), &out);
  EXPECT_EQ(r.events, 0u);
  EXPECT_TRUE(r.closed);
  EXPECT_EQ(queue.Stats().dropped, 2u);
}

TEST(SubscriberQueueTest, ConcurrentProducerConsumerAccountsForEveryEvent) {
  constexpr uint64_t kEvents = 300000;
  Queue queue(256);
  uint64_t delivered = 0;
  uint64_t dropped = 0;
  uint64_t gaps = 0;
  bool in_order = true;
  std::thread consumer([&] {
    std::vector<EventPtr> out;
    uint64_t expected = 0;
    for (;;) {
      const PopResult r = queue.PopBatch(64, absl::Microseconds(200), &out);
      delivered += r.events;
      dropped += r.dropped;
      for (const EventPtr& e : out) {
        if (e->seq < expected) in_order = false;
        gaps += e->seq - expected;
        expected = e->seq + 1;
      }
      if (r.closed) {
        gaps += kEvents - expected;
        return;
      }
    }
  });
  // Alternate single pushes and batches of 32 so both paths interleave.
  std::vector<EventPtr> batch;
  for (uint64_t base = 0; base < kEvents; base += 32) {
    const uint64_t end = std::min(base + 32, kEvents);
    if ((base / 32) % 2 == 0) {
      for (uint64_t i = base; i < end; ++i) queue.Push(Make(i));
      continue;
    }
    batch.clear();
    for (uint64_t i = base; i < end; ++i) batch.push_back(Make(i));
    PublishClock clock;
    queue.PushBatch(batch.data(), batch.size(), nullptr, clock);
  }
  queue.Close();
  consumer.join();
  EXPECT_TRUE(in_order);
  EXPECT_EQ(delivered + dropped, kEvents);
  EXPECT_EQ(gaps, dropped);
  const QueueStats stats = queue.Stats();
  EXPECT_EQ(stats.delivered, delivered);
  EXPECT_EQ(stats.dropped, dropped);
  EXPECT_LE(stats.high_water_mark, 256u);
}

}  // namespace
}  // namespace collector
}  // namespace resdb_trace
