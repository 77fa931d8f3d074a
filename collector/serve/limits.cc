#include "collector/serve/limits.h"

#include "absl/strings/str_format.h"

namespace resdb_trace::collector {

absl::Status LimitCounters::CheckSubscribe(
    const v1::SubscribeRequest& request) {
  const v1::Batching& b = request.batching();
  if (b.max_events() > limits_.max_events_per_batch) {
    Count(Refusal::kBatching);
    return absl::InvalidArgumentError(
        absl::StrFormat("batching.max_events %u exceeds the limit %u",
                        b.max_events(), limits_.max_events_per_batch));
  }
  if (b.max_delay_ms() > limits_.max_delay_ms) {
    Count(Refusal::kBatching);
    return absl::InvalidArgumentError(
        absl::StrFormat("batching.max_delay_ms %u exceeds the limit %u",
                        b.max_delay_ms(), limits_.max_delay_ms));
  }
  if (request.queue_capacity() > limits_.max_queue_capacity) {
    Count(Refusal::kQueueCapacity);
    return absl::InvalidArgumentError(
        absl::StrFormat("queue_capacity %u exceeds the limit %u",
                        request.queue_capacity(), limits_.max_queue_capacity));
  }
  return absl::OkStatus();
}

void LimitCounters::Count(Refusal why) {
  switch (why) {
    case Refusal::kSubscribers:
      subscribers_.fetch_add(1, std::memory_order_relaxed);
      break;
    case Refusal::kBatching:
      batching_.fetch_add(1, std::memory_order_relaxed);
      break;
    case Refusal::kQueueCapacity:
      queue_capacity_.fetch_add(1, std::memory_order_relaxed);
      break;
    case Refusal::kFilter:
      filter_.fetch_add(1, std::memory_order_relaxed);
      break;
  }
}

v1::LimitStats LimitCounters::ToProto() const {
  v1::LimitStats s;
  s.set_subscribers_refused(subscribers_.load(std::memory_order_relaxed));
  s.set_batching_refused(batching_.load(std::memory_order_relaxed));
  s.set_queue_capacity_refused(queue_capacity_.load(std::memory_order_relaxed));
  s.set_filter_refused(filter_.load(std::memory_order_relaxed));
  s.set_max_subscribers(limits_.max_subscribers);
  s.set_max_events_per_batch(limits_.max_events_per_batch);
  s.set_max_queue_capacity(limits_.max_queue_capacity);
  s.set_max_filters(static_cast<uint32_t>(limits_.filter.max_filters));
  s.set_max_values_per_criterion(
      static_cast<uint32_t>(limits_.filter.max_values_per_criterion));
  return s;
}

}  // namespace resdb_trace::collector
