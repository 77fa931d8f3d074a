// The gRPC server's own limits, with the real collector: a full collector
// refuses a Subscribe before building anything for it, WatchTimelines has
// its own cap, the server-wide caps (message sizes, streams per
// connection) hold, and an hour-long GetProfile does not hold up shutdown.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "resdb_trace/v1/service.grpc.pb.h"
#include "tests/faults/fault_util.h"

namespace {

using namespace resdb_trace::faults;  // NOLINT: test helpers
using Clock = std::chrono::steady_clock;

std::string Socket(const std::string& name) {
  return "/tmp/resdb-trace-grpc-" + std::to_string(getpid()) + "-" + name +
         ".sock";
}

std::vector<std::string> Target() {
  return {"--binary", Runfile("tests/testdata/hook_target")};
}

std::vector<std::string> Args(std::vector<std::string> extra) {
  std::vector<std::string> a = Target();
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

// The status a stream ends with (a refusal ends it at once).
template <typename Reader, typename Msg>
grpc::Status Drain(Reader* reader, Msg* msg) {
  while (reader->Read(msg)) {
  }
  return reader->Finish();
}

TEST(GrpcLimitsTest, FullCollectorRefusesBeforeCompilingTheFilter) {
  Collector c(Socket("full"),
              Args({"--no-timelines", "--max-subscribers", "1"}));
  std::string why;
  ASSERT_TRUE(c.Start(&why)) << why;
  auto stub = c.Stub();
  grpc::ClientContext hold;
  auto holder = stub->Subscribe(&hold, v1::SubscribeRequest());
  v1::Stats stats;
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(c.GetStats(&stats));
    if (stats.subscribers_size() == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(stats.subscribers_size(), 1);

  // A filter the collector would refuse (65 allow entries, over 64): a
  // full collector says so without compiling it.
  v1::SubscribeRequest bad;
  for (int i = 0; i < 65; ++i) bad.add_allow_list()->add_pids(i + 1);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  auto reader = stub->Subscribe(&ctx, bad);
  v1::EventBatch batch;
  const grpc::Status s = Drain(reader.get(), &batch);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << s.error_message();
  ASSERT_TRUE(c.GetStats(&stats));
  EXPECT_EQ(stats.limits().subscribers_refused(), 1u);
  EXPECT_EQ(stats.limits().filter_refused(), 0u);
  hold.TryCancel();
  (void)Drain(holder.get(), &batch);
}

TEST(GrpcLimitsTest, WatchTimelinesHasItsOwnLimit) {
  Collector c(Socket("watch"), Args({"--max-timeline-watchers", "1"}));
  std::string why;
  ASSERT_TRUE(c.Start(&why)) << why;
  auto stub = c.Stub();
  grpc::ClientContext first_ctx;
  auto first = stub->WatchTimelines(&first_ctx, v1::WatchTimelinesRequest());
  std::this_thread::sleep_for(std::chrono::milliseconds(500));

  grpc::ClientContext second_ctx;
  second_ctx.set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(5));
  auto second = stub->WatchTimelines(&second_ctx, v1::WatchTimelinesRequest());
  v1::TimelineUpdate u;
  const grpc::Status s = Drain(second.get(), &u);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << s.error_message();
  EXPECT_NE(s.error_message().find("--max-timeline-watchers"),
            std::string::npos)
      << s.error_message();

  // Event streams are counted apart: a Subscribe still gets in.
  grpc::ClientContext sub_ctx;
  sub_ctx.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(800));
  auto sub = stub->Subscribe(&sub_ctx, v1::SubscribeRequest());
  v1::EventBatch batch;
  EXPECT_EQ(Drain(sub.get(), &batch).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);

  // Once the first watcher leaves, its slot is free again.
  first_ctx.TryCancel();
  (void)Drain(first.get(), &u);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  grpc::ClientContext third_ctx;
  third_ctx.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(800));
  auto third = stub->WatchTimelines(&third_ctx, v1::WatchTimelinesRequest());
  EXPECT_EQ(Drain(third.get(), &u).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
}

TEST(GrpcLimitsTest, RequestOverTheReceiveCapIsRefused) {
  Collector c(Socket("recv"), Args({"--grpc-max-receive-bytes", "4096"}));
  std::string why;
  ASSERT_TRUE(c.Start(&why)) << why;
  v1::SubscribeRequest big;
  big.set_client_name(std::string(8000, 'x'));
  auto stub = c.Stub();
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  auto reader = stub->Subscribe(&ctx, big);
  v1::EventBatch batch;
  EXPECT_EQ(Drain(reader.get(), &batch).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  v1::Stats stats;
  EXPECT_TRUE(c.GetStats(&stats)) << "small requests still served";
}

TEST(GrpcLimitsTest, StreamsPerConnectionAreCapped) {
  Collector c(Socket("streams"),
              Args({"--grpc-max-streams-per-connection", "2"}));
  std::string why;
  ASSERT_TRUE(c.Start(&why)) << why;
  grpc::ChannelArguments own;
  own.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto channel = grpc::CreateCustomChannel(
      c.target(), grpc::InsecureChannelCredentials(), own);
  auto stub = v1::TraceService::NewStub(channel);
  grpc::ClientContext a, b;
  auto ra = stub->Subscribe(&a, v1::SubscribeRequest());
  auto rb = stub->Subscribe(&b, v1::SubscribeRequest());
  std::this_thread::sleep_for(std::chrono::milliseconds(500));

  // A third call on that connection waits for a free stream.
  grpc::ClientContext third;
  third.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(800));
  v1::Stats stats;
  EXPECT_EQ(stub->GetStats(&third, v1::GetStatsRequest(), &stats).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  // Another connection is served.
  EXPECT_TRUE(c.GetStats(&stats));
  EXPECT_EQ(stats.subscribers_size(), 2);
  a.TryCancel();
  b.TryCancel();
  v1::EventBatch batch;
  (void)Drain(ra.get(), &batch);
  (void)Drain(rb.get(), &batch);
}

TEST(GrpcLimitsTest, ServingThreadsAreCapped) {
  Collector c(Socket("threads"), Args({"--grpc-max-threads", "8"}));
  std::string why;
  ASSERT_TRUE(c.Start(&why)) << why;
  // Each open stream holds a serving thread; 12 streams on their own
  // connections cannot all have one.
  struct Watch {
    std::unique_ptr<v1::TraceService::Stub> stub;
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReader<v1::TimelineUpdate>> reader;
  };
  std::vector<std::unique_ptr<Watch>> watches;
  for (int i = 0; i < 12; ++i) {
    auto w = std::make_unique<Watch>();
    grpc::ChannelArguments own;
    own.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    w->stub = v1::TraceService::NewStub(grpc::CreateCustomChannel(
        c.target(), grpc::InsecureChannelCredentials(), own));
    w->ctx.set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(3));
    w->reader = w->stub->WatchTimelines(&w->ctx, v1::WatchTimelinesRequest());
    watches.push_back(std::move(w));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  int exhausted = 0, held = 0;
  for (auto& w : watches) {
    v1::TimelineUpdate u;
    const grpc::Status s = Drain(w->reader.get(), &u);
    if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) ++exhausted;
    if (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) ++held;
  }
  EXPECT_GT(exhausted, 0);
  EXPECT_GT(held, 0);
  EXPECT_EQ(exhausted + held, 12);
  v1::Stats stats;
  EXPECT_TRUE(c.GetStats(&stats)) << "served again once the streams end";
}

TEST(GrpcLimitsTest, HourLongProfileDoesNotHoldUpShutdown) {
  Collector c(Socket("profile"), Args({"--profile-hz", "49"}));
  std::string why;
  ASSERT_TRUE(c.Start(&why)) << why;
  auto stub = c.Stub();
  grpc::ClientContext ctx;
  v1::Profile out;
  auto call = std::async(std::launch::async, [&] {
    v1::GetProfileRequest req;
    req.set_seconds(3600);
    return stub->GetProfile(&ctx, req, &out);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const auto t0 = Clock::now();
  EXPECT_EQ(c.Stop(), 0) << c.err();
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(5)) << c.err();
  ASSERT_EQ(call.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_FALSE(call.get().ok());
}

}  // namespace
