// EventHub: fans decoded events out to any number of subscribers.
//
// The collector's reader thread calls Publish/PublishBatch; each subscriber
// (a gRPC stream, the timeline builder, a JSON-lines writer) owns a bounded
// SubscriberQueue and an optional filter. A slow subscriber loses its own
// events, counted and reported to it, and never stalls the reader or the
// other subscribers.
//
// The hub is a template on the event type so it does not depend on the proto:
// EventHub<resdb_trace::v1::Event> in the collector, anything in tests.
#ifndef RESDB_TRACE_COLLECTOR_HUB_EVENT_HUB_H_
#define RESDB_TRACE_COLLECTOR_HUB_EVENT_HUB_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "collector/hub/subscriber_queue.h"

namespace resdb_trace::collector {

// Limits that protect the collector from a misbehaving or hostile client.
struct EventHubOptions {
  size_t max_subscribers = 64;          // concurrent subscriptions
  size_t max_queue_capacity = 1 << 20;  // slots per subscriber queue
};

template <typename E>
struct SubscriberOptions {
  size_t capacity =
      4096;  // queue slots; 1..EventHubOptions::max_queue_capacity
  // Keeps only events for which it returns true; empty keeps everything. Runs
  // on the publishing thread, possibly under the subscriber's queue lock: it
  // must be cheap, non-blocking, and must not call into the hub.
  std::function<bool(const E&)> filter;
  std::string name;  // who subscribed (peer address, tool name) for Stats()
  // Bound on the bytes the queued events keep alive, as published with
  // PublishBatch's `retained_bytes` (see SubscriberQueue); 0: slots only.
  size_t max_bytes = 0;
};

struct SubscriberStats {
  uint64_t id = 0;   // unique for the hub's lifetime, never reused
  std::string name;  // SubscriberOptions::name
  QueueStats queue;
};

template <typename E>
class EventHub {
 private:
  struct Subscriber {
    uint64_t id;
    std::string name;
    std::function<bool(const E&)> filter;
    std::shared_ptr<SubscriberQueue<E>> queue;
  };
  using Snapshot = std::vector<std::shared_ptr<const Subscriber>>;

  // Subscribers are published as an immutable snapshot, replaced (copy on
  // write) under `mu` by Subscribe/Unsubscribe/Shutdown. A publisher holds
  // `mu` only to copy one shared_ptr, never while it evaluates filters or
  // pushes, so neither a subscribe storm nor a slow consumer can hold up the
  // reader thread, and consumers never wait on `mu` at all. An absl::Mutex
  // reader lock held across the whole fan-out would instead make every
  // Subscribe wait for a publish in progress, and the other way round. The
  // cost is an O(subscribers) copy per subscribe/unsubscribe, which are rare.
  // A queue removed while a publisher still holds the old snapshot is closed
  // first, so late pushes are discarded; the snapshot keeps it alive.
  //
  // Core lives behind a shared_ptr so a Subscription that outlives its hub
  // (held by a stream handler during shutdown) can still unsubscribe safely.
  struct Core {
    explicit Core(const EventHubOptions& o)
        : options(o), snapshot(std::make_shared<const Snapshot>()) {}

    std::shared_ptr<const Snapshot> Load() const {
      absl::MutexLock lock(&mu);
      return snapshot;
    }

    void Remove(uint64_t id) {
      absl::MutexLock lock(&mu);
      auto next = std::make_shared<Snapshot>();
      next->reserve(snapshot->size());
      for (const auto& s : *snapshot) {
        if (s->id != id) next->push_back(s);
      }
      if (next->size() != snapshot->size()) snapshot = std::move(next);
    }

    const EventHubOptions options;
    mutable absl::Mutex mu;
    std::shared_ptr<const Snapshot> snapshot ABSL_GUARDED_BY(mu);  // never null
    uint64_t next_id ABSL_GUARDED_BY(mu) = 1;
    bool shut_down ABSL_GUARDED_BY(mu) = false;
    std::atomic<uint64_t> published{0};
  };

 public:
  using EventPtr = std::shared_ptr<const E>;

  // RAII handle for one subscription: destroying it (or Unsubscribe())
  // removes the subscriber from the hub and closes its queue. Move-only.
  class Subscription {
   public:
    Subscription() = default;
    Subscription(Subscription&& other) noexcept = default;
    Subscription& operator=(Subscription&& other) noexcept {
      if (this != &other) {
        Unsubscribe();
        core_ = std::move(other.core_);
        subscriber_ = std::move(other.subscriber_);
      }
      return *this;
    }
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;
    ~Subscription() { Unsubscribe(); }

    // False for a default-constructed or moved-from handle.
    explicit operator bool() const { return subscriber_ != nullptr; }

    // The accessors below require operator bool() to be true.
    uint64_t id() const { return subscriber_->id; }
    const std::string& name() const { return subscriber_->name; }
    SubscriberQueue<E>& queue() const { return *subscriber_->queue; }
    QueueStats Stats() const { return subscriber_->queue->Stats(); }

    // See SubscriberQueue::PopBatch.
    PopResult PopBatch(size_t max_events, absl::Duration max_delay,
                       std::vector<EventPtr>* out,
                       absl::Duration idle_timeout = absl::InfiniteDuration()) {
      return subscriber_->queue->PopBatch(max_events, max_delay, out,
                                          idle_timeout);
    }

    // Leaves the hub and closes the queue; idempotent. The handle keeps the
    // queue, so events already queued can still be drained and counted.
    void Unsubscribe() {
      if (subscriber_ == nullptr) return;
      subscriber_->queue->Close();
      if (auto core = core_.lock()) core->Remove(subscriber_->id);
      core_.reset();
    }

   private:
    friend class EventHub;
    Subscription(std::weak_ptr<Core> core,
                 std::shared_ptr<const Subscriber> subscriber)
        : core_(std::move(core)), subscriber_(std::move(subscriber)) {}

    std::weak_ptr<Core> core_;  // empty once unsubscribed
    std::shared_ptr<const Subscriber> subscriber_;
  };

  explicit EventHub(const EventHubOptions& options = EventHubOptions())
      : core_(std::make_shared<Core>(options)) {}
  EventHub(const EventHub&) = delete;
  EventHub& operator=(const EventHub&) = delete;
  ~EventHub() { Shutdown(); }

  // Adds a subscriber. Errors: InvalidArgument for a zero capacity,
  // ResourceExhausted when the capacity or the subscriber count would exceed
  // EventHubOptions, Unavailable after Shutdown(). Safe to call concurrently
  // with Publish and with other Subscribe/Unsubscribe calls.
  absl::StatusOr<Subscription> Subscribe(SubscriberOptions<E> options) {
    const EventHubOptions& limits = core_->options;
    if (options.capacity == 0) {
      return absl::InvalidArgumentError(
          "subscriber queue capacity must be at least 1");
    }
    if (options.capacity > limits.max_queue_capacity) {
      return absl::ResourceExhaustedError(
          absl::StrCat("subscriber queue capacity ", options.capacity,
                       " exceeds the limit ", limits.max_queue_capacity,
                       "; ask for a smaller queue or raise "
                       "EventHubOptions::max_queue_capacity"));
    }
    // Refuse a full hub before allocating (checked again under the lock).
    if (full()) return Full(subscriber_count());
    // Allocate the ring before taking the lock: it can be megabytes.
    auto subscriber = std::make_shared<Subscriber>();
    subscriber->name = std::move(options.name);
    subscriber->filter = std::move(options.filter);
    subscriber->queue = std::make_shared<SubscriberQueue<E>>(options.capacity,
                                                             options.max_bytes);

    absl::MutexLock lock(&core_->mu);
    if (core_->shut_down) {
      return absl::UnavailableError("event hub is shut down");
    }
    if (core_->snapshot->size() >= limits.max_subscribers) {
      return Full(core_->snapshot->size());
    }
    subscriber->id = core_->next_id++;
    auto next = std::make_shared<Snapshot>();
    next->reserve(core_->snapshot->size() + 1);
    *next = *core_->snapshot;
    next->push_back(subscriber);
    core_->snapshot = std::move(next);
    return Subscription(core_, std::move(subscriber));
  }

  // Offers one event to every subscriber whose filter accepts it. Never
  // blocks on a consumer. Null events are ignored.
  void Publish(EventPtr event) {
    if (event == nullptr) return;
    const std::shared_ptr<const Snapshot> subscribers = core_->Load();
    core_->published.fetch_add(1, std::memory_order_relaxed);
    PublishClock clock;
    for (const auto& s : *subscribers) {
      if (s->filter && !s->filter(*event)) continue;
      s->queue->Push(event, clock);
    }
  }

  // Same as Publish for each event, in order, but each subscriber's queue is
  // locked, and its consumer signalled, at most once for the whole batch.
  // `retained_bytes`: memory the batch keeps alive as long as any of its
  // events is referenced (the collector's events share one arena per
  // batch); 0 when the events own their memory one by one.
  void PublishBatch(const std::vector<EventPtr>& events,
                    size_t retained_bytes = 0) {
    if (events.empty()) return;
    const std::shared_ptr<const Snapshot> subscribers = core_->Load();
    uint64_t non_null = 0;
    for (const EventPtr& e : events) non_null += e != nullptr ? 1 : 0;
    core_->published.fetch_add(non_null, std::memory_order_relaxed);
    PublishClock clock;
    for (const auto& s : *subscribers) {
      s->queue->PushBatch(events.data(), events.size(),
                          s->filter ? &s->filter : nullptr, clock,
                          retained_bytes);
    }
  }

  // Removes every subscriber and closes its queue, so consumers drain what
  // is queued and then see PopResult::closed. Later Subscribe calls fail and
  // later publishes reach nobody. Idempotent; called by the destructor.
  void Shutdown() {
    std::shared_ptr<const Snapshot> old;
    {
      absl::MutexLock lock(&core_->mu);
      core_->shut_down = true;
      old = std::move(core_->snapshot);
      core_->snapshot = std::make_shared<const Snapshot>();
    }
    for (const auto& s : *old) s->queue->Close();
  }

  // One entry per current subscriber, in subscription order.
  std::vector<SubscriberStats> Stats() const {
    const std::shared_ptr<const Snapshot> subscribers = core_->Load();
    std::vector<SubscriberStats> stats;
    stats.reserve(subscribers->size());
    for (const auto& s : *subscribers) {
      SubscriberStats entry;
      entry.id = s->id;
      entry.name = s->name;
      entry.queue = s->queue->Stats();
      stats.push_back(std::move(entry));
    }
    return stats;
  }

  // Non-null events passed to Publish/PublishBatch, subscribers or not.
  uint64_t published() const {
    return core_->published.load(std::memory_order_relaxed);
  }

  size_t subscriber_count() const { return core_->Load()->size(); }
  // True when Subscribe would refuse for the subscriber limit.
  bool full() const {
    return subscriber_count() >= core_->options.max_subscribers;
  }

 private:
  static absl::Status Full(size_t count) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "event hub already has ", count,
        " subscribers, the limit; close an existing stream or raise "
        "EventHubOptions::max_subscribers"));
  }
  std::shared_ptr<Core> core_;
};

}  // namespace resdb_trace::collector

#endif  // RESDB_TRACE_COLLECTOR_HUB_EVENT_HUB_H_
