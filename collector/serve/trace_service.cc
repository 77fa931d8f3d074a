#include "collector/serve/trace_service.h"

#include <time.h>

#include <algorithm>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "collector/metrics/process_stats.h"
#include "collector/profile/profile_rpc.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"
#include "grpc/slice.h"
#include "grpcpp/support/proto_buffer_reader.h"

namespace resdb_trace::collector {
namespace {

grpc::Status ToGrpc(const absl::Status& s) {
  grpc::StatusCode code = grpc::StatusCode::UNKNOWN;
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
      code = grpc::StatusCode::INVALID_ARGUMENT;
      break;
    case absl::StatusCode::kResourceExhausted:
      code = grpc::StatusCode::RESOURCE_EXHAUSTED;
      break;
    case absl::StatusCode::kUnavailable:
      code = grpc::StatusCode::UNAVAILABLE;
      break;
    case absl::StatusCode::kCancelled:
      code = grpc::StatusCode::CANCELLED;
      break;
    case absl::StatusCode::kNotFound:
      code = grpc::StatusCode::NOT_FOUND;
      break;
    default:
      code = grpc::StatusCode::INTERNAL;
  }
  return grpc::Status(code, std::string(s.message()));
}

}  // namespace

TraceService::TraceService(Collector* collector, TraceServiceOptions options,
                           TimelineRunner* timelines)
    : collector_(collector),
      options_(options),
      timelines_(timelines),
      limits_(SubscribeLimits{options.max_subscribers, options.max_events_limit,
                              options.max_delay_limit_ms,
                              options.max_queue_capacity,
                              options.filter_limits}) {
  // Subscribe writes pre-encoded EventBatch bytes (EncodeEventBatch) instead
  // of building an EventBatch, which would deep-copy every shared event per
  // subscriber. Same RPC on the wire; the handler is the one gRPC generates
  // for WithSplitStreamingMethod_Subscribe, with a ByteBuffer response.
  //
  // grpc::internal on purpose: gRPC (1.51, Debian 12) has no public way to
  // give a *synchronous* streaming method a ByteBuffer response type. The
  // public raw forms are WithRawMethod_ (completion-queue async),
  // WithRawCallbackMethod_ (a ServerWriteReactor<ByteBuffer>) and the generic
  // services, all reactor or async APIs: SubscribeStream blocks in PopBatch
  // for up to 100 ms per turn, which must not run on gRPC's callback
  // threads, so moving to them means a per-stream thread feeding a reactor,
  // a different flow-control and shutdown story. The generated code itself
  // constructs this handler (WithSplitStreamingMethod_Subscribe), and the
  // method-index check above fails safe (the plain typed handler stays).
  const google::protobuf::ServiceDescriptor* service =
      v1::EventBatch::descriptor()->file()->FindServiceByName("TraceService");
  if (service != nullptr && service->method_count() > kSubscribeMethodIndex &&
      service->method(kSubscribeMethodIndex)->name() == "Subscribe") {
    MarkMethodStreamed(
        kSubscribeMethodIndex,
        new grpc::internal::SplitServerStreamingHandler<v1::SubscribeRequest,
                                                        grpc::ByteBuffer>(
            [this](grpc::ServerContext* context,
                   grpc::ServerSplitStreamer<v1::SubscribeRequest,
                                             grpc::ByteBuffer>* stream) {
              v1::SubscribeRequest request;
              if (!stream->Read(&request)) {
                return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                    "Subscribe: no request message");
              }
              return SubscribeStream(context, &request,
                                     [stream](grpc::ByteBuffer* bytes) {
                                       return stream->Write(*bytes);
                                     });
            }));
  }
}

void EncodeEventBatch(const v1::EventBatch& head,
                      const std::vector<EventPtr>& events, uint64_t batch_id,
                      uint64_t subscriber_id, grpc::ByteBuffer* out) {
  using google::protobuf::io::CodedOutputStream;
  // (field number << 3) | wire type 2 (length-delimited), the tag the
  // protobuf encoding spec defines; spelled out rather than taken from
  // protobuf's internal WireFormatLite.
  constexpr uint32_t kLengthDelimited = 2;
  constexpr uint32_t kEventsTag =
      (static_cast<uint32_t>(v1::EventBatch::kEventsFieldNumber) << 3) |
      kLengthDelimited;
  static_assert(kEventsTag < 128, "the events tag is one byte");
  // Field order as SerializeToString writes it: events (head's first), then
  // batch_id and subscriber_id.
  v1::EventBatch tail;
  tail.set_batch_id(batch_id);
  tail.set_subscriber_id(subscriber_id);
  const size_t head_size = head.ByteSizeLong();
  const size_t tail_size = tail.ByteSizeLong();
  size_t total = head_size + tail_size;
  for (const EventPtr& e : events) {
    // Also caches every sub-message's size (atomically: events are shared
    // by concurrent streams) for SerializeWithCachedSizesToArray.
    const size_t n = e->ByteSizeLong();
    total += 1 + CodedOutputStream::VarintSize64(n) + n;
  }
  grpc_slice slice = grpc_slice_malloc(total);
  uint8_t* p = GRPC_SLICE_START_PTR(slice);
  p = head.SerializeWithCachedSizesToArray(p);
  for (const EventPtr& e : events) {
    *p++ = static_cast<uint8_t>(kEventsTag);
    p = CodedOutputStream::WriteVarint32ToArray(
        static_cast<uint32_t>(e->GetCachedSize()), p);
    p = e->SerializeWithCachedSizesToArray(p);
  }
  p = tail.SerializeWithCachedSizesToArray(p);
  // The encoding is exact by construction; a mismatch would be a bug here.
  GPR_ASSERT(p == GRPC_SLICE_START_PTR(slice) + total);
  grpc::Slice owned(slice, grpc::Slice::STEAL_REF);
  *out = grpc::ByteBuffer(&owned, 1);
}

bool ParseEventBatch(const grpc::ByteBuffer& bytes, v1::EventBatch* batch) {
  grpc::ProtoBufferReader reader(const_cast<grpc::ByteBuffer*>(&bytes));
  return batch->ParseFromZeroCopyStream(&reader);
}

grpc::Status TraceService::NeedTimelines() const {
  if (timelines_ != nullptr) return grpc::Status::OK;
  return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                      "timelines are disabled in this collector (started "
                      "with --no-timelines)");
}

grpc::Status TraceService::GetTimeline(grpc::ServerContext*,
                                       const v1::GetTimelineRequest* request,
                                       v1::Timeline* response) {
  if (grpc::Status s = NeedTimelines(); !s.ok()) return s;
  absl::StatusOr<v1::Timeline> t = timelines_->builder().Get(*request);
  if (!t.ok()) return ToGrpc(t.status());
  *response = std::move(*t);
  return grpc::Status::OK;
}

grpc::Status TraceService::ListTimelines(
    grpc::ServerContext*, const v1::ListTimelinesRequest* request,
    v1::ListTimelinesResponse* response) {
  if (grpc::Status s = NeedTimelines(); !s.ok()) return s;
  if (request->limit() > 10000) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrFormat("limit %u exceeds the maximum 10000",
                                        request->limit()));
  }
  *response = timelines_->builder().List(*request);
  return grpc::Status::OK;
}

grpc::Status TraceService::GetProfile(grpc::ServerContext* context,
                                      const v1::GetProfileRequest* request,
                                      v1::Profile* response) {
  profile::Profiler* profiler = profiler_.load();
  if (profiler == nullptr) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "profiling is off in this collector: start it with "
                        "--profile-hz N (e.g. 99)");
  }
  // A sampling request (up to kMaxProfileSeconds) ends when the client
  // goes or the collector shuts down, not when its window does.
  absl::StatusOr<v1::Profile> p =
      profile::GetProfile(*profiler, *request, {}, [this, context] {
        return context->IsCancelled() || shutting_down_.load();
      });
  if (!p.ok()) {
    if (p.status().code() == absl::StatusCode::kFailedPrecondition) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          std::string(p.status().message()));
    }
    return ToGrpc(p.status());
  }
  *response = std::move(*p);
  return grpc::Status::OK;
}

grpc::Status TraceService::ListViewChanges(
    grpc::ServerContext*, const v1::ListViewChangesRequest* request,
    v1::ListViewChangesResponse* response) {
  if (grpc::Status s = NeedTimelines(); !s.ok()) return s;
  *response = timelines_->builder().ListViewChanges(*request);
  return grpc::Status::OK;
}

grpc::Status TraceService::WatchTimelines(
    grpc::ServerContext* context, const v1::WatchTimelinesRequest* request,
    grpc::ServerWriter<v1::TimelineUpdate>* writer) {
  if (grpc::Status s = NeedTimelines(); !s.ok()) return s;
  // Its own share of the update hub (the web view's SSE streams have
  // theirs), taken before anything is built for the stream.
  WatcherSlot slot(&watchers_);
  if (slot.count() > options_.max_timeline_watchers) {
    limits_.Count(LimitCounters::Refusal::kSubscribers);
    return grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        absl::StrFormat("%u WatchTimelines streams already open, the limit; "
                        "close one or raise --max-timeline-watchers",
                        options_.max_timeline_watchers));
  }
  const bool all = !request->include_timelines() &&
                   !request->include_view_changes() &&
                   !request->include_anomalies();
  const v1::WatchTimelinesRequest req = *request;
  SubscriberOptions<v1::TimelineUpdate> sopt;
  sopt.capacity = 4096;
  sopt.name = context->peer();
  sopt.filter = [req, all](const v1::TimelineUpdate& u) {
    switch (u.update_case()) {
      case v1::TimelineUpdate::kTimeline: {
        if (!all && !req.include_timelines()) return false;
        const v1::Timeline& t = u.timeline();
        if (req.incomplete_only() && t.state() == v1::TIMELINE_STATE_COMPLETE) {
          return false;
        }
        if (req.slower_than_ns() > 0 &&
            SlowestLatencyNs(t) < req.slower_than_ns()) {
          return false;
        }
        return true;
      }
      case v1::TimelineUpdate::kViewChange:
        return all || req.include_view_changes();
      case v1::TimelineUpdate::kAnomaly:
        return all || req.include_anomalies();
      default:
        return false;
    }
  };
  absl::StatusOr<UpdateHub::Subscription> sub =
      timelines_->updates().Subscribe(std::move(sopt));
  if (!sub.ok()) {
    if (absl::IsResourceExhausted(sub.status())) {
      limits_.Count(LimitCounters::Refusal::kSubscribers);
    }
    return ToGrpc(sub.status());
  }
  std::vector<std::shared_ptr<const v1::TimelineUpdate>> out;
  while (!context->IsCancelled()) {
    PopResult r =
        sub->PopBatch(256, absl::ZeroDuration(), &out, absl::Milliseconds(100));
    uint64_t dropped = r.dropped;
    for (const auto& u : out) {
      v1::TimelineUpdate msg = *u;
      msg.set_dropped_before(dropped);
      dropped = 0;
      if (req.summary_only() && msg.has_timeline()) {
        msg.mutable_timeline()->clear_replicas();
        msg.mutable_timeline()->clear_phases();
      }
      if (!writer->Write(msg)) {
        return grpc::Status(grpc::StatusCode::CANCELLED,
                            "stream closed by the client");
      }
    }
    out.clear();
    if (r.closed) return grpc::Status::OK;
  }
  return grpc::Status(grpc::StatusCode::CANCELLED, "client cancelled");
}

grpc::Status TraceService::Subscribe(
    grpc::ServerContext* context, const v1::SubscribeRequest* request,
    grpc::ServerWriter<v1::EventBatch>* writer) {
  // Not reached through the server (the constructor routes Subscribe to the
  // byte-writing handler); kept for callers that hold a typed writer.
  v1::EventBatch batch;
  return SubscribeStream(context, request, [&](grpc::ByteBuffer* bytes) {
    return ParseEventBatch(*bytes, &batch) && writer->Write(batch);
  });
}

grpc::Status TraceService::SubscribeStream(
    grpc::ServerContext* context, const v1::SubscribeRequest* request,
    const std::function<bool(grpc::ByteBuffer*)>& write) {
  // A full collector refuses before compiling the filter or allocating the
  // queue (the hub checks again, atomically, when subscribing).
  if (collector_->hub().full()) {
    limits_.Count(LimitCounters::Refusal::kSubscribers);
    return grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        absl::StrFormat("the collector already has %u subscribers, the "
                        "limit; close a stream or raise --max-subscribers",
                        options_.max_subscribers));
  }
  const v1::Batching& b = request->batching();
  if (absl::Status s = limits_.CheckSubscribe(*request); !s.ok()) {
    return ToGrpc(s);
  }
  absl::StatusOr<EventFilter> filter =
      EventFilter::Create(*request, options_.filter_limits);
  if (!filter.ok()) {
    limits_.Count(LimitCounters::Refusal::kFilter);
    return ToGrpc(filter.status());
  }
  const size_t max_events =
      b.max_events() ? b.max_events() : options_.default_max_events;
  const absl::Duration max_delay = absl::Milliseconds(
      b.max_delay_ms() ? b.max_delay_ms() : options_.default_max_delay_ms);

  SubscriberOptions<v1::Event> sopt;
  sopt.capacity = request->queue_capacity() ? request->queue_capacity()
                                            : options_.default_queue_capacity;
  sopt.name = context->peer();
  sopt.max_bytes = options_.queue_max_bytes;
  sopt.filter = [f = std::move(*filter)](const v1::Event& e) {
    return f.Matches(e);
  };
  absl::StatusOr<EventHubT::Subscription> sub =
      collector_->hub().Subscribe(std::move(sopt));
  if (!sub.ok()) {
    if (absl::IsResourceExhausted(sub.status())) {
      limits_.Count(LimitCounters::Refusal::kSubscribers);
    }
    return ToGrpc(sub.status());
  }

  Live live;
  live.peer = context->peer();
  live.client_name = request->client_name();
  live.subscribed_at_ns = RealtimeNowNs();
  live.subscription = &*sub;
  {
    absl::MutexLock lock(&mu_);
    live_[sub->id()] = &live;
  }
  // Ring-buffer drops are global: each subscriber is told of the ones that
  // happened while it was subscribed.
  uint64_t ringbuf_seen = collector_->ringbuf_drops();
  uint64_t malformed_seen = collector_->malformed();
  uint64_t batch_id = 0;

  std::vector<EventPtr> events;
  v1::EventBatch notice_batch;
  grpc::ByteBuffer bytes;
  grpc::Status result = grpc::Status::OK;
  while (true) {
    if (context->IsCancelled()) {
      result = grpc::Status(grpc::StatusCode::CANCELLED, "client cancelled");
      break;
    }
    PopResult r =
        sub->PopBatch(max_events, max_delay, &events, absl::Milliseconds(100));
    notice_batch.Clear();
    const uint64_t ringbuf_now = collector_->ringbuf_drops();
    const uint64_t malformed_now = collector_->malformed();
    if (r.dropped > 0 || ringbuf_now > ringbuf_seen ||
        malformed_now > malformed_seen) {
      v1::Event* notice = notice_batch.add_events();
      notice->set_type(v1::EVENT_TYPE_LOSS_NOTICE);
      v1::LossNotice* loss = notice->mutable_loss_notice();
      loss->set_subscriber_dropped(r.dropped);
      loss->set_ringbuf_dropped(ringbuf_now - ringbuf_seen);
      loss->set_malformed(malformed_now - malformed_seen);
      malformed_seen = malformed_now;
      *notice->mutable_time() =
          MonotonicToWallClock::NsToTimestamp(RealtimeNowNs());
      ringbuf_seen = ringbuf_now;
    }
    if (notice_batch.events_size() > 0 || !events.empty()) {
      EncodeEventBatch(notice_batch, events, ++batch_id, sub->id(), &bytes);
      if (!write(&bytes)) {
        result = grpc::Status(grpc::StatusCode::CANCELLED,
                              "stream closed by the client");
        break;
      }
      live.delivered.fetch_add(events.size(), std::memory_order_relaxed);
    }
    if (r.closed) {
      result = grpc::Status::OK;  // collector shut down: stream complete
      break;
    }
  }
  {
    absl::MutexLock lock(&mu_);
    live_.erase(sub->id());
  }
  return result;
}

grpc::Status TraceService::GetStats(grpc::ServerContext*,
                                    const v1::GetStatsRequest*,
                                    v1::Stats* response) {
  *response = collector_->Stats();
  if (timelines_ != nullptr) {
    *response->mutable_timelines() = timelines_->builder().Stats();
  }
  if (jsonl_dropped_) response->set_jsonl_dropped(jsonl_dropped_());
  *response->mutable_limits() = limits_.ToProto();
  *response->mutable_process() = ReadProcessStats();
  *response->mutable_build() = options_.build;
  absl::MutexLock lock(&mu_);
  for (const auto& [id, live] : live_) {
    QueueStats q = live->subscription->Stats();
    v1::SubscriberStats* s = response->add_subscribers();
    s->set_id(id);
    s->set_peer(live->peer);
    s->set_client_name(live->client_name);
    s->set_delivered(live->delivered.load(std::memory_order_relaxed));
    s->set_dropped(q.dropped);
    s->set_queue_depth(static_cast<uint32_t>(q.depth));
    s->set_queue_capacity(static_cast<uint32_t>(q.capacity));
    *s->mutable_subscribed_at() =
        MonotonicToWallClock::NsToTimestamp(live->subscribed_at_ns);
  }
  return grpc::Status::OK;
}

}  // namespace resdb_trace::collector
