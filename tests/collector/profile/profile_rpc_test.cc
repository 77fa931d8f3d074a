// GetProfile's request handling and response assembly, without BPF.
#include "collector/profile/profile_rpc.h"

#include "absl/strings/match.h"
#include "collector/profile/pprof.h"
#include "gtest/gtest.h"
#include "tests/collector/profile/profile_fixture.h"

namespace resdb_trace::collector::profile {
namespace {

namespace v1 = ::resdb_trace::v1;

const absl::Time kNow = absl::FromUnixSeconds(1700000100);

TEST(QueryFromRequestTest, WindowsAndFilters) {
  v1::GetProfileRequest req;
  req.add_pids(7);
  req.add_replica_ids(2);
  req.add_phase_hook_ids(0);
  req.add_phase_hook_ids(15);
  absl::StatusOr<ProfileQuery> q = QueryFromRequest(req, kNow);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->pids, std::vector<uint32_t>({7}));
  EXPECT_EQ(q->replica_ids, std::vector<uint32_t>({2}));
  EXPECT_EQ(q->phases, std::vector<uint32_t>({0, 15}));
  // no window: the last 10 seconds
  EXPECT_EQ(q->start, kNow - absl::Seconds(10));
  EXPECT_EQ(q->end, absl::InfiniteFuture());

  req.set_last_seconds(60);
  EXPECT_EQ(QueryFromRequest(req, kNow)->start, kNow - absl::Seconds(60));

  req.set_seconds(5);
  q = QueryFromRequest(req, kNow);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->start, kNow);
  EXPECT_EQ(q->end, kNow + absl::Seconds(5));

  req.mutable_range()->mutable_start()->set_seconds(1700000000);
  req.mutable_range()->mutable_end()->set_seconds(1700000050);
  req.mutable_range()->mutable_end()->set_nanos(5);
  q = QueryFromRequest(req, kNow);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->start, absl::FromUnixSeconds(1700000000));
  EXPECT_EQ(q->end, absl::FromUnixSeconds(1700000050) + absl::Nanoseconds(5));

  // an open end reaches the newest sample
  req.mutable_range()->clear_end();
  EXPECT_EQ(QueryFromRequest(req, kNow)->end, absl::InfiniteFuture());
}

TEST(QueryFromRequestTest, RejectsBadRequests) {
  auto code = [](const v1::GetProfileRequest& r) {
    return QueryFromRequest(r, kNow).status().code();
  };
  v1::GetProfileRequest zero;
  zero.set_seconds(0);
  EXPECT_EQ(code(zero), absl::StatusCode::kInvalidArgument);
  v1::GetProfileRequest long_one;
  long_one.set_seconds(kMaxProfileSeconds + 1);
  EXPECT_EQ(code(long_one), absl::StatusCode::kInvalidArgument);
  v1::GetProfileRequest inverted;
  inverted.mutable_range()->mutable_start()->set_seconds(20);
  inverted.mutable_range()->mutable_end()->set_seconds(10);
  EXPECT_EQ(code(inverted), absl::StatusCode::kInvalidArgument);
  v1::GetProfileRequest last0;
  last0.set_last_seconds(0);
  EXPECT_EQ(code(last0), absl::StatusCode::kInvalidArgument);
  v1::GetProfileRequest phase;
  phase.add_phase_hook_ids(64);
  EXPECT_EQ(code(phase), absl::StatusCode::kInvalidArgument);
  v1::GetProfileRequest format;
  format.add_formats(static_cast<v1::ProfileFormat>(42));
  EXPECT_EQ(code(format), absl::StatusCode::kInvalidArgument);
  v1::GetProfileRequest unspecified;
  unspecified.add_formats(v1::PROFILE_FORMAT_UNSPECIFIED);
  EXPECT_EQ(code(unspecified), absl::StatusCode::kInvalidArgument);
}

TEST(RenderProfileTest, AllFormatsAndFigures) {
  const ProfileData data = testing::MakeFixture();
  v1::GetProfileRequest req;  // no formats: all of them
  req.mutable_render()->set_title("replica 1 CPU");
  absl::StatusOr<v1::Profile> p = RenderProfile(data, req);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_FALSE(p->pprof_gz().empty());
  absl::StatusOr<ProfileData> back = ParsePprof(p->pprof_gz());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->TotalCount(), 100u);
  EXPECT_NE(p->folded().find("main;Run;Hot 70\n"), std::string::npos);
  EXPECT_NE(p->svg().find("<title>replica 1 CPU</title>"), std::string::npos);
  EXPECT_TRUE(absl::StartsWith(p->markdown(), "# replica 1 CPU\n"));

  EXPECT_EQ(p->counters().samples(), 100u);
  EXPECT_EQ(p->counters().lost_user_stacks(), 1u);
  EXPECT_EQ(p->counters().dropped_samples(), 2u);
  EXPECT_EQ(p->counters().intervals(), 5u);
  EXPECT_EQ(p->frequency_hz(), 99u);
  EXPECT_EQ(p->range().start().seconds(), 1700000000);
  EXPECT_EQ(p->range().start().nanos(), 123456789);
  EXPECT_EQ(p->range().end().seconds(), 1700000005);
  ASSERT_EQ(p->pids_size(), 2);
  EXPECT_EQ(p->pids(0), 10u);
  EXPECT_EQ(p->pids(1), 20u);
  ASSERT_EQ(p->processes_size(), 2);
  EXPECT_EQ(p->processes(0).samples(), 96u);
  EXPECT_TRUE(p->processes(0).has_replica_id());
  EXPECT_EQ(p->processes(0).replica_id(), 1u);
  EXPECT_EQ(p->processes(0).comm(), "replica");
  EXPECT_EQ(p->processes(0).exe(), "/bin/replica");
  EXPECT_FALSE(p->processes(1).has_replica_id());
  ASSERT_EQ(p->phases_size(), 3);
  EXPECT_EQ(p->phases(0).name(), "prepare_received");
  EXPECT_EQ(p->phases(0).hook_id(), 15u);
  EXPECT_EQ(p->phases(0).samples(), 70u);
  EXPECT_EQ(p->phases(1).name(), "commit_received");
  EXPECT_EQ(p->phases(2).name(), "none");
}

TEST(RenderProfileTest, OnlyTheFormatsAskedFor) {
  v1::GetProfileRequest req;
  req.add_formats(v1::PROFILE_FORMAT_FOLDED);
  req.add_formats(v1::PROFILE_FORMAT_MARKDOWN);
  req.mutable_render()->set_split_by_phase(true);
  absl::StatusOr<v1::Profile> p = RenderProfile(testing::MakeFixture(), req);
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->pprof_gz().empty());
  EXPECT_TRUE(p->svg().empty());
  EXPECT_NE(p->folded().find("phase prepare_received;main;Run;Hot 70\n"),
            std::string::npos)
      << p->folded();
  EXPECT_FALSE(p->markdown().empty());
}

}  // namespace
}  // namespace resdb_trace::collector::profile
