// End to end, with real eBPF: the collector binary attaches to real target
// processes and gRPC subscribers check what arrives. Needs root (CI is root);
// these tests fail, never skip, without it.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "resdb_trace/catalog.h"
#include "resdb_trace/v1/service.grpc.pb.h"
#include "tests/e2e/e2e_util.h"

namespace {

namespace v1 = resdb_trace::v1;
using Clock = std::chrono::steady_clock;
using google::protobuf::FieldDescriptor;

using namespace resdb_trace::e2e;  // NOLINT: test helpers

std::vector<int> V1HookIds() {
  std::vector<int> ids;
#define X(id, name, Name, abi, type, event, where, seq_arg, aux_arg) \
  if (abi == RESDB_TRACE_ABI_V1) ids.push_back(id);
  RESDB_TRACE_HOOKS(X)
#undef X
  return ids;
}

// The typed message's field with number `n` as u64, if it exists and is set.
bool Field(const v1::Event& e, int n, uint64_t* v) {
  const auto* r = e.GetReflection();
  const FieldDescriptor* member = r->GetOneofFieldDescriptor(
      e, v1::Event::descriptor()->FindOneofByName("event"));
  if (member == nullptr) return false;
  const auto& m = r->GetMessage(e, member);
  const FieldDescriptor* f = m.GetDescriptor()->FindFieldByNumber(n);
  if (f == nullptr) return false;
  if (f->has_presence() && !m.GetReflection()->HasField(m, f)) return false;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_UINT64:
      *v = m.GetReflection()->GetUInt64(m, f);
      return true;
    case FieldDescriptor::CPPTYPE_UINT32:
      *v = m.GetReflection()->GetUInt32(m, f);
      return true;
    case FieldDescriptor::CPPTYPE_ENUM:
      *v = static_cast<uint64_t>(m.GetReflection()->GetEnumValue(m, f));
      return true;
    default:
      return false;
  }
}

// Checks every hook event of `pid` against what hook_target passed; returns
// how many there were.
long VerifyTargetEvents(const std::vector<v1::Event>& events, uint32_t pid) {
  const std::vector<int> ids = V1HookIds();
  std::map<uint32_t, long> next_i;  // tid -> expected next i
  std::set<std::pair<uint32_t, uint64_t>> seen;
  long n = 0;
  for (const v1::Event& e : events) {
    if (e.process().pid() != pid || e.hook_id() == 0) continue;
    ++n;
    uint64_t seq = 0;
    EXPECT_TRUE(Field(e, 2, &seq)) << e.DebugString();
    const uint64_t t = seq >> 32, i = seq & 0xffffffffu;
    EXPECT_TRUE(seen.insert({e.process().tid(), seq}).second)
        << "duplicate event " << e.DebugString();
    // Per-thread order is kept end to end.
    EXPECT_EQ(static_cast<long>(i), next_i[e.process().tid()])
        << e.DebugString();
    next_i[e.process().tid()] = static_cast<long>(i) + 1;
    EXPECT_EQ(e.hook_id(), static_cast<uint32_t>(ids[i % ids.size()]));
    EXPECT_EQ(e.replica_id(), 7u);
    uint64_t v;
    if (Field(e, 1, &v)) EXPECT_EQ(v, t + 1) << "view";
    if (Field(e, 3, &v)) EXPECT_EQ(v, t + 1) << "sender";
    if (Field(e, 4, &v)) EXPECT_EQ(v, 4u) << "msg_type";
    if (Field(e, 5, &v)) EXPECT_EQ(v, 0xabc000 + t) << "request_ptr";
    if (Field(e, 6, &v)) EXPECT_EQ(v, i * 3) << "proxy_id";
    if (Field(e, 7, &v)) EXPECT_EQ(v, ~i) << "aux";
    if (::testing::Test::HasFailure()) return n;  // one report is enough
  }
  return n;
}

uint64_t LossTotal(const std::vector<v1::Event>& events) {
  uint64_t d = 0;
  for (const auto& e : events) {
    if (e.has_loss_notice()) d += e.loss_notice().subscriber_dropped();
  }
  return d;
}

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u)
        << "BPF tests need root (or CAP_BPF + CAP_PERFMON); CI runs as root";
  }
  const std::string target_ = Runfile("tests/testdata/hook_target");
  const std::string stripped_ = Runfile("tests/testdata/hook_target_stripped");
};

TEST_F(PipelineTest, EveryEventExactlyOnceWithExactFieldsAt50kPerSecond) {
  CollectorProcess c(
      {"--binary", target_, "--jsonl", TmpDir() + "/events.jsonl"});
  std::string why;
  ASSERT_TRUE(c.WaitReady(&why)) << why;
  Subscriber fast(c, v1::SubscribeRequest());
  ASSERT_TRUE(c.WaitSubscribers(1));

  const std::string base = TmpDir() + "/exact";
  pid_t pid =
      Spawn({target_, "2", "25000", "50000"}, base + ".out", base + ".err");
  ASSERT_EQ(WaitExit(pid), 0) << ReadFile(base + ".err");
  const long produced = Produced(ReadFile(base + ".out"));
  ASSERT_EQ(produced, 50000);
  ASSERT_TRUE(fast.WaitExited(pid)) << "no ProcessExited for " << pid;

  std::vector<v1::Event> events = fast.Events();
  EXPECT_EQ(VerifyTargetEvents(events, pid), produced);
  EXPECT_EQ(LossTotal(events), 0u);
  v1::Stats stats = c.Stats();
  EXPECT_EQ(stats.ringbuf_drops_total(), 0u);
  EXPECT_EQ(stats.records_malformed(), 0u);
  // The build the binary's --version prints: VERSION and the git commit.
  std::string version = ReadFile(Runfile("VERSION"));
  version.erase(version.find_last_not_of(" \n") + 1);
  EXPECT_EQ(stats.build().version(), version);
  EXPECT_FALSE(stats.build().commit().empty());
  const RunResult v =
      RunCommand({Runfile("collector/resdb-trace-collector"), "--version"});
  EXPECT_EQ(v.code, 0);
  EXPECT_NE(v.out.find(stats.build().version()), std::string::npos) << v.out;
  EXPECT_NE(v.out.find(stats.build().commit()), std::string::npos) << v.out;

  // --jsonl: every line parses, and carries the same events as the stream.
  ASSERT_EQ(c.Stop(), 0);
  std::ifstream in(TmpDir() + "/events.jsonl");
  std::set<uint64_t> json_ids, grpc_ids;
  for (const auto& e : events) grpc_ids.insert(e.event_id());
  std::string line;
  long lines = 0;
  while (std::getline(in, line)) {
    v1::Event e;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(line, &e).ok())
        << line;
    if (e.has_loss_notice()) continue;
    json_ids.insert(e.event_id());
    ++lines;
  }
  EXPECT_EQ(json_ids, grpc_ids);
  EXPECT_EQ(lines, static_cast<long>(grpc_ids.size()));
}

TEST_F(PipelineTest, SlowSubscriberLosesOnlyItsOwnEventsAndIsToldExactly) {
  CollectorProcess c({"--binary", target_});
  std::string why;
  ASSERT_TRUE(c.WaitReady(&why)) << why;
  Subscriber fast(c, v1::SubscribeRequest());
  v1::SubscribeRequest slow_req;
  slow_req.set_queue_capacity(1000);
  slow_req.set_client_name("slow");
  Subscriber slow(c, slow_req, /*start_reading=*/false);
  ASSERT_TRUE(c.WaitSubscribers(2));

  const std::string base = TmpDir() + "/slow";
  // 30,000 events: far beyond the slow queue's 1000 slots, and within what
  // the fast stream's queue may hold if it falls behind during the burst
  // (16 MiB of decoded events: tens of thousands of these).
  pid_t pid = Spawn({target_, "2", "15000", "0"}, base + ".out", base + ".err");
  ASSERT_EQ(WaitExit(pid), 0) << ReadFile(base + ".err");
  const long produced = Produced(ReadFile(base + ".out"));
  ASSERT_TRUE(fast.WaitExited(pid));
  const std::vector<v1::Event> all = fast.Events();
  EXPECT_EQ(VerifyTargetEvents(all, pid), produced);
  EXPECT_EQ(LossTotal(all), 0u) << "the fast subscriber lost events";

  slow.StartReading();
  // Everything the fast one got (lifecycle events included) is, for the slow
  // one, either delivered or counted in a loss notice.
  const uint64_t published = all.size();
  ASSERT_TRUE(slow.WaitFor([&](const std::vector<v1::Event>& ev) {
    uint64_t delivered = 0;
    for (const auto& e : ev) delivered += e.has_loss_notice() ? 0 : 1;
    return delivered + LossTotal(ev) >= published;
  })) << "slow subscriber: delivered + dropped never reached "
      << published;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const std::vector<v1::Event> got = slow.Events();
  uint64_t delivered = 0;
  for (const auto& e : got) delivered += e.has_loss_notice() ? 0 : 1;
  EXPECT_EQ(delivered + LossTotal(got), published);
  // gRPC's own send buffers hold some events beyond the queue's 1000, so
  // only the sum is exact.
  EXPECT_GT(LossTotal(got), 0u);
}

TEST_F(PipelineTest, OverloadedRingBufferCountsEveryDrop) {
  CollectorProcess c({"--binary", target_, "--ringbuf-kb", "4"});
  std::string why;
  ASSERT_TRUE(c.WaitReady(&why)) << why;
  Subscriber fast(c, v1::SubscribeRequest());
  ASSERT_TRUE(c.WaitSubscribers(1));
  const std::string base = TmpDir() + "/overload";
  pid_t pid =
      Spawn({target_, "2", "200000", "0"}, base + ".out", base + ".err");
  ASSERT_EQ(WaitExit(pid), 0) << ReadFile(base + ".err");
  const long produced = Produced(ReadFile(base + ".out"));
  ASSERT_TRUE(fast.WaitExited(pid));
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  long delivered = 0;
  bool started = false;
  uint64_t queue_dropped = 0;  // the subscriber's own queue (loaded hosts)
  for (const auto& e : fast.Events()) {
    if (e.process().pid() == static_cast<uint32_t>(pid) && e.hook_id() != 0)
      ++delivered;
    if (e.has_process_started() &&
        e.process_started().pid() == static_cast<uint32_t>(pid)) {
      started = true;
    }
    if (e.has_loss_notice()) {
      queue_dropped += e.loss_notice().subscriber_dropped();
    }
  }
  // Only the target is traced and its start and exit events arrived, so
  // every event the subscriber's queue dropped was one of its hook events.
  ASSERT_TRUE(started);
  const v1::Stats stats = c.Stats();
  EXPECT_GT(stats.ringbuf_drops_total(), 0u) << "the ring buffer never filled";
  EXPECT_EQ(static_cast<uint64_t>(delivered) + queue_dropped +
                stats.ringbuf_drops_total(),
            static_cast<uint64_t>(produced));
  uint64_t per_cpu = 0;
  for (uint64_t d : stats.ringbuf_drops_per_cpu()) per_cpu += d;
  EXPECT_EQ(per_cpu, stats.ringbuf_drops_total());
}

TEST_F(PipelineTest, ManyProcessesOfOneStrippedBinaryIncludingARestart) {
  CollectorProcess c({"--binary", stripped_});
  std::string why;
  ASSERT_TRUE(c.WaitReady(&why)) << why;
  Subscriber sub(c, v1::SubscribeRequest());
  ASSERT_TRUE(c.WaitSubscribers(1));
  const std::string base = TmpDir() + "/multi";
  pid_t a =
      Spawn({stripped_, "1", "3000", "0"}, base + "a.out", base + "a.err");
  pid_t b =
      Spawn({stripped_, "2", "2000", "0"}, base + "b.out", base + "b.err");
  ASSERT_EQ(WaitExit(a), 0) << ReadFile(base + "a.err");
  // "Restart" a: same binary, new pid.
  pid_t a2 =
      Spawn({stripped_, "1", "1000", "0"}, base + "c.out", base + "c.err");
  ASSERT_EQ(WaitExit(b), 0) << ReadFile(base + "b.err");
  ASSERT_EQ(WaitExit(a2), 0) << ReadFile(base + "c.err");
  for (pid_t p : {a, b, a2}) ASSERT_TRUE(sub.WaitExited(p)) << p;
  const auto events = sub.Events();
  EXPECT_EQ(VerifyTargetEvents(events, a), 3000);
  EXPECT_EQ(VerifyTargetEvents(events, b), 4000);
  EXPECT_EQ(VerifyTargetEvents(events, a2), 1000);
  for (pid_t p : {a, b, a2}) {
    int started = 0;
    for (const auto& e : events) {
      started += e.has_process_started() &&
                 e.process_started().pid() == static_cast<uint32_t>(p);
    }
    EXPECT_EQ(started, 1) << "pid " << p;
  }
}

TEST_F(PipelineTest, PidThatExitsWhileAttachedIsReportedAndCollectorLives) {
  const std::string base = TmpDir() + "/pidexit";
  // --no-wait: the target runs before and while the collector attaches.
  pid_t pid = Spawn({target_, "1", "300", "100", "--no-wait"}, base + ".out",
                    base + ".err");
  ASSERT_GT(pid, 0);
  CollectorProcess c({"--pid", std::to_string(pid)});
  std::string why;
  ASSERT_TRUE(c.WaitReady(&why)) << why;
  Subscriber sub(c, v1::SubscribeRequest());
  ASSERT_EQ(WaitExit(pid), 0);
  ASSERT_TRUE(sub.WaitExited(pid));
  // Still serving after its only target is gone.
  v1::Stats stats = c.Stats();
  EXPECT_GT(stats.attachments_size(), 0);
  EXPECT_EQ(c.Stop(), 0);
}

TEST_F(PipelineTest, MalformedFiltersAreInvalidArgument) {
  CollectorProcess c({"--binary", target_});
  std::string why;
  ASSERT_TRUE(c.WaitReady(&why)) << why;
  auto stub = c.Stub();
  auto expect_invalid = [&](const v1::SubscribeRequest& req) {
    grpc::ClientContext ctx;
    auto reader = stub->Subscribe(&ctx, req);
    v1::EventBatch b;
    while (reader->Read(&b)) {
    }
    grpc::Status s = reader->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << req.DebugString() << " -> " << s.error_message();
  };
  v1::SubscribeRequest r1;
  r1.add_allow_list()->set_seq_min(10);
  r1.mutable_allow_list(0)->set_seq_max(5);
  expect_invalid(r1);
  v1::SubscribeRequest r2;
  r2.add_deny_list()->add_event_types(static_cast<v1::EventType>(999));
  expect_invalid(r2);
  v1::SubscribeRequest r3;
  r3.add_allow_list()->add_replica_ids(70000);
  expect_invalid(r3);
  v1::SubscribeRequest r4;
  r4.mutable_batching()->set_max_events(1u << 30);
  expect_invalid(r4);
  v1::SubscribeRequest r5;
  for (int i = 0; i < 100; ++i) r5.add_allow_list();
  expect_invalid(r5);
}

struct BadInput {
  std::vector<std::string> args;
  std::string expect;
};

TEST_F(PipelineTest, BadInputGetsAClearErrorAndNoCrash) {
  const std::string collector = Runfile("collector/resdb-trace-collector");
  const std::string partial = Runfile("tests/testdata/partial_target");
  const std::vector<BadInput> cases = {
      {{"--binary", "/nonexistent/replica"}, "No such file or directory"},
      {{"--binary", "/bin/true"}, "none of the resdb_trace hooks"},
      {{"--pid", "4194000"}, "--pid 4194000: no such process"},
      {{"--binary", target_, "--listen", "10.1.2.3:7000"},
       "not a loopback address"},
      {{"--binary", target_, "--listen", "nonsense"}, "expected unix://"},
      {{"--binary", target_, "--hooks", "no_such_hook"},
       "'no_such_hook' is not a catalogue hook"},
      {{}, "nothing to trace"},
  };
  for (const BadInput& b : cases) {
    std::vector<std::string> args = {collector};
    args.insert(args.end(), b.args.begin(), b.args.end());
    RunResult r = RunCommand(args);
    EXPECT_EQ(r.code, 2) << b.expect << ": " << r.err;
    EXPECT_NE(r.err.find(b.expect), std::string::npos)
        << "expected '" << b.expect << "' in: " << r.err;
  }
  // Not root: the message names the capabilities. The runfiles live under
  // /root, which uid 65534 cannot enter, so run a world-readable copy.
  char dir[] = "/tmp/resdb-trace-nonroot-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  chmod(dir, 0755);
  const std::string copy = std::string(dir) + "/resdb-trace-collector";
  ASSERT_EQ(RunCommand({"/bin/cp", collector, copy}).code, 0);
  chmod(copy.c_str(), 0755);
  RunResult r = RunCommand(
      {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
       "--inh-caps=-all", "--bounding-set=-all", copy, "--binary", "/bin/true",
       "--listen", std::string("unix://") + dir + "/c.sock"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("CAP_BPF"), std::string::npos) << r.err;
  RunCommand({"/bin/rm", "-rf", dir});
}

TEST_F(PipelineTest, BinaryWithSomeHooksMissingAttachesTheRest) {
  const std::string partial = Runfile("tests/testdata/partial_target");
  CollectorProcess c({"--binary", partial});
  std::string why;
  ASSERT_TRUE(c.WaitReady(&why)) << why;
  const std::string err = ReadFile(c.err_path());
  EXPECT_NE(err.find("2 hooks attached, 29 missing"), std::string::npos) << err;
  EXPECT_NE(err.find("resdb_trace_committed"), std::string::npos) << err;
  Subscriber sub(c, v1::SubscribeRequest());
  ASSERT_TRUE(c.WaitSubscribers(1));
  RunResult r = RunCommand({partial});
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_TRUE(sub.WaitFor([](const std::vector<v1::Event>& ev) {
    int hooks = 0;
    for (const auto& e : ev) hooks += e.hook_id() != 0;
    return hooks == 2;
  })) << "expected the 2 present hooks to fire";
}

}  // namespace
