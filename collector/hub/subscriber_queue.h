// SubscriberQueue: the bounded queue between the hub and ONE subscriber.
//
// The producer (the collector's reader thread, through EventHub) never blocks:
// when the queue is full the event is dropped for this subscriber only and
// counted. The consumer (one gRPC stream, one CLI writer...) takes events in
// batches and learns, with each batch, exactly how many events it lost since
// the previous batch, so it can put a loss notice in its stream and a client
// can check delivered + dropped == produced.
//
// Events are held as std::shared_ptr<const E>: one decoded event is shared by
// every subscriber, never copied. The ring of slots is allocated once, at
// construction, so a push costs one reference-count increment and no heap
// allocation.
//
// Besides its slots, a queue can be bounded in bytes: a batch pushed with a
// `retained_bytes` figure (what the batch keeps alive while any of its events
// is referenced: the collector's events share one arena per batch) is
// charged that much until its last queued event is popped. A batch that
// would take the queue past `max_bytes` is dropped, counted like any other
// drop; an empty queue always takes one batch, so a huge batch still flows.
#ifndef RESDB_TRACE_COLLECTOR_HUB_SUBSCRIBER_QUEUE_H_
#define RESDB_TRACE_COLLECTOR_HUB_SUBSCRIBER_QUEUE_H_

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/time/time.h"

namespace resdb_trace {
namespace collector {

using HubClock = std::chrono::steady_clock;

// Reads the clock at most once, on first use, and then answers the same time.
// One publish shares it across all subscribers, and a publish that lands only
// in non-empty queues never reads the clock at all.
class PublishClock {
 public:
  HubClock::time_point Now() {
    if (!valid_) {
      now_ = HubClock::now();
      valid_ = true;
    }
    return now_;
  }

 private:
  HubClock::time_point now_;
  bool valid_ = false;
};

// A consistent snapshot of one queue's counters.
struct QueueStats {
  size_t capacity = 0;         // slots, fixed at construction
  size_t max_bytes = 0;        // byte bound, fixed at construction; 0: none
  size_t bytes = 0;            // bytes charged by the queued batches now
  uint64_t enqueued = 0;       // events accepted into the queue
  uint64_t delivered = 0;      // events handed to the consumer by PopBatch
  uint64_t dropped = 0;        // events rejected because the queue was full
  size_t depth = 0;            // events waiting now
  size_t high_water_mark = 0;  // largest depth ever reached
  uint64_t wakeups = 0;        // times the producer signalled the consumer
  bool closed = false;         // no further events will be accepted
};

// What one PopBatch call produced, besides the events themselves.
struct PopResult {
  size_t events = 0;     // events stored into `out`
  uint64_t dropped = 0;  // events lost since the previous PopBatch (reset)
  bool closed = false;   // closed and drained: no event will ever come again
};

template <typename E>
class SubscriberQueue {
 public:
  using EventPtr = std::shared_ptr<const E>;
  using Filter = std::function<bool(const E&)>;

  // `capacity` must be at least 1 (EventHub validates it for subscribers).
  // `max_bytes` bounds the bytes charged by queued batches; 0: no bound.
  explicit SubscriberQueue(size_t capacity, size_t max_bytes = 0)
      : capacity_(std::max<size_t>(capacity, 1)),
        max_bytes_(max_bytes),
        ring_(capacity_),
        charge_(capacity_, 0) {}

  SubscriberQueue(const SubscriberQueue&) = delete;
  SubscriberQueue& operator=(const SubscriberQueue&) = delete;

  // Producer side. Never blocks beyond the short critical section the
  // consumer also uses to move a batch out. Returns true if the event was
  // queued; false if it was dropped (queue full, counted) or the queue is
  // closed (not counted: nobody is listening any more).
  bool Push(const EventPtr& event) {
    PublishClock clock;
    return Push(event, clock);
  }
  bool Push(const EventPtr& event, PublishClock& clock) {
    std::unique_lock<std::mutex> lock(mu_);
    const bool queued = PushLocked(event, clock);
    FinishPushLocked(lock);
    return queued;
  }

  // Pushes the events of [events, events + count) that pass `filter` (all of
  // them when `filter` is null; null events are skipped), taking the lock
  // once for the whole batch and signalling the consumer at most once.
  // `retained_bytes` is what the batch keeps alive while any of its events
  // is queued (see the byte bound above); 0 charges nothing. Returns the
  // number queued.
  size_t PushBatch(const EventPtr* events, size_t count, const Filter* filter,
                   PublishClock& clock, size_t retained_bytes = 0) {
    size_t queued = 0;
    std::unique_lock<std::mutex> lock(mu_);
    if (closed_) return 0;
    const bool over_bytes = max_bytes_ != 0 && retained_bytes != 0 &&
                            size_ > 0 && bytes_ + retained_bytes > max_bytes_;
    size_t last_slot = 0;
    for (size_t i = 0; i < count; ++i) {
      const EventPtr& event = events[i];
      if (event == nullptr) continue;
      if (filter != nullptr && !(*filter)(*event)) continue;
      if (over_bytes) {
        ++dropped_;
        ++dropped_unreported_;
        continue;
      }
      if (PushLocked(event, clock)) {
        ++queued;
        last_slot = TailLocked();
      }
    }
    if (queued > 0 && retained_bytes != 0) {
      // charged to the batch's last queued event: FIFO pops it last
      charge_[last_slot] += retained_bytes;
      bytes_ += retained_bytes;
    }
    FinishPushLocked(lock);
    return queued;
  }

  // Consumer side; one consumer thread at a time. Replaces the contents of
  // `out` with up to `max_events` events (clamped to [1, capacity]) in FIFO
  // order, returning when
  //   - `max_events` are available, or
  //   - `max_delay` has passed since the first event of the batch became
  //     available (a backlog left by a previous call is therefore returned
  //     at once), or
  //   - the queue is closed (the remaining events are still returned, over
  //     as many calls as needed, before `closed` is reported), or
  //   - no event at all arrived within `idle_timeout` (an empty batch, so a
  //     stream handler can check for cancellation).
  // `max_delay` of zero returns as soon as one event is available.
  PopResult PopBatch(size_t max_events, absl::Duration max_delay,
                     std::vector<EventPtr>* out,
                     absl::Duration idle_timeout = absl::InfiniteDuration()) {
    out->clear();
    max_events = std::min(std::max<size_t>(max_events, 1), capacity_);
    std::unique_lock<std::mutex> lock(mu_);

    if (size_ == 0 && !closed_) {
      const bool bounded = idle_timeout != absl::InfiniteDuration();
      const HubClock::time_point idle_deadline =
          bounded ? DeadlineAfter(HubClock::now(), idle_timeout)
                  : HubClock::time_point::max();
      while (size_ == 0 && !closed_) {
        ArmWakeupLocked(1);
        if (!bounded) {
          cv_.wait(lock);
        } else if (cv_.wait_until(lock, idle_deadline) ==
                   std::cv_status::timeout) {
          break;
        }
      }
    }

    if (size_ > 0 && size_ < max_events && !closed_ &&
        max_delay > absl::ZeroDuration()) {
      const bool bounded = max_delay != absl::InfiniteDuration();
      const HubClock::time_point deadline =
          bounded ? DeadlineAfter(first_available_, max_delay)
                  : HubClock::time_point::max();
      while (size_ < max_events && !closed_) {
        ArmWakeupLocked(max_events);
        if (!bounded) {
          cv_.wait(lock);
        } else if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
          break;
        }
      }
    }
    consumer_waiting_ = false;

    const size_t n = std::min(size_, max_events);
    out->reserve(n);
    for (size_t i = 0; i < n; ++i) {
      out->push_back(std::move(ring_[head_]));
      bytes_ -= charge_[head_];
      charge_[head_] = 0;
      if (++head_ == capacity_) head_ = 0;
    }
    size_ -= n;
    delivered_ += n;
    // Events still queued keep `first_available_`, which predates them: the
    // next call treats them as overdue and returns without waiting.

    PopResult result;
    result.events = n;
    result.dropped = dropped_unreported_;
    result.closed = closed_ && size_ == 0;
    dropped_unreported_ = 0;
    return result;
  }

  // Stops accepting events and wakes the consumer. Idempotent. Events already
  // queued stay available to PopBatch.
  void Close() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
      consumer_waiting_ = false;
    }
    cv_.notify_all();
  }

  bool closed() const {
    std::lock_guard<std::mutex> lock(mu_);
    return closed_;
  }

  size_t capacity() const { return capacity_; }

  QueueStats Stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    QueueStats stats;
    stats.capacity = capacity_;
    stats.max_bytes = max_bytes_;
    stats.bytes = bytes_;
    stats.enqueued = enqueued_;
    stats.delivered = delivered_;
    stats.dropped = dropped_;
    stats.depth = size_;
    stats.high_water_mark = high_water_mark_;
    stats.wakeups = wakeups_;
    stats.closed = closed_;
    return stats;
  }

 private:
  // Saturating `base + d`: an absurdly long delay must not wrap around.
  static HubClock::time_point DeadlineAfter(HubClock::time_point base,
                                            absl::Duration d) {
    const auto limit = HubClock::time_point::max() - base;
    const auto delta = absl::ToChronoNanoseconds(d);
    if (delta >= limit) return HubClock::time_point::max();
    return base + std::chrono::duration_cast<HubClock::duration>(delta);
  }

  bool PushLocked(const EventPtr& event, PublishClock& clock) {
    if (closed_) return false;
    if (size_ == capacity_) {
      ++dropped_;
      ++dropped_unreported_;
      return false;
    }
    if (size_ == 0) first_available_ = clock.Now();
    size_t tail = head_ + size_;
    if (tail >= capacity_) tail -= capacity_;
    ring_[tail] = event;  // the slot is empty: a reference count, no malloc
    ++size_;
    ++enqueued_;
    if (size_ > high_water_mark_) high_water_mark_ = size_;
    return true;
  }

  // Slot of the newest queued event; requires size_ > 0.
  size_t TailLocked() const {
    size_t tail = head_ + size_ - 1;
    if (tail >= capacity_) tail -= capacity_;
    return tail;
  }

  // Signals only a consumer that is actually waiting and whose batch
  // condition may now hold, once per wait: a busy consumer costs the
  // producer nothing, and a waiting one is not woken for every event.
  // Notifies after unlocking so the woken thread does not block on mu_.
  void FinishPushLocked(std::unique_lock<std::mutex>& lock) {
    if (!consumer_waiting_ || size_ < wake_at_depth_) return;
    consumer_waiting_ = false;
    ++wakeups_;
    lock.unlock();
    cv_.notify_one();
  }

  void ArmWakeupLocked(size_t depth) {
    consumer_waiting_ = true;
    wake_at_depth_ = depth;
  }

  const size_t capacity_;
  const size_t max_bytes_;

  // std::mutex rather than absl::Mutex: Debian's Abseil is not built with
  // TSan, so absl::Mutex's synchronization happens inside uninstrumented
  // code, while pthread mutexes and condition variables are intercepted.
  mutable std::mutex mu_;
  std::condition_variable cv_;

  // All below guarded by mu_.
  std::vector<EventPtr> ring_;  // capacity_ slots; empty slots hold nullptr
  std::vector<size_t> charge_;  // per slot: bytes released when it is popped
  size_t bytes_ = 0;            // sum of charge_
  size_t head_ = 0;             // index of the oldest event
  size_t size_ = 0;             // events queued
  HubClock::time_point first_available_;  // when size_ last left 0
  bool consumer_waiting_ = false;         // consumer armed a wakeup
  size_t wake_at_depth_ = std::numeric_limits<size_t>::max();
  bool closed_ = false;
  uint64_t enqueued_ = 0;
  uint64_t delivered_ = 0;
  uint64_t dropped_ = 0;
  uint64_t dropped_unreported_ = 0;  // drops not yet returned by PopBatch
  size_t high_water_mark_ = 0;
  uint64_t wakeups_ = 0;
};

}  // namespace collector
}  // namespace resdb_trace

#endif  // RESDB_TRACE_COLLECTOR_HUB_SUBSCRIBER_QUEUE_H_
