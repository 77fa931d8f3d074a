#include "collector/decode/decoder.h"

#include <cstdint>
#include <cstring>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "bpf/trace_record.h"
#include "collector/decode/clock.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "lib/catalogue.h"
#include "resdb_trace/catalog.h"
#include "resdb_trace/v1/events.pb.h"

namespace resdb_trace::collector {
namespace {

using google::protobuf::TextFormat;
using google::protobuf::util::MessageDifferencer;

constexpr int64_t kWallOffsetNs = 1700000000LL * 1000000000LL;  // 2023-11-14
constexpr uint64_t kU64Max = std::numeric_limits<uint64_t>::max();

uint64_t PackMeta(uint64_t type, uint64_t sender, uint64_t self) {
  return type | sender << 32 | self << 48;
}

// A clock whose offset is exactly kWallOffsetNs.
ClockSource FixedSource() {
  return ClockSource{[] { return kWallOffsetNs; }, [] { return int64_t{0}; }};
}

std::vector<uint8_t> Bytes(const resdb_trace_record& r) {
  std::vector<uint8_t> b(sizeof(r));
  std::memcpy(b.data(), &r, sizeof(r));
  return b;
}

// Every catalogue hook id, by expanding the X-macro.
std::vector<uint32_t> CatalogueIds() {
  std::vector<uint32_t> ids;
#define X(id, name, Name, abi, type, event, where, seq_arg, aux_arg) \
  ids.push_back(id);
  RESDB_TRACE_HOOKS(X)
#undef X
  return ids;
}

class DecoderTest : public ::testing::Test {
 protected:
  DecoderTest() : clock_(FixedSource(), 1), decoder_(&clock_, Options()) {}

  static DecoderOptions Options() {
    DecoderOptions o;
    o.node_name = "host-a";
    o.binary_for_pid = [](uint32_t pid) {
      return "/opt/resdb/replica-" + std::to_string(pid);
    };
    return o;
  }

  // The record every per-hook case starts from: distinct value per register.
  static resdb_trace_record BaseRecord(uint32_t hook_id) {
    resdb_trace_record r{};
    r.ktime_ns = 5000000123ULL;
    r.pid = 4242;
    r.tid = 4250;
    r.cpu = 3;
    r.hook_id = hook_id;
    r.args[0] = 0x00007f12deadbeefULL;   // req_ptr
    r.args[1] = 77;                      // seq
    r.args[2] = PackMeta(5, 2, 3);       // meta: COMMIT from 2, self 3
    r.args[3] = 9;                       // proxy_id
    r.args[4] = 1700000000123456789ULL;  // view (v1) / epoch_ns (compat)
    r.args[5] = 0xabcdef0123456789ULL;   // aux
    return r;
  }

  // The envelope BaseRecord(hook_id) decodes to, without the payload.
  static v1::Event BaseEnvelope(uint32_t hook_id, absl::string_view name,
                                uint32_t replica_id) {
    v1::Event e;
    e.set_event_id(1);
    e.mutable_time()->set_seconds(1700000005);
    e.mutable_time()->set_nanos(123);
    e.set_ktime_ns(5000000123ULL);
    e.mutable_process()->set_pid(4242);
    e.mutable_process()->set_tid(4250);
    e.mutable_process()->set_cpu(3);
    e.mutable_process()->set_binary("/opt/resdb/replica-4242");
    e.set_replica_id(replica_id);
    e.set_hook_id(hook_id);
    e.set_hook_name(std::string(name));
    e.set_node_name("host-a");
    return e;
  }

  MonotonicToWallClock clock_;
  Decoder decoder_;
};

// What BaseRecord(id) must decode into, payload only, in text format.
struct Case {
  uint32_t hook_id;
  const char* name;
  v1::EventType type;
  const char* payload;
};

// Payload fields shared by every case.
#define COMMON                               \
  "sender: 2 msg_type: MESSAGE_TYPE_COMMIT " \
  "request_ptr: 0x00007f12deadbeef proxy_id: 9 "
#define V1_DIGEST                               \
  "{ view: 1700000000123456789 seq: 77 " COMMON \
  "digest_prefix: 0xabcdef0123456789 }"
#define COMPAT "{ seq: 77 " COMMON "caller_epoch_ns: 1700000000123456789 }"

const Case kCases[] = {
    {1, "consensus_commit", v1::EVENT_TYPE_CONSENSUS_DISPATCH,
     // DISPATCH: type is args[2] as u32 (5), sender args[3] as u32 (9),
     // proxy_id args[4].
     "consensus_dispatch { seq: 77 sender: 9 msg_type: MESSAGE_TYPE_COMMIT "
     "request_ptr: 0x00007f12deadbeef proxy_id: 1700000000123456789 }"},
    {2, "pbft_request", v1::EVENT_TYPE_REQUEST_RECEIVED,
     "request_received " COMPAT},
    {3, "pbft_pre_prepare", v1::EVENT_TYPE_PRE_PREPARE_RECEIVED,
     "pre_prepare_received " COMPAT},
    {4, "pbft_prepare_recv", v1::EVENT_TYPE_PREPARE_RECEIVED,
     "prepare_received " COMPAT},
    {5, "pbft_prepare_state", v1::EVENT_TYPE_PREPARED, "prepared " COMPAT},
    {6, "pbft_commit_recv", v1::EVENT_TYPE_COMMIT_RECEIVED,
     "commit_received " COMPAT},
    {7, "pbft_commit_state", v1::EVENT_TYPE_COMMITTED, "committed " COMPAT},
    {8, "pbft_execute_start", v1::EVENT_TYPE_EXECUTE_START,
     "execute_start " COMPAT},
    {9, "pbft_execute_end", v1::EVENT_TYPE_EXECUTE_END, "execute_end " COMPAT},
    {10, "client_batch_sent", v1::EVENT_TYPE_CLIENT_BATCH_SENT,
     "client_batch_sent { view: 1700000000123456789 local_id: 77 " COMMON
     "digest_prefix: 0xabcdef0123456789 }"},
    {11, "request_received", v1::EVENT_TYPE_REQUEST_RECEIVED,
     "request_received " V1_DIGEST},
    {12, "pre_prepare_sent", v1::EVENT_TYPE_PRE_PREPARE_SENT,
     "pre_prepare_sent " V1_DIGEST},
    {13, "pre_prepare_received", v1::EVENT_TYPE_PRE_PREPARE_RECEIVED,
     "pre_prepare_received " V1_DIGEST},
    {14, "prepare_sent", v1::EVENT_TYPE_PREPARE_SENT,
     "prepare_sent " V1_DIGEST},
    {15, "prepare_received", v1::EVENT_TYPE_PREPARE_RECEIVED,
     "prepare_received " V1_DIGEST},
    {16, "prepared", v1::EVENT_TYPE_PREPARED, "prepared " V1_DIGEST},
    {17, "commit_sent", v1::EVENT_TYPE_COMMIT_SENT, "commit_sent " V1_DIGEST},
    {18, "commit_received", v1::EVENT_TYPE_COMMIT_RECEIVED,
     "commit_received " V1_DIGEST},
    {19, "committed", v1::EVENT_TYPE_COMMITTED, "committed " V1_DIGEST},
    {20, "execute_start", v1::EVENT_TYPE_EXECUTE_START,
     "execute_start " V1_DIGEST},
    {21, "execute_end", v1::EVENT_TYPE_EXECUTE_END,
     "execute_end { view: 1700000000123456789 seq: 77 " COMMON
     "txn_count: 0xabcdef0123456789 }"},
    {22, "reply_sent", v1::EVENT_TYPE_REPLY_SENT, "reply_sent " V1_DIGEST},
    {23, "reply_to_client", v1::EVENT_TYPE_REPLY_TO_CLIENT,
     "reply_to_client { view: 1700000000123456789 seq: 77 " COMMON
     "matching_replies: 0xabcdef0123456789 }"},
    {24, "checkpoint_sent", v1::EVENT_TYPE_CHECKPOINT_SENT,
     "checkpoint_sent { view: 1700000000123456789 seq: 77 " COMMON
     "state_digest_prefix: 0xabcdef0123456789 }"},
    {25, "checkpoint_received", v1::EVENT_TYPE_CHECKPOINT_RECEIVED,
     "checkpoint_received { view: 1700000000123456789 seq: 77 " COMMON
     "state_digest_prefix: 0xabcdef0123456789 }"},
    {26, "checkpoint_stable", v1::EVENT_TYPE_CHECKPOINT_STABLE,
     "checkpoint_stable { view: 1700000000123456789 seq: 77 " COMMON
     "votes: 0xabcdef0123456789 }"},
    {27, "view_change_started", v1::EVENT_TYPE_VIEW_CHANGE_STARTED,
     "view_change_started { new_view: 1700000000123456789 "
     "stable_checkpoint_seq: 77 " COMMON
     "max_prepared_seq: 0xabcdef0123456789 }"},
    {28, "view_change_received", v1::EVENT_TYPE_VIEW_CHANGE_RECEIVED,
     "view_change_received { new_view: 1700000000123456789 "
     "stable_checkpoint_seq: 77 " COMMON "votes: 0xabcdef0123456789 }"},
    {29, "new_view_sent", v1::EVENT_TYPE_NEW_VIEW_SENT,
     "new_view_sent { new_view: 1700000000123456789 max_seq: 77 " COMMON
     "votes: 0xabcdef0123456789 }"},
    {30, "new_view_installed", v1::EVENT_TYPE_NEW_VIEW_INSTALLED,
     "new_view_installed { new_view: 1700000000123456789 next_seq: 77 " COMMON
     "new_primary: 0xabcdef0123456789 }"},
    {31, "user", v1::EVENT_TYPE_USER_EVENT,
     "user_event { view: 1700000000123456789 seq: 77 " COMMON
     "aux: 0xabcdef0123456789 }"},
};

#undef COMMON
#undef V1_DIGEST
#undef COMPAT

TEST_F(DecoderTest, CasesCoverTheCatalogueExactly) {
  std::set<uint32_t> cases;
  for (const Case& c : kCases) cases.insert(c.hook_id);
  const std::vector<uint32_t> ids = CatalogueIds();
  EXPECT_EQ(cases, std::set<uint32_t>(ids.begin(), ids.end()));
}

TEST_F(DecoderTest, EveryHookDecodesEveryFieldExactly) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    // A fresh decoder per case: event_id 1, pid unseen.
    Decoder decoder(&clock_, Options());
    absl::StatusOr<v1::Event> got = decoder.DecodeRecord(BaseRecord(c.hook_id));
    ASSERT_TRUE(got.ok()) << got.status();

    // DISPATCH carries no self; the pid's replica id is not known yet.
    const uint32_t replica =
        c.hook_id == RESDB_TRACE_ID_consensus_commit ? 0 : 3;
    v1::Event want = BaseEnvelope(c.hook_id, c.name, replica);
    want.set_type(c.type);
    v1::Event payload;
    ASSERT_TRUE(TextFormat::MergeFromString(c.payload, &payload)) << c.payload;
    want.MergeFrom(payload);

    std::string diff;
    MessageDifferencer differencer;
    differencer.ReportDifferencesToString(&diff);
    EXPECT_TRUE(differencer.Compare(want, *got)) << diff;
    EXPECT_EQ(static_cast<int>(got->type()),
              static_cast<int>(got->event_case()));
    EXPECT_EQ(got->type(), *catalogue::EventTypeForHook(c.hook_id));
  }
}

TEST_F(DecoderTest, CompatHooksLeaveViewAndDigestAbsent) {
  absl::StatusOr<v1::Event> got =
      decoder_.DecodeRecord(BaseRecord(RESDB_TRACE_ID_pbft_prepare_recv));
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->prepare_received().has_view());
  EXPECT_FALSE(got->prepare_received().has_digest_prefix());
  EXPECT_TRUE(got->prepare_received().has_caller_epoch_ns());

  got = decoder_.DecodeRecord(BaseRecord(RESDB_TRACE_ID_prepare_received));
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->prepare_received().has_view());
  EXPECT_TRUE(got->prepare_received().has_digest_prefix());
  EXPECT_FALSE(got->prepare_received().has_caller_epoch_ns());

  // A view and digest of 0 are still present (explicit presence).
  resdb_trace_record r = BaseRecord(RESDB_TRACE_ID_prepare_received);
  r.args[4] = 0;
  r.args[5] = 0;
  got = decoder_.DecodeRecord(r);
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->prepare_received().has_view());
  EXPECT_TRUE(got->prepare_received().has_digest_prefix());
}

TEST_F(DecoderTest, EdgeValuesSurvive) {
  resdb_trace_record r = BaseRecord(RESDB_TRACE_ID_committed);
  r.args[0] = kU64Max;
  r.args[1] = kU64Max;
  r.args[2] = PackMeta(0xffffffffu, 0xffff, 65535);
  r.args[3] = kU64Max;
  r.args[4] = kU64Max;
  r.args[5] = kU64Max;
  r.pid = 0xffffffffu;
  r.tid = 0xffffffffu;
  r.cpu = 0xffffffffu;
  r.ktime_ns = kU64Max;
  absl::StatusOr<v1::Event> got = decoder_.DecodeRecord(r);
  ASSERT_TRUE(got.ok()) << got.status();
  const v1::Committed& c = got->committed();
  EXPECT_EQ(c.view(), kU64Max);
  EXPECT_EQ(c.seq(), kU64Max);
  EXPECT_EQ(c.sender(), 65535u);
  EXPECT_EQ(static_cast<uint32_t>(c.msg_type()), 0xffffffffu);
  EXPECT_EQ(c.request_ptr(), kU64Max);
  EXPECT_EQ(c.proxy_id(), kU64Max);
  EXPECT_EQ(c.digest_prefix(), kU64Max);
  EXPECT_EQ(got->replica_id(), 65535u);
  EXPECT_EQ(got->ktime_ns(), kU64Max);
  EXPECT_EQ(got->process().pid(), 0xffffffffu);
  EXPECT_EQ(got->process().tid(), 0xffffffffu);
  EXPECT_EQ(got->process().cpu(), 0xffffffffu);
  // UINT64_MAX + offset wraps to offset - 1 ns.
  EXPECT_EQ(got->time().seconds(), 1699999999);
  EXPECT_EQ(got->time().nanos(), 999999999);

  // A serialized round trip keeps every bit.
  v1::Event parsed;
  ASSERT_TRUE(parsed.ParseFromString(got->SerializeAsString()));
  EXPECT_TRUE(MessageDifferencer::Equals(parsed, *got));

  // Unknown ResilientDB types pass through the open enum unchanged.
  r.args[2] = PackMeta(13, 0, 1);
  got = decoder_.DecodeRecord(r);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(static_cast<int>(got->committed().msg_type()), 13);
  EXPECT_EQ(got->committed().sender(), 0u);
  EXPECT_EQ(got->replica_id(), 1u);
}

TEST_F(DecoderTest, CompatNegativeEpochKeepsItsSign) {
  resdb_trace_record r = BaseRecord(RESDB_TRACE_ID_pbft_commit_state);
  r.args[4] = static_cast<uint64_t>(int64_t{-42});
  absl::StatusOr<v1::Event> got = decoder_.DecodeRecord(r);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->committed().caller_epoch_ns(), -42);
}

TEST_F(DecoderTest, DispatchIgnoresUpperHalvesOfU32Registers) {
  resdb_trace_record r = BaseRecord(RESDB_TRACE_ID_consensus_commit);
  r.args[2] = 0xdeadbeef00000004ULL;  // type 4 (PREPARE), garbage above
  r.args[3] = 0xfeedface00000002ULL;  // sender 2, garbage above
  absl::StatusOr<v1::Event> got = decoder_.DecodeRecord(r);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->consensus_dispatch().msg_type(), v1::MESSAGE_TYPE_PREPARE);
  EXPECT_EQ(got->consensus_dispatch().sender(), 2u);
  EXPECT_EQ(got->replica_id(), 0u);
}

TEST_F(DecoderTest, DispatchBorrowsTheReplicaIdThePidReported) {
  ASSERT_TRUE(decoder_.DecodeRecord(BaseRecord(RESDB_TRACE_ID_prepared)).ok());
  absl::StatusOr<v1::Event> got =
      decoder_.DecodeRecord(BaseRecord(RESDB_TRACE_ID_consensus_commit));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->replica_id(), 3u);
}

TEST_F(DecoderTest, WrongSizeIsRejectedAndCounted) {
  const std::vector<uint8_t> bytes = Bytes(BaseRecord(RESDB_TRACE_ID_prepared));
  std::vector<v1::Event> out;
  for (size_t size : {size_t{0}, size_t{1}, sizeof(resdb_trace_record) - 1}) {
    absl::Status s =
        decoder_.Decode(absl::MakeConstSpan(bytes.data(), size), &out);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  }
  std::vector<uint8_t> longer = bytes;
  longer.push_back(0);
  EXPECT_EQ(decoder_.Decode(longer, &out).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(out.empty());
  const DecoderStats stats = decoder_.stats();
  EXPECT_EQ(stats.records, 4u);
  EXPECT_EQ(stats.wrong_size, 4u);
  EXPECT_EQ(stats.malformed, 4u);
  EXPECT_EQ(stats.decoded, 0u);
}

TEST_F(DecoderTest, UnknownHookIdsAreRejectedAndCounted) {
  std::vector<v1::Event> out;
  for (uint32_t id : {0u, 32u, 63u, 64u, 1000u, 0xffffffffu}) {
    SCOPED_TRACE(id);
    absl::Status s = decoder_.Decode(Bytes(BaseRecord(id)), &out);
    EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
    EXPECT_EQ(decoder_.DecodeRecord(BaseRecord(id)).status().code(),
              absl::StatusCode::kNotFound);
    EXPECT_FALSE(catalogue::EventTypeForHook(id).ok());
    EXPECT_EQ(catalogue::FindHook(id), nullptr);
  }
  EXPECT_TRUE(out.empty());
  const DecoderStats stats = decoder_.stats();
  EXPECT_EQ(stats.unknown_hook, 12u);
  EXPECT_EQ(stats.malformed, 12u);
  EXPECT_EQ(stats.decoded, 0u);
  EXPECT_EQ(stats.processes_seen, 0u);
}

TEST_F(DecoderTest, DecodeFromUnalignedBytes) {
  std::vector<uint8_t> buf(sizeof(resdb_trace_record) + 1);
  const resdb_trace_record r = BaseRecord(RESDB_TRACE_ID_commit_sent);
  std::memcpy(buf.data() + 1, &r, sizeof(r));
  std::vector<v1::Event> out;
  ASSERT_TRUE(
      decoder_.Decode(absl::MakeConstSpan(buf.data() + 1, sizeof(r)), &out)
          .ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].commit_sent().seq(), 77u);
}

TEST_F(DecoderTest, FirstRecordOfAPidAnnouncesTheProcess) {
  std::vector<v1::Event> out;
  ASSERT_TRUE(
      decoder_.Decode(Bytes(BaseRecord(RESDB_TRACE_ID_prepared)), &out).ok());
  ASSERT_EQ(out.size(), 2u);

  v1::Event want_started;
  want_started.set_type(v1::EVENT_TYPE_PROCESS_STARTED);
  want_started.set_event_id(1);
  want_started.mutable_time()->set_seconds(1700000005);
  want_started.mutable_time()->set_nanos(123);
  want_started.set_ktime_ns(5000000123ULL);
  want_started.mutable_process()->set_pid(4242);
  want_started.mutable_process()->set_tid(4250);
  want_started.mutable_process()->set_cpu(3);
  want_started.mutable_process()->set_binary("/opt/resdb/replica-4242");
  want_started.set_replica_id(3);
  want_started.set_node_name("host-a");
  want_started.mutable_process_started()->set_pid(4242);
  want_started.mutable_process_started()->set_binary("/opt/resdb/replica-4242");
  std::string diff;
  MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&diff);
  EXPECT_TRUE(differencer.Compare(want_started, out[0])) << diff;

  EXPECT_EQ(out[1].type(), v1::EVENT_TYPE_PREPARED);
  EXPECT_EQ(out[1].event_id(), 2u);

  // Same pid again: no second announcement; ids keep increasing.
  ASSERT_TRUE(
      decoder_.Decode(Bytes(BaseRecord(RESDB_TRACE_ID_committed)), &out).ok());
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[2].type(), v1::EVENT_TYPE_COMMITTED);
  EXPECT_EQ(out[2].event_id(), 3u);

  const DecoderStats stats = decoder_.stats();
  EXPECT_EQ(stats.records, 2u);
  EXPECT_EQ(stats.decoded, 2u);
  EXPECT_EQ(stats.processes_seen, 1u);
  EXPECT_EQ(stats.malformed, 0u);

  // Forgetting the pid reports its exit and re-announces it next time.
  const v1::Event exited = decoder_.ForgetProcess(4242);
  EXPECT_EQ(exited.type(), v1::EVENT_TYPE_PROCESS_EXITED);
  EXPECT_EQ(exited.event_id(), 4u);
  EXPECT_EQ(exited.process_exited().pid(), 4242u);
  EXPECT_EQ(exited.process_exited().binary(), "/opt/resdb/replica-4242");
  EXPECT_EQ(exited.replica_id(), 3u);
  ASSERT_TRUE(
      decoder_.Decode(Bytes(BaseRecord(RESDB_TRACE_ID_committed)), &out).ok());
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(out[3].type(), v1::EVENT_TYPE_PROCESS_STARTED);
  EXPECT_EQ(out[4].event_id(), 6u);
}

// The collector's typed path onto an arena produces exactly what the bytes
// path produces, and counts the same way.
TEST_F(DecoderTest, TypedRecordOntoAnArenaMatchesTheBytesPath) {
  Decoder typed(&clock_, Options());
  google::protobuf::Arena arena;
  std::vector<v1::Event*> got;
  std::vector<v1::Event> want;
  for (uint32_t id : {RESDB_TRACE_ID_prepared, RESDB_TRACE_ID_committed}) {
    ASSERT_TRUE(typed.Decode(BaseRecord(id), &arena, &got).ok());
    ASSERT_TRUE(decoder_.Decode(Bytes(BaseRecord(id)), &want).ok());
  }
  ASSERT_EQ(got.size(), 3u);  // ProcessStarted, PREPARED, COMMITTED
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i]->GetArena(), &arena);
    std::string diff;
    MessageDifferencer differencer;
    differencer.ReportDifferencesToString(&diff);
    EXPECT_TRUE(differencer.Compare(want[i], *got[i])) << i << ": " << diff;
  }

  const absl::Status unknown = typed.Decode(BaseRecord(1000), &arena, &got);
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound) << unknown;
  EXPECT_EQ(got.size(), 3u);
  const DecoderStats stats = typed.stats();
  EXPECT_EQ(stats.records, 3u);
  EXPECT_EQ(stats.decoded, 2u);
  EXPECT_EQ(stats.unknown_hook, 1u);
  EXPECT_EQ(stats.wrong_size, 0u);
  EXPECT_EQ(stats.malformed, 1u);
  EXPECT_EQ(stats.processes_seen, 1u);
}

TEST_F(DecoderTest, ProcessStartedCanBeTurnedOff) {
  DecoderOptions o = Options();
  o.emit_process_started = false;
  Decoder decoder(&clock_, o);
  std::vector<v1::Event> out;
  ASSERT_TRUE(
      decoder.Decode(Bytes(BaseRecord(RESDB_TRACE_ID_prepared)), &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].event_id(), 1u);
  EXPECT_EQ(out[0].process().binary(), "/opt/resdb/replica-4242");
}

TEST(UnpackMetaTest, MatchesTheCatalogueLayout) {
  const UnpackedMeta m = UnpackMeta(PackMeta(0x89abcdef, 0x1234, 0xfedc));
  EXPECT_EQ(m.type, 0x89abcdefu);
  EXPECT_EQ(m.sender, 0x1234u);
  EXPECT_EQ(m.self, 0xfedcu);
  const UnpackedMeta max = UnpackMeta(kU64Max);
  EXPECT_EQ(max.type, 0xffffffffu);
  EXPECT_EQ(max.sender, 65535u);
  EXPECT_EQ(max.self, 65535u);
}

TEST(EventSeqTest, StagesHaveASeqLifecycleEventsDoNot) {
  v1::Event e;
  e.mutable_commit_received()->set_seq(12);
  EXPECT_EQ(EventSeq(e), std::optional<uint64_t>(12));
  e.mutable_consensus_dispatch()->set_seq(0);
  EXPECT_EQ(EventSeq(e), std::optional<uint64_t>(0));
  e.mutable_client_batch_sent()->set_local_id(5);
  EXPECT_EQ(EventSeq(e), std::nullopt);
  e.mutable_process_started()->set_pid(1);
  EXPECT_EQ(EventSeq(e), std::nullopt);
  EXPECT_EQ(EventSeq(v1::Event()), std::nullopt);
}

}  // namespace
}  // namespace resdb_trace::collector
