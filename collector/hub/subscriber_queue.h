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
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace resdb_trace::collector {

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
    bool queued;
    bool wake;
    {
      absl::MutexLock lock(&mu_);
      queued = PushLocked(event, clock);
      wake = TakeWakeupLocked();
    }
    if (wake) cv_.Signal();
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
    bool wake;
    {
      absl::MutexLock lock(&mu_);
      queued = PushBatchLocked(events, count, filter, clock, retained_bytes);
      wake = TakeWakeupLocked();
    }
    if (wake) cv_.Signal();
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
    absl::MutexLock lock(&mu_);

    if (size_ == 0 && !closed_) {
      const bool bounded = idle_timeout != absl::InfiniteDuration();
      const HubClock::time_point idle_deadline =
          bounded ? DeadlineAfter(HubClock::now(), idle_timeout)
                  : HubClock::time_point::max();
      while (size_ == 0 && !closed_) {
        ArmWakeupLocked(1);
        if (!WaitLocked(idle_deadline)) break;
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
        if (!WaitLocked(deadline)) break;
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
      absl::MutexLock lock(&mu_);
      closed_ = true;
      consumer_waiting_ = false;
    }
    cv_.SignalAll();
  }

  bool closed() const {
    absl::MutexLock lock(&mu_);
    return closed_;
  }

  size_t capacity() const { return capacity_; }

  QueueStats Stats() const {
    absl::MutexLock lock(&mu_);
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

  // Waits for a signal until `deadline` (time_point::max(): no deadline).
  // Returns false once the steady clock has passed the deadline. The deadline
  // is checked against HubClock, not absl's wall clock, so a clock step
  // neither shortens nor stretches a wait; a wakeup before it counts as
  // spurious, like std::condition_variable::wait_until.
  bool WaitLocked(HubClock::time_point deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (deadline == HubClock::time_point::max()) {
      cv_.Wait(&mu_);
      return true;
    }
    const HubClock::time_point now = HubClock::now();
    if (now >= deadline) return false;
    cv_.WaitWithTimeout(&mu_, absl::FromChrono(deadline - now));
    return HubClock::now() < deadline;
  }

  bool PushLocked(const EventPtr& event, PublishClock& clock)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
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

  // PushBatch's work under the lock; returns the number queued.
  size_t PushBatchLocked(const EventPtr* events, size_t count,
                         const Filter* filter, PublishClock& clock,
                         size_t retained_bytes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (closed_) return 0;
    size_t queued = 0;
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
    return queued;
  }

  // Slot of the newest queued event; requires size_ > 0.
  size_t TailLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    size_t tail = head_ + size_ - 1;
    if (tail >= capacity_) tail -= capacity_;
    return tail;
  }

  // Signals only a consumer that is actually waiting and whose batch
  // condition may now hold, once per wait: a busy consumer costs the
  // producer nothing, and a waiting one is not woken for every event.
  // Returns true when the caller must signal cv_, which it does after
  // unlocking so the woken thread does not block on mu_.
  bool TakeWakeupLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!consumer_waiting_ || size_ < wake_at_depth_) return false;
    consumer_waiting_ = false;
    ++wakeups_;
    return true;
  }

  void ArmWakeupLocked(size_t depth) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    consumer_waiting_ = true;
    wake_at_depth_ = depth;
  }

  const size_t capacity_;
  const size_t max_bytes_;

  // Under --config=tsan, //tools/tsan:absl_mutex_annotations makes TSan see
  // this mutex and the waits on cv_ (Debian's Abseil is uninstrumented).
  mutable absl::Mutex mu_;
  absl::CondVar cv_;

  // capacity_ slots; empty slots hold nullptr
  std::vector<EventPtr> ring_ ABSL_GUARDED_BY(mu_);
  // per slot: bytes released when it is popped
  std::vector<size_t> charge_ ABSL_GUARDED_BY(mu_);
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;  // sum of charge_
  size_t head_ ABSL_GUARDED_BY(mu_) = 0;   // index of the oldest event
  size_t size_ ABSL_GUARDED_BY(mu_) = 0;   // events queued
  // when size_ last left 0
  HubClock::time_point first_available_ ABSL_GUARDED_BY(mu_);
  bool consumer_waiting_ ABSL_GUARDED_BY(mu_) =
      false;  // consumer armed a wakeup
  size_t wake_at_depth_ ABSL_GUARDED_BY(mu_) =
      std::numeric_limits<size_t>::max();
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t enqueued_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t delivered_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
  // drops not yet returned by PopBatch
  uint64_t dropped_unreported_ ABSL_GUARDED_BY(mu_) = 0;
  size_t high_water_mark_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t wakeups_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace resdb_trace::collector

#endif  // RESDB_TRACE_COLLECTOR_HUB_SUBSCRIBER_QUEUE_H_
