#include "collector/timeline/timeline_runner.h"

#include <utility>
#include <vector>

#include "collector/decode/clock.h"

namespace resdb_trace::collector {
namespace {

// Only what timelines are made of: stage events, process exits, losses.
bool Wanted(const v1::Event& e) {
  const int type = e.type();
  return (type >= v1::EVENT_TYPE_CLIENT_BATCH_SENT &&
          type <= v1::EVENT_TYPE_NEW_VIEW_INSTALLED) ||
         type == v1::EVENT_TYPE_PROCESS_EXITED;
}

}  // namespace

TimelineRunner::TimelineRunner(TimelineRunnerOptions options,
                               std::function<uint64_t()> upstream_losses)
    : options_(std::move(options)),
      upstream_losses_(std::move(upstream_losses)),
      updates_(EventHubOptions{options_.max_watchers, 1 << 16}) {
  builder_ = std::make_unique<TimelineBuilder>(
      options_.timeline, [this](const v1::TimelineUpdate& u) {
        updates_.Publish(std::make_shared<const v1::TimelineUpdate>(u));
      });
}

absl::StatusOr<std::unique_ptr<TimelineRunner>> TimelineRunner::Start(
    EventHub<v1::Event>* events, std::function<uint64_t()> upstream_losses,
    TimelineRunnerOptions options) {
  std::unique_ptr<TimelineRunner> r(
      new TimelineRunner(std::move(options), std::move(upstream_losses)));
  SubscriberOptions<v1::Event> sopt;
  sopt.capacity = r->options_.queue_capacity;
  sopt.name = "timeline-builder";
  sopt.filter = Wanted;
  absl::StatusOr<EventHub<v1::Event>::Subscription> sub =
      events->Subscribe(std::move(sopt));
  if (!sub.ok()) return sub.status();
  r->sub_ = std::move(*sub);
  r->thread_ = std::thread([p = r.get()] { p->Loop(); });
  return r;
}

TimelineRunner::~TimelineRunner() { Stop(); }

void TimelineRunner::Stop() {
  std::call_once(stopped_, [this] {
    stop_.store(true);
    sub_.Unsubscribe();  // closes the queue; the loop drains and exits
    if (thread_.joinable()) thread_.join();
    builder_->Flush();
    updates_.Shutdown();
  });
}

void TimelineRunner::Loop() {
  std::vector<std::shared_ptr<const v1::Event>> batch;
  uint64_t upstream_seen = upstream_losses_ ? upstream_losses_() : 0;
  while (true) {
    PopResult r =
        sub_.PopBatch(4096, absl::ZeroDuration(), &batch, options_.tick);
    if (r.dropped > 0) {
      builder_->AddDropped(r.dropped);
      builder_->NoteLoss(r.dropped);
    }
    if (upstream_losses_) {
      const uint64_t now = upstream_losses_();
      if (now > upstream_seen) builder_->NoteLoss(now - upstream_seen);
      upstream_seen = now;
    }
    for (const auto& e : batch) builder_->Add(*e);
    batch.clear();
    builder_->Advance(MonotonicNowNs());
    if (r.closed) break;
  }
}

}  // namespace resdb_trace::collector
