// The collector's limits against a misbehaving or hostile client or traced
// process, with the real collector and real eBPF: every refusal has its
// status code and is counted in Stats.limits; a process flooding the hooks
// with made-up arguments cannot grow the collector's memory without bound.
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "resdb_trace/v1/service.grpc.pb.h"
#include "tests/faults/fault_util.h"

namespace {

using namespace resdb_trace::faults;  // NOLINT: test helpers

std::string Socket(const std::string& name) {
  return "/tmp/resdb-trace-limits-" + std::to_string(getpid()) + "-" + name +
         ".sock";
}

// Subscribes and returns the status the stream ends with (the collector
// refuses a request by ending its stream at once).
grpc::Status SubscribeStatus(const Collector& c,
                             const v1::SubscribeRequest& req) {
  auto stub = c.Stub();
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
  auto reader = stub->Subscribe(&ctx, req);
  v1::EventBatch batch;
  while (reader->Read(&batch)) {
  }
  return reader->Finish();
}

TEST(LimitsTest, MaxSubscribersIsResourceExhaustedCountedAndRecovers) {
  Collector c(Socket("max"), {"--binary", Runfile("tests/testdata/hook_target"),
                              "--no-timelines", "--max-subscribers", "4"});
  std::string why;
  ASSERT_TRUE(c.Start(&why)) << why;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<v1::EventBatch>>> readers;
  auto stub = c.Stub();
  for (int i = 0; i < 4; ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    readers.push_back(
        stub->Subscribe(contexts.back().get(), v1::SubscribeRequest()));
  }
  v1::Stats stats;
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  while (Clock::now() < deadline &&
         (!c.GetStats(&stats) || stats.subscribers_size() < 4)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(stats.subscribers_size(), 4);

  grpc::Status fifth = SubscribeStatus(c, v1::SubscribeRequest());
  EXPECT_EQ(fifth.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << fifth.error_message();
  EXPECT_NE(fifth.error_message().find("the limit"), std::string::npos)
      << fifth.error_message();
  ASSERT_TRUE(c.GetStats(&stats));
  EXPECT_EQ(stats.limits().subscribers_refused(), 1u);
  EXPECT_EQ(stats.limits().max_subscribers(), 4u);

  // One leaves: there is room again.
  contexts[0]->TryCancel();
  readers[0]->Finish();
  while (Clock::now() < deadline + std::chrono::seconds(10) &&
         (!c.GetStats(&stats) || stats.subscribers_size() != 3)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(stats.subscribers_size(), 3);
  grpc::ClientContext ctx;
  auto again = stub->Subscribe(&ctx, v1::SubscribeRequest());
  while (Clock::now() < deadline + std::chrono::seconds(20) &&
         (!c.GetStats(&stats) || stats.subscribers_size() != 4)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(stats.subscribers_size(), 4);
  EXPECT_EQ(stats.limits().subscribers_refused(), 1u);
  ctx.TryCancel();
  again->Finish();
  for (size_t i = 1; i < readers.size(); ++i) {
    contexts[i]->TryCancel();
    readers[i]->Finish();
  }
  EXPECT_EQ(c.Stop(), 0);
}

TEST(LimitsTest, OutOfRangeRequestsAreInvalidArgumentAndCounted) {
  Collector c(Socket("bad"), {"--binary", Runfile("tests/testdata/hook_target"),
                              "--no-timelines"});
  std::string why;
  ASSERT_TRUE(c.Start(&why)) << why;
  struct Case {
    std::string name;
    v1::SubscribeRequest req;
  };
  std::vector<Case> cases;
  {
    v1::SubscribeRequest r;
    r.mutable_batching()->set_max_events(16385);
    cases.push_back({"max_events", r});
    r.Clear();
    r.mutable_batching()->set_max_delay_ms(60'001);
    cases.push_back({"max_delay_ms", r});
    r.Clear();
    r.set_queue_capacity((1u << 20) + 1);
    cases.push_back({"queue_capacity", r});
    r.Clear();
    for (int i = 0; i < 65; ++i) r.add_allow_list()->add_pids(i + 1);
    cases.push_back({"filters", r});
    r.Clear();
    for (int i = 0; i < 4097; ++i) r.add_allow_list()->add_pids(i + 1);
    r.mutable_allow_list()->DeleteSubrange(1, 4096);
    for (int i = 0; i < 4096; ++i) r.mutable_allow_list(0)->add_pids(i + 2);
    cases.push_back({"pids", r});
  }
  for (const Case& k : cases) {
    grpc::Status s = SubscribeStatus(c, k.req);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << k.name << ": " << s.error_message();
  }
  // A request beyond gRPC's 4 MiB receive limit never reaches the service.
  v1::SubscribeRequest huge;
  huge.set_client_name(std::string(5 << 20, 'x'));
  grpc::Status s = SubscribeStatus(c, huge);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << s.error_message();

  v1::Stats stats;
  ASSERT_TRUE(c.GetStats(&stats)) << "collector gone: " << c.err();
  EXPECT_EQ(stats.limits().batching_refused(), 2u);
  EXPECT_EQ(stats.limits().queue_capacity_refused(), 1u);
  EXPECT_EQ(stats.limits().filter_refused(), 2u);
  EXPECT_EQ(stats.limits().subscribers_refused(), 0u);
  EXPECT_EQ(stats.limits().max_events_per_batch(), 16384u);
  EXPECT_EQ(stats.limits().max_queue_capacity(), 1u << 20);
  EXPECT_EQ(stats.limits().max_filters(), 64u);
  EXPECT_EQ(stats.limits().max_values_per_criterion(), 4096u);
  EXPECT_EQ(stats.subscribers_size(), 0);
  EXPECT_EQ(c.Stop(), 0);
}

// Two traced processes call every hook as fast as they can with the
// arguments a hostile replica controls (hook_flood_target: 4093 replica ids
// both claim, increasing views, a new proxy per call, a third of the calls
// on one seq), so the timeline builder meets every per-id, per-view,
// per-proxy and per-seq structure. The collector has timelines on and a
// subscriber that reads nothing (its queue fills): its live heap (Stats.
// process, the collector's own accounting) must level off, and every hit
// must be delivered or counted. RSS is printed, not judged: it also holds
// what the allocator keeps for reuse, which rises in steps with load and
// stays. Every queue is bounded in events, so the bound is what the queues
// hold: with the default --timeline-queue (1 Mi events) it levels off near
// 700 MiB, hence the smaller queue here.
TEST(LimitsTest, HookFloodWithGarbageArgumentsCannotGrowMemoryWithoutBound) {
  const std::string flood = Runfile("tests/faults/hook_flood_target");
  // A small retained ring, so that it fills in the first half.
  Collector c(Socket("flood"), {"--binary", flood, "--ringbuf-mb", "1",
                                "--queue-capacity", "4096", "--timeline-queue",
                                "65536", "--timeline-retained", "256"});
  std::string why;
  ASSERT_TRUE(c.Start(&why)) << why;
  // A stalled client: subscribes, never reads.
  auto stub = c.Stub();
  grpc::ClientContext stalled_ctx;
  v1::SubscribeRequest stalled_req;
  stalled_req.set_queue_capacity(65536);
  auto stalled = stub->Subscribe(&stalled_ctx, stalled_req);

  v1::Stats stats;
  ASSERT_TRUE(c.GetStats(&stats)) << c.err();
  const uint64_t base_heap = stats.process().heap_in_use_bytes();
  const long base_rss = RssKib(c.pid());
  // 2 processes x 4 M hits, unpaced: long enough that the bounded queues
  // (the builder's fills once it falls behind) are full in the first half.
  const std::string base = TmpDir() + "/flood";
  pid_t targets[2];
  for (int i = 0; i < 2; ++i) {
    const std::string out = base + std::to_string(i);
    targets[i] = Spawn({flood, "1", "4000000"}, out + ".out", out + ".err");
    ASSERT_GT(targets[i], 0);
  }
  std::vector<uint64_t> heap;
  std::vector<long> rss;
  int codes[2] = {-2, -2};
  const auto deadline = Clock::now() + std::chrono::seconds(240);
  while (Clock::now() < deadline && (codes[0] == -2 || codes[1] == -2)) {
    for (int i = 0; i < 2; ++i) {
      int status;
      if (codes[i] == -2 &&
          waitpid(targets[i], &status, WNOHANG) == targets[i]) {
        codes[i] = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
      }
    }
    if (c.GetStats(&stats)) heap.push_back(stats.process().heap_in_use_bytes());
    rss.push_back(RssKib(c.pid()));
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  long produced = 0;
  for (int i = 0; i < 2; ++i) {
    if (codes[i] == -2) kill(targets[i], SIGKILL);
    const std::string out = base + std::to_string(i);
    ASSERT_EQ(codes[i], 0) << ReadFile(out + ".err");
    produced += Produced(ReadFile(out + ".out"));
  }
  ASSERT_EQ(produced, 8'000'000);
  ASSERT_GE(heap.size(), 8u) << "flood too short to watch memory";
  // Level: the live heap's peak over the second half is no more than 16 MiB
  // above its peak over the first half (the bounded structures fill in the
  // first), and never above 192 MiB (the bounded queues hold ~130 MiB).
  auto peaks = [](const auto& v) {
    const size_t half = v.size() / 2;
    return std::make_pair(
        *std::max_element(v.begin(), v.begin() + static_cast<long>(half)),
        *std::max_element(v.begin() + static_cast<long>(half), v.end()));
  };
  const auto [heap_first, heap_second] = peaks(heap);
  const auto [rss_first, rss_second] = peaks(rss);
  constexpr uint64_t kMiB = 1 << 20;
  std::printf(
      "collector heap in use: %llu MiB before, %llu MiB peak first half, "
      "%llu MiB peak second half; RSS: %ld, %ld, %ld MiB; %zu samples\n",
      static_cast<unsigned long long>(base_heap / kMiB),
      static_cast<unsigned long long>(heap_first / kMiB),
      static_cast<unsigned long long>(heap_second / kMiB), base_rss / 1024,
      rss_first / 1024, rss_second / 1024, heap.size());
  EXPECT_LE(heap_second, heap_first + 16 * kMiB)
      << "live heap still growing: " << heap_first / kMiB << " -> "
      << heap_second / kMiB << " MiB";
  EXPECT_LE(heap_second, 192 * kMiB) << "live heap above 192 MiB";

  // Every hit read or counted as a ring-buffer drop, once the reader caught
  // up (records stop moving).
  uint64_t last = ~0ull;
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(c.GetStats(&stats)) << c.err();
    if (stats.records_read() == last) break;
    last = stats.records_read();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::printf("read %llu, ring-buffer drops %llu, malformed %llu\n",
              static_cast<unsigned long long>(stats.records_read()),
              static_cast<unsigned long long>(stats.ringbuf_drops_total()),
              static_cast<unsigned long long>(stats.records_malformed()));
  EXPECT_EQ(stats.records_read() + stats.ringbuf_drops_total(),
            static_cast<uint64_t>(produced));
  EXPECT_EQ(stats.records_malformed(), 0u);
  ASSERT_TRUE(stats.has_timelines());
  const v1::TimelineStats& t = stats.timelines();
  std::printf("timelines: %s\n", t.ShortDebugString().c_str());
  EXPECT_LE(t.open(), 100'000u);
  // The builder's bounds held and counted what they dropped.
  EXPECT_LE(t.replicas(), 256u);
  EXPECT_GT(t.replicas_refused(), 0u);
  EXPECT_GT(t.replica_id_conflicts(), 0u);
  EXPECT_GT(t.timeline_events_dropped(), 0u);
  // The stalled subscriber's queue stayed at its bound; the rest is counted.
  ASSERT_EQ(stats.subscribers_size(), 1);
  EXPECT_LE(stats.subscribers(0).queue_depth(), 65536u);
  EXPECT_GT(stats.subscribers(0).dropped(), 0u);
  stalled_ctx.TryCancel();
  EXPECT_EQ(c.Stop(), 0);
}

}  // namespace
