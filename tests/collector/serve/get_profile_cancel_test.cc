// TraceService.GetProfile with `seconds` (up to an hour of sampling) ends
// within ~100 ms when the client cancels, when the service shuts down and
// when the profiler stops, instead of holding its thread and the server's
// Shutdown for the whole window. Needs root (a real Profiler).
#include <unistd.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "collector/profile/profiler.h"
#include "collector/serve/trace_service.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "resdb_trace/v1/service.grpc.pb.h"

namespace resdb_trace::collector {
namespace {

using Clock = std::chrono::steady_clock;

class GetProfileCancelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    profile::ProfilerOptions popt;
    popt.frequency_hz = 49;
    popt.pids.push_back(static_cast<uint32_t>(getpid()));
    absl::StatusOr<std::unique_ptr<profile::Profiler>> p =
        profile::Profiler::Create(popt);
    ASSERT_TRUE(p.ok()) << p.status();
    profiler_ = std::move(*p);
    ASSERT_TRUE(profiler_->Start().ok());
    service_ = std::make_unique<TraceService>(nullptr);
    service_->SetProfiler(profiler_.get());
    // /tmp: TEST_TMPDIR can exceed a socket path's 107 bytes
    address_ = "unix:///tmp/resdb-trace-profile-cancel-" +
               std::to_string(getpid()) + ".sock";
    unlink(address_.c_str() + 7);
    grpc::ServerBuilder builder;
    builder.AddListeningPort(address_, grpc::InsecureServerCredentials());
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = v1::TraceService::NewStub(
        grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    if (server_) ShutdownWithin(std::chrono::seconds(2));
    if (profiler_) profiler_->Stop();
  }

  // Server::Shutdown waits for every handler: a GetProfile that ignores
  // cancellation would hold it for the hour; give up on it after `limit`.
  bool ShutdownWithin(std::chrono::seconds limit) {
    grpc::Server* server = server_.get();
    auto done = std::async(std::launch::async, [server] {
      server->Shutdown(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(200));
    });
    if (done.wait_for(limit) != std::future_status::ready) {
      ADD_FAILURE() << "server Shutdown still waiting on GetProfile";
      std::fflush(nullptr);
      std::_Exit(1);
    }
    server_.reset();
    return true;
  }

  // Starts GetProfile(seconds = 3600) on its own thread.
  std::future<grpc::Status> StartHourLongProfile(grpc::ClientContext* ctx,
                                                 v1::Profile* out) {
    auto f = std::async(std::launch::async, [this, ctx, out] {
      v1::GetProfileRequest req;
      req.set_seconds(3600);
      return stub_->GetProfile(ctx, req, out);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    return f;
  }

  std::unique_ptr<profile::Profiler> profiler_;
  std::unique_ptr<TraceService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::TraceService::Stub> stub_;
  std::string address_;
};

TEST_F(GetProfileCancelTest, ClientCancelEndsTheHandler) {
  grpc::ClientContext ctx;
  v1::Profile out;
  auto call = StartHourLongProfile(&ctx, &out);
  ctx.TryCancel();
  ASSERT_EQ(call.wait_for(std::chrono::seconds(2)), std::future_status::ready);
  EXPECT_EQ(call.get().error_code(), grpc::StatusCode::CANCELLED);
  // Give the handler its ~100 ms, then Shutdown must not wait on it.
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  const auto t0 = Clock::now();
  ShutdownWithin(std::chrono::seconds(5));
  EXPECT_LT(Clock::now() - t0, std::chrono::milliseconds(1500));
}

TEST_F(GetProfileCancelTest, ServiceShutdownEndsTheHandler) {
  grpc::ClientContext ctx;
  v1::Profile out;
  auto call = StartHourLongProfile(&ctx, &out);
  const auto t0 = Clock::now();
  service_->Shutdown();
  ASSERT_EQ(call.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_LT(Clock::now() - t0, std::chrono::milliseconds(500));
  EXPECT_EQ(call.get().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(GetProfileCancelTest, ProfilerStopEndsTheHandler) {
  grpc::ClientContext ctx;
  v1::Profile out;
  auto call = StartHourLongProfile(&ctx, &out);
  const auto t0 = Clock::now();
  profiler_->Stop();
  ASSERT_EQ(call.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_LT(Clock::now() - t0, std::chrono::milliseconds(500));
  EXPECT_EQ(call.get().error_code(), grpc::StatusCode::UNAVAILABLE);
}

}  // namespace
}  // namespace resdb_trace::collector
