// EncodeEventBatch: the bytes Subscribe writes must be exactly the
// EventBatch a typed writer would have sent, for arena-backed shared events.
#include "collector/serve/trace_service.h"

#include <memory>
#include <string>
#include <vector>

#include "collector/ingest/collector.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace resdb_trace::collector {
namespace {

std::string Flatten(const grpc::ByteBuffer& bytes) {
  std::vector<grpc::Slice> slices;
  EXPECT_TRUE(bytes.Dump(&slices).ok());
  std::string out;
  for (const grpc::Slice& s : slices) {
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return out;
}

std::vector<EventPtr> SomeEvents(int n) {
  auto arena = std::make_shared<EventArenaBatch>();
  std::vector<EventPtr> events;
  for (int i = 0; i < n; ++i) {
    v1::Event* e = arena->NewEvent();
    e->set_event_id(1000 + i);
    e->set_type(v1::EVENT_TYPE_PREPARE_RECEIVED);
    e->set_hook_name("prepare_received");
    e->set_node_name("node-with-a-longer-name-than-sso");
    e->mutable_process()->set_pid(4242);
    e->mutable_process()->set_binary(std::string(200 + i, 'b'));
    e->mutable_prepare_received()->set_seq(i);
    e->mutable_prepare_received()->set_view(i * 300);  // multi-byte varints
    e->set_ktime_ns(1ull << 60);
    events.emplace_back(arena, e);
  }
  return events;
}

void ExpectSameAsTyped(const v1::EventBatch& head,
                       const std::vector<EventPtr>& events, uint64_t batch_id,
                       uint64_t subscriber_id) {
  v1::EventBatch typed = head;
  for (const EventPtr& e : events) *typed.add_events() = *e;
  typed.set_batch_id(batch_id);
  typed.set_subscriber_id(subscriber_id);

  grpc::ByteBuffer bytes;
  EncodeEventBatch(head, events, batch_id, subscriber_id, &bytes);
  EXPECT_EQ(Flatten(bytes), typed.SerializeAsString());
  v1::EventBatch parsed;
  ASSERT_TRUE(ParseEventBatch(bytes, &parsed));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(parsed, typed))
      << parsed.DebugString();
}

TEST(EncodeEventBatchTest, EventsOnly) {
  ExpectSameAsTyped(v1::EventBatch(), SomeEvents(3), 7, 2);
}

TEST(EncodeEventBatchTest, LossNoticeFirst) {
  v1::EventBatch head;
  v1::Event* notice = head.add_events();
  notice->set_type(v1::EVENT_TYPE_LOSS_NOTICE);
  notice->mutable_loss_notice()->set_subscriber_dropped(12345);
  notice->mutable_loss_notice()->set_ringbuf_dropped(1);
  ExpectSameAsTyped(head, SomeEvents(5), 1, 99);
}

TEST(EncodeEventBatchTest, NoticeOnly) {
  v1::EventBatch head;
  head.add_events()->mutable_loss_notice()->set_malformed(3);
  ExpectSameAsTyped(head, {}, 300, 1);
}

TEST(EncodeEventBatchTest, LargeEventsAndBatch) {
  // Events over 127 bytes need a two-byte length; many of them make a
  // batch far larger than one slice allocation granule.
  ExpectSameAsTyped(v1::EventBatch(), SomeEvents(2000), 1ull << 40, 1);
}

TEST(EncodeEventBatchTest, SharedEventsEncodeTheSameTwice) {
  // Two streams encode the same shared events: sizes cached by the first
  // must not change the second's bytes.
  const std::vector<EventPtr> events = SomeEvents(4);
  grpc::ByteBuffer a, b;
  EncodeEventBatch(v1::EventBatch(), events, 1, 1, &a);
  EncodeEventBatch(v1::EventBatch(), events, 1, 1, &b);
  EXPECT_EQ(Flatten(a), Flatten(b));
}

}  // namespace
}  // namespace resdb_trace::collector
