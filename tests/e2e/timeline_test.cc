// ResView end to end, with real eBPF: the collector traces the demo PBFT
// cluster (4 replica processes + a client) and the timelines it builds are
// checked against the raw event stream and against the replicas' own logs.
#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "resdb_trace/v1/service.grpc.pb.h"
#include "tests/e2e/e2e_util.h"

namespace {

using namespace resdb_trace::e2e;  // NOLINT: test helpers

constexpr uint32_t kQuorum = 3;  // n = 4, f = 1

struct Cluster {
  int code = -1;
  std::string out_dir, output;
};

Cluster RunCluster(const std::vector<std::string>& extra) {
  static int n = 0;
  Cluster c;
  c.out_dir = TmpDir() + "/cluster" + std::to_string(++n);
  std::vector<std::string> args = {"/bin/bash", Runfile("demo/cluster.sh"),
                                   "--bin_dir", Runfile("demo"), "--out",
                                   c.out_dir, "--settle_s", "1"};
  args.insert(args.end(), extra.begin(), extra.end());
  RunResult r = RunCommand(args, 120);
  c.code = r.code;
  c.output = r.out + r.err;
  return c;
}

// seq -> (digest prefix, view) from a replica's execution log.
std::map<uint64_t, std::pair<uint64_t, uint64_t>> ReplicaLog(
    const std::string& path) {
  std::map<uint64_t, std::pair<uint64_t, uint64_t>> out;
  std::ifstream in(path);
  uint64_t seq, view;
  size_t txns;
  std::string hex;
  while (in >> seq >> hex >> txns >> view) {
    // DigestPrefixU64: the first 8 digest bytes, little-endian.
    uint64_t prefix = 0;
    for (int i = 7; i >= 0; --i) {
      prefix = (prefix << 8) |
               std::stoul(hex.substr(static_cast<size_t>(2 * i), 2), nullptr, 16);
    }
    out[seq] = {prefix, view};
  }
  return out;
}

// Waits until the builder has closed every timeline (none open, and the
// count stable), then returns them all.
std::vector<v1::Timeline> AllTimelines(const CollectorProcess& c,
                                       size_t at_least) {
  auto stub = c.Stub();
  v1::ListTimelinesResponse resp;
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < deadline) {
    grpc::ClientContext ctx;
    v1::ListTimelinesRequest req;
    req.set_limit(10000);
    grpc::Status s = stub->ListTimelines(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    if (resp.stats().open() == 0 &&
        static_cast<size_t>(resp.timelines_size()) >= at_least) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return {resp.timelines().begin(), resp.timelines().end()};
}

class TimelineTest : public ::testing::Test {
 protected:
  std::vector<std::string> Targets() {
    return {"--binary", Runfile("demo/replica"), "--binary",
            Runfile("demo/client"), "--timeline-idle-ms", "1500"};
  }
};

void ExpectCausal(const v1::Timeline& t) {
  for (const auto& r : t.replicas()) {
    SCOPED_TRACE("seq " + std::to_string(t.seq()) + " r" +
                 std::to_string(r.replica_id()));
    ASSERT_TRUE(r.has_pre_prepare_offset_ns() && r.has_prepared_offset_ns() &&
                r.has_committed_offset_ns() && r.has_execute_start_offset_ns() &&
                r.has_execute_end_offset_ns() && r.has_reply_sent_offset_ns());
    EXPECT_LE(r.pre_prepare_offset_ns(), r.prepared_offset_ns());
    EXPECT_LE(r.prepared_offset_ns(), r.committed_offset_ns());
    EXPECT_LE(r.committed_offset_ns(), r.execute_start_offset_ns());
    EXPECT_LE(r.execute_start_offset_ns(), r.execute_end_offset_ns());
    EXPECT_LE(r.execute_end_offset_ns(), r.reply_sent_offset_ns());
    EXPECT_LE(r.prepare_quorum().formed_offset_ns(),
              r.prepare_quorum().state_offset_ns());
    EXPECT_LE(r.commit_quorum().formed_offset_ns(),
              r.commit_quorum().state_offset_ns());
  }
}

TEST_F(TimelineTest, EveryRequestIsACompleteCausalTimelineMatchingTheEvents) {
  CollectorProcess c(Targets());
  std::string why;
  ASSERT_TRUE(c.WaitReady(&why)) << why;
  v1::SubscribeRequest sub_req;
  sub_req.set_client_name("raw");
  Subscriber raw(c, sub_req);
  ASSERT_TRUE(c.WaitSubscribers(1));

  constexpr int kRequests = 300;
  Cluster cl = RunCluster({"--count", std::to_string(kRequests),
                           "--concurrency", "6"});
  ASSERT_EQ(cl.code, 0) << cl.output;
  std::vector<v1::Timeline> tls = AllTimelines(c, kRequests);
  ASSERT_EQ(tls.size(), static_cast<size_t>(kRequests));

  // The raw stream, indexed: (seq, replica) -> prepare/commit receipts, and
  // seq -> the first replica event (the timeline's offset 0).
  std::vector<v1::Event> events = raw.Events();
  std::map<std::pair<uint64_t, uint32_t>, std::vector<const v1::Event*>>
      prepares, commits;
  std::map<uint64_t, uint64_t> origin;
  for (const auto& e : events) {
    uint64_t seq = 0;
    if (e.has_prepare_received()) {
      seq = e.prepare_received().seq();
      prepares[{seq, e.replica_id()}].push_back(&e);
    } else if (e.has_commit_received()) {
      seq = e.commit_received().seq();
      commits[{seq, e.replica_id()}].push_back(&e);
    } else if (e.has_request_received()) {
      seq = e.request_received().seq();
    } else if (e.has_pre_prepare_sent()) {
      seq = e.pre_prepare_sent().seq();
    } else if (e.has_pre_prepare_received()) {
      seq = e.pre_prepare_received().seq();
    } else {
      continue;
    }
    auto [it, fresh] = origin.try_emplace(seq, e.ktime_ns());
    if (!fresh) it->second = std::min(it->second, e.ktime_ns());
  }
  auto qth = [&](const std::vector<const v1::Event*>& votes) -> int64_t {
    std::vector<const v1::Event*> v = votes;
    std::sort(v.begin(), v.end(), [](auto* a, auto* b) {
      return a->ktime_ns() < b->ktime_ns();
    });
    std::set<uint32_t> senders;
    for (const v1::Event* e : v) {
      const uint32_t s = e->has_prepare_received()
                             ? e->prepare_received().sender()
                             : e->commit_received().sender();
      if (senders.insert(s).second && senders.size() == kQuorum) {
        return static_cast<int64_t>(e->ktime_ns());
      }
    }
    return -1;
  };

  const auto log1 = ReplicaLog(cl.out_dir + "/replica_1.log");
  std::set<uint64_t> seqs;
  for (const v1::Timeline& t : tls) {
    SCOPED_TRACE("seq " + std::to_string(t.seq()));
    seqs.insert(t.seq());
    EXPECT_EQ(t.state(), v1::TIMELINE_STATE_COMPLETE)
        << t.completeness().DebugString();
    EXPECT_DOUBLE_EQ(t.completeness().score(), 1.0);
    EXPECT_EQ(t.replicas_size(), 4);
    EXPECT_EQ(t.primary(), 1u);
    ExpectCausal(t);
    ASSERT_EQ(t.requests_size(), 1);
    EXPECT_TRUE(t.requests(0).has_local_id());
    EXPECT_GT(t.requests(0).latency_ns(), 0);
    ASSERT_TRUE(log1.count(t.seq()));
    EXPECT_EQ(t.digest_prefix(), log1.at(t.seq()).first);
    const uint64_t o = origin.at(t.seq());
    for (const auto& r : t.replicas()) {
      const int64_t p = qth(prepares[{t.seq(), r.replica_id()}]);
      const int64_t q = qth(commits[{t.seq(), r.replica_id()}]);
      EXPECT_EQ(r.prepare_quorum().formed_offset_ns(),
                p - static_cast<int64_t>(o));
      EXPECT_EQ(r.commit_quorum().formed_offset_ns(),
                q - static_cast<int64_t>(o));
      EXPECT_EQ(r.prepare_quorum().members_size(), static_cast<int>(kQuorum));
    }
  }
  EXPECT_EQ(seqs.size(), static_cast<size_t>(kRequests));
  EXPECT_EQ(*seqs.begin(), 1u);
  EXPECT_EQ(*seqs.rbegin(), static_cast<uint64_t>(kRequests));

  // The same timeline by client request.
  grpc::ClientContext ctx;
  v1::GetTimelineRequest by_req;
  by_req.mutable_request()->set_proxy_id(tls[0].requests(0).proxy_id());
  by_req.mutable_request()->set_local_id(tls[0].requests(0).local_id());
  v1::Timeline got;
  ASSERT_TRUE(c.Stub()->GetTimeline(&ctx, by_req, &got).ok());
  EXPECT_EQ(got.seq(), tls[0].seq());
  EXPECT_EQ(c.Stats().timelines().anomalies(), 0u);
}

TEST_F(TimelineTest, KilledPrimaryIsExactlyOneViewChangeEpisode) {
  CollectorProcess c(Targets());
  std::string why;
  ASSERT_TRUE(c.WaitReady(&why)) << why;
  Cluster cl = RunCluster({"--count", "300", "--concurrency", "4", "--fault",
                           "1:crash_primary_after=80"});
  ASSERT_EQ(cl.code, 0) << cl.output;
  std::vector<v1::Timeline> tls = AllTimelines(c, 300);
  grpc::ClientContext ctx;
  v1::ListViewChangesResponse vc;
  ASSERT_TRUE(
      c.Stub()->ListViewChanges(&ctx, v1::ListViewChangesRequest(), &vc).ok());
  ASSERT_EQ(vc.episodes_size(), 1) << vc.DebugString();
  const auto& ep = vc.episodes(0);
  EXPECT_TRUE(ep.finished());
  EXPECT_EQ(ep.old_view(), 0u);
  EXPECT_EQ(ep.new_view(), 1u);
  EXPECT_EQ(ep.old_primary(), 1u);
  EXPECT_EQ(ep.new_primary(), 2u);
  EXPECT_GE(ep.triggered_by_size(), 1);
  EXPECT_TRUE(ep.has_no_progress_ns());
  EXPECT_GT(ep.no_progress_ns(), 0);
  EXPECT_GE(ep.last_seq_before(), 80u);
  EXPECT_GT(ep.first_seq_after(), ep.last_seq_before());
  EXPECT_EQ(vc.anomalies_size(), 0);

  // Every instance is complete: the crashed primary is not expected after
  // its exit, seqs it proposed and the new primary re-proposed are one
  // timeline each, and after the view change the three live replicas finish
  // every instance in view 1 under the new primary.
  ASSERT_EQ(tls.size(), 300u);
  size_t after = 0;
  for (const auto& t : tls) {
    SCOPED_TRACE("seq " + std::to_string(t.seq()));
    EXPECT_EQ(t.state(), v1::TIMELINE_STATE_COMPLETE)
        << t.completeness().DebugString();
    if (t.seq() <= ep.first_seq_after()) continue;
    ++after;
    EXPECT_EQ(t.view(), 1u);
    EXPECT_EQ(t.primary(), 2u);
    EXPECT_EQ(t.replicas_size(), 3);
  }
  EXPECT_GT(after, 100u);
}

TEST_F(TimelineTest, LossesShowAsIncompleteTimelinesNeverWrongOnes) {
  std::vector<std::string> args = Targets();
  args.insert(args.end(), {"--ringbuf-kb", "4"});
  CollectorProcess c(args);
  std::string why;
  ASSERT_TRUE(c.WaitReady(&why)) << why;
  Cluster cl = RunCluster({"--count", "2000", "--concurrency", "16",
                           "--batch_size", "4"});
  ASSERT_EQ(cl.code, 0) << cl.output;
  std::vector<v1::Timeline> tls = AllTimelines(c, 1);
  const v1::Stats stats = c.Stats();
  ASSERT_GT(stats.ringbuf_drops_total(), 0u)
      << "a 4 KiB ring buffer should overflow under this load";
  const auto log = ReplicaLog(cl.out_dir + "/replica_2.log");
  size_t incomplete = 0;
  for (const auto& t : tls) {
    SCOPED_TRACE("seq " + std::to_string(t.seq()));
    if (t.state() != v1::TIMELINE_STATE_COMPLETE) {
      ++incomplete;
      EXPECT_GT(t.completeness().missing_size(), 0);
      EXPECT_LT(t.completeness().score(), 1.0);
    } else {
      ExpectCausal(t);
    }
    // Whatever survived is right: the digest is the one the replicas
    // executed, quorums that have a time have a full member list.
    if (t.has_digest_prefix() && log.count(t.seq())) {
      EXPECT_EQ(t.digest_prefix(), log.at(t.seq()).first);
    }
    for (const auto& r : t.replicas()) {
      if (r.prepare_quorum().has_formed_offset_ns()) {
        EXPECT_EQ(r.prepare_quorum().members_size(), static_cast<int>(kQuorum));
        EXPECT_LE(r.prepare_quorum().formed_offset_ns(),
                  r.prepare_quorum().state_offset_ns());
      }
    }
  }
  EXPECT_GT(incomplete, 0u);
  EXPECT_EQ(stats.timelines().anomalies(), 0u);
}

}  // namespace
