#include "collector/timeline/timeline_builder.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/collector/timeline/pbft_sim.h"

namespace resdb_trace::collector {
namespace {

using testing::kProxy;
using testing::PbftSim;
using testing::SimInstance;

constexpr int64_t kSec = 1'000'000'000;

struct Fixture {
  explicit Fixture(TimelineOptions o = {})
      : builder(
            o, [this](const v1::TimelineUpdate& u) { updates.push_back(u); }) {}

  void Feed(std::vector<v1::Event> events) {
    PbftSim::Number(&events, &next_id);
    for (const auto& e : events) builder.Add(e);
  }
  std::vector<v1::Timeline> Timelines() const {
    std::vector<v1::Timeline> out;
    for (const auto& u : updates) {
      if (u.has_timeline()) out.push_back(u.timeline());
    }
    return out;
  }
  std::vector<v1::ViewChangeEpisode> Episodes() const {
    std::vector<v1::ViewChangeEpisode> out;
    for (const auto& u : updates) {
      if (u.has_view_change()) out.push_back(u.view_change());
    }
    return out;
  }

  std::vector<v1::TimelineUpdate> updates;
  TimelineBuilder builder;
  uint64_t next_id = 1;
};

const v1::ReplicaTimeline* Lane(const v1::Timeline& t, uint32_t id) {
  for (const auto& r : t.replicas()) {
    if (r.replica_id() == id) return &r;
  }
  return nullptr;
}

TEST(TimelineBuilderTest, CompleteInstanceHasExactQuorumsPhasesAndRequest) {
  Fixture fx;
  PbftSim sim;
  SimInstance in = sim.Instance(/*seq=*/7, /*view=*/0, kSec, /*local_id=*/42,
                                /*digest=*/0xabcdef);
  fx.Feed(in.events);
  // Not closed before the linger.
  EXPECT_TRUE(fx.Timelines().empty());
  fx.builder.Advance(kSec + 10 * kSec / 1000 + 2 * kSec);
  std::vector<v1::Timeline> tls = fx.Timelines();
  ASSERT_EQ(tls.size(), 1u);
  const v1::Timeline& t = tls[0];
  EXPECT_EQ(t.state(), v1::TIMELINE_STATE_COMPLETE)
      << t.completeness().DebugString();
  EXPECT_EQ(t.seq(), 7u);
  EXPECT_EQ(t.f(), 1u);
  EXPECT_EQ(t.primary(), 1u);
  EXPECT_DOUBLE_EQ(t.completeness().score(), 1.0);
  ASSERT_EQ(t.replicas_size(), 4);
  // Offset 0 is the first replica event (the proxy's send precedes it).
  const int64_t first = static_cast<int64_t>(in.events[1].ktime_ns());
  ASSERT_TRUE(in.events[1].has_request_received());
  EXPECT_LT(t.requests(0).sent_offset_ns(), 0);
  for (uint32_t r = 1; r <= 4; ++r) {
    const v1::ReplicaTimeline* lane = Lane(t, r);
    ASSERT_NE(lane, nullptr);
    EXPECT_EQ(lane->primary(), r == 1);
    ASSERT_TRUE(lane->prepare_quorum().has_formed_offset_ns());
    EXPECT_EQ(lane->prepare_quorum().formed_offset_ns() + first,
              in.prepare_formed[r]);
    EXPECT_EQ(std::vector<uint32_t>(lane->prepare_quorum().members().begin(),
                                    lane->prepare_quorum().members().end()),
              in.prepare_members[r]);
    EXPECT_EQ(lane->prepare_quorum().late_size(), 1);
    EXPECT_EQ(lane->commit_quorum().formed_offset_ns() + first,
              in.commit_formed[r]);
    // Stage order is causal on every replica.
    EXPECT_LE(lane->pre_prepare_offset_ns(), lane->prepared_offset_ns());
    EXPECT_LE(lane->prepared_offset_ns(), lane->committed_offset_ns());
    EXPECT_LE(lane->committed_offset_ns(), lane->execute_end_offset_ns());
    EXPECT_LE(lane->execute_end_offset_ns(), lane->reply_sent_offset_ns());
  }
  ASSERT_EQ(t.requests_size(), 1);
  EXPECT_EQ(t.requests(0).local_id(), 42u);
  EXPECT_EQ(t.requests(0).proxy_id(), kProxy);
  EXPECT_GT(t.requests(0).latency_ns(), 0);
  EXPECT_TRUE(t.has_commit_latency_ns());
  EXPECT_GE(t.execute_latency_ns(), t.commit_latency_ns());
  ASSERT_EQ(t.phases_size(), 5);
  for (const auto& span : t.phases()) {
    EXPECT_EQ(span.durations_size(), 4);
    EXPECT_GE(span.straggler_lag_ns(), 0);
  }

  // Lookups by seq, by request, by digest.
  v1::GetTimelineRequest by_seq;
  by_seq.set_seq(7);
  EXPECT_TRUE(fx.builder.Get(by_seq).ok());
  v1::GetTimelineRequest by_req;
  by_req.mutable_request()->set_proxy_id(kProxy);
  by_req.mutable_request()->set_local_id(42);
  auto got = fx.builder.Get(by_req);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->seq(), 7u);
  v1::GetTimelineRequest by_digest;
  by_digest.set_digest_prefix(0xabcdef);
  EXPECT_TRUE(fx.builder.Get(by_digest).ok());
  v1::GetTimelineRequest unknown;
  unknown.set_seq(8);
  EXPECT_EQ(fx.builder.Get(unknown).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(TimelineBuilderTest, OpenTimelineIsVisibleBeforeItCloses) {
  Fixture fx;
  PbftSim sim;
  SimInstance in = sim.Instance(3, 0, kSec, 1, 0x11);
  in.events.resize(in.events.size() / 2);
  fx.Feed(in.events);
  v1::GetTimelineRequest req;
  req.set_seq(3);
  auto t = fx.builder.Get(req);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->state(), v1::TIMELINE_STATE_OPEN);
  v1::ListTimelinesRequest list;
  list.set_include_open(true);
  EXPECT_EQ(fx.builder.List(list).timelines_size(), 1);
  list.set_include_open(false);
  EXPECT_EQ(fx.builder.List(list).timelines_size(), 0);
}

// Dropping any subset of events yields timelines that are incomplete (or
// still complete when nothing expected was dropped) but never wrong: every
// quorum time the builder reports is the true one.
TEST(TimelineBuilderTest, LossesMakeTimelinesIncompleteNeverWrong) {
  std::mt19937_64 rng(7);
  int incomplete = 0;
  for (int round = 0; round < 200; ++round) {
    Fixture fx;
    PbftSim sim(4, round + 1);
    std::map<uint64_t, SimInstance> truth;
    std::vector<v1::Event> all;
    size_t dropped = 0;
    for (uint64_t seq = 1; seq <= 5; ++seq) {
      SimInstance in = sim.Instance(seq, 0, seq * kSec, seq, seq * 1000);
      for (const auto& e : in.events) {
        if (std::uniform_int_distribution<int>(0, 99)(rng) < 3) {
          ++dropped;
          continue;
        }
        all.push_back(e);
      }
      truth[seq] = std::move(in);
    }
    fx.Feed(all);
    fx.builder.Advance(100 * kSec);
    std::vector<v1::Timeline> tls = fx.Timelines();
    for (const v1::Timeline& t : tls) {
      const SimInstance& in = truth[t.seq()];
      // Recover the absolute time of offset 0 from the first mark.
      int64_t origin = INT64_MAX;
      for (const auto& e : all) {
        if (e.has_client_batch_sent()) continue;
        auto s = ExtractStage(e);
        if (s && s->seq == t.seq()) {
          origin = std::min(origin, static_cast<int64_t>(e.ktime_ns()));
        }
      }
      for (const auto& lane : t.replicas()) {
        if (lane.prepare_quorum().has_formed_offset_ns()) {
          EXPECT_EQ(lane.prepare_quorum().formed_offset_ns() + origin,
                    in.prepare_formed.at(lane.replica_id()))
              << "round " << round << " seq " << t.seq();
        }
        if (lane.commit_quorum().has_formed_offset_ns()) {
          EXPECT_EQ(lane.commit_quorum().formed_offset_ns() + origin,
                    in.commit_formed.at(lane.replica_id()))
              << "round " << round << " seq " << t.seq();
        }
      }
      if (t.state() != v1::TIMELINE_STATE_COMPLETE) ++incomplete;
    }
    if (dropped == 0) {
      for (const auto& t : tls)
        EXPECT_EQ(t.state(), v1::TIMELINE_STATE_COMPLETE);
    }
  }
  EXPECT_GT(incomplete, 100);  // 3% drops over ~90 events hit most rounds
}

TEST(TimelineBuilderTest, MissingVoteIsNamedAndQuorumLeftUnknown) {
  Fixture fx;
  PbftSim sim;
  SimInstance in = sim.Instance(9, 0, kSec, 9, 0x99);
  // Drop replica 2's first prepare receipt (a member of its quorum).
  const uint32_t victim = in.prepare_members[2][0];
  std::vector<v1::Event> kept;
  for (const auto& e : in.events) {
    if (e.has_prepare_received() && e.replica_id() == 2 &&
        e.prepare_received().sender() == victim) {
      continue;
    }
    kept.push_back(e);
  }
  fx.Feed(kept);
  fx.builder.Advance(60 * kSec);
  auto tls = fx.Timelines();
  ASSERT_EQ(tls.size(), 1u);
  const v1::Timeline& t = tls[0];
  EXPECT_EQ(t.state(), v1::TIMELINE_STATE_INCOMPLETE);
  EXPECT_FALSE(Lane(t, 2)->prepare_quorum().has_formed_offset_ns());
  EXPECT_EQ(Lane(t, 2)->prepare_quorum().votes_before_state(), 2u);
  ASSERT_EQ(t.completeness().missing_size(), 1)
      << t.completeness().DebugString();
  const auto& m = t.completeness().missing(0);
  EXPECT_EQ(m.replica_id(), 2u);
  EXPECT_EQ(m.type(), v1::EVENT_TYPE_PREPARE_RECEIVED);
  EXPECT_EQ(m.peer(), victim);
  EXPECT_EQ(m.reason(), v1::MISSING_REASON_LOST);
  EXPECT_LT(t.completeness().score(), 1.0);
}

TEST(TimelineBuilderTest, ExecutionOfALaterSeqProvesALostExecution) {
  Fixture fx;
  PbftSim sim;
  SimInstance a = sim.Instance(1, 0, kSec, 1, 0x1);
  SimInstance b = sim.Instance(2, 0, 2 * kSec, 2, 0x2);
  std::vector<v1::Event> events;
  for (const auto& e : a.events) {
    if (e.replica_id() == 3 &&
        (e.has_execute_start() || e.has_execute_end() || e.has_reply_sent())) {
      continue;
    }
    events.push_back(e);
  }
  for (const auto& e : b.events) events.push_back(e);
  fx.Feed(events);
  fx.builder.Advance(60 * kSec);
  bool checked = false;
  for (const auto& t : fx.Timelines()) {
    if (t.seq() != 1) continue;
    checked = true;
    EXPECT_EQ(t.state(), v1::TIMELINE_STATE_INCOMPLETE);
    std::set<int> lost;
    for (const auto& m : t.completeness().missing()) {
      EXPECT_EQ(m.replica_id(), 3u);
      if (m.reason() == v1::MISSING_REASON_LOST) lost.insert(m.type());
    }
    EXPECT_EQ(lost, (std::set<int>{v1::EVENT_TYPE_EXECUTE_START,
                                   v1::EVENT_TYPE_EXECUTE_END,
                                   v1::EVENT_TYPE_REPLY_SENT}));
  }
  EXPECT_TRUE(checked);
}

TEST(TimelineBuilderTest, StalledReplicaIsNotReachedAndCrashedOneNotExpected) {
  Fixture fx;
  PbftSim sim;
  // Warm-up instance so the builder knows all four replicas.
  fx.Feed(sim.Instance(1, 0, kSec, 1, 0x1).events);
  // Replica 4 takes no part in seq 2 (stalled).
  fx.Feed(sim.Instance(2, 0, 2 * kSec, 2, 0x2, {1, 2, 3}).events);
  fx.builder.Advance(10 * kSec);
  v1::Timeline t2;
  for (const auto& t : fx.Timelines()) {
    if (t.seq() == 2) t2 = t;
  }
  ASSERT_EQ(t2.seq(), 2u);
  EXPECT_EQ(t2.state(), v1::TIMELINE_STATE_INCOMPLETE);
  for (const auto& m : t2.completeness().missing()) {
    EXPECT_EQ(m.replica_id(), 4u);
    EXPECT_EQ(m.reason(), v1::MISSING_REASON_NOT_REACHED);
  }
  EXPECT_EQ(t2.completeness().missing_size(), 6);

  // Now replica 4's process exits: seq 3 without it is complete.
  v1::Event exited;
  exited.set_type(v1::EVENT_TYPE_PROCESS_EXITED);
  exited.mutable_process_exited()->set_pid(1004);
  fx.builder.Add(exited);
  fx.Feed(sim.Instance(3, 0, 20 * kSec, 3, 0x3, {1, 2, 3}).events);
  fx.builder.Advance(21 * kSec);
  bool seen = false;
  for (const auto& t : fx.Timelines()) {
    if (t.seq() != 3) continue;
    seen = true;
    EXPECT_EQ(t.state(), v1::TIMELINE_STATE_COMPLETE)
        << t.completeness().DebugString();
  }
  EXPECT_TRUE(seen);
}

TEST(TimelineBuilderTest, ConflictingCommitIsAnAnomaly) {
  Fixture fx;
  PbftSim sim;
  SimInstance a = sim.Instance(5, 0, kSec, 1, 0xaaaa);
  std::vector<v1::Event> events;
  for (auto e : a.events) {
    if (e.has_committed() && e.replica_id() == 4) {
      e.mutable_committed()->set_digest_prefix(0xbbbb);
    }
    events.push_back(e);
  }
  fx.Feed(events);
  int anomalies = 0;
  for (const auto& u : fx.updates) {
    if (!u.has_anomaly()) continue;
    ++anomalies;
    EXPECT_EQ(u.anomaly().kind(), v1::Anomaly::KIND_CONFLICTING_COMMIT);
    EXPECT_EQ(u.anomaly().seq(), 5u);
    ASSERT_EQ(u.anomaly().claims_size(), 2);
    const auto& c = u.anomaly().claims();
    EXPECT_TRUE(std::any_of(c.begin(), c.end(), [](const v1::AnomalyClaim& x) {
      return x.replica_id() == 4 && x.digest_prefix() == 0xbbbb;
    }));
    EXPECT_TRUE(std::any_of(c.begin(), c.end(), [](const v1::AnomalyClaim& x) {
      return x.digest_prefix() == 0xaaaa;
    }));
  }
  EXPECT_EQ(anomalies, 1);
  EXPECT_EQ(fx.builder.Stats().anomalies(), 1u);
}

v1::Event VcEvent(v1::EventType type, uint32_t rid, int64_t t, uint64_t view,
                  uint32_t sender = 0, uint64_t aux = 0) {
  v1::Event e;
  e.set_type(type);
  e.set_replica_id(rid);
  e.set_ktime_ns(static_cast<uint64_t>(t));
  e.mutable_process()->set_pid(1000 + rid);
  switch (type) {
    case v1::EVENT_TYPE_VIEW_CHANGE_STARTED:
      e.mutable_view_change_started()->set_new_view(view);
      e.mutable_view_change_started()->set_sender(rid);
      break;
    case v1::EVENT_TYPE_VIEW_CHANGE_RECEIVED:
      e.mutable_view_change_received()->set_new_view(view);
      e.mutable_view_change_received()->set_sender(sender);
      break;
    case v1::EVENT_TYPE_NEW_VIEW_SENT:
      e.mutable_new_view_sent()->set_new_view(view);
      break;
    default:
      e.mutable_new_view_installed()->set_new_view(view);
      e.mutable_new_view_installed()->set_new_primary(aux);
  }
  return e;
}

TEST(TimelineBuilderTest, PrimaryCrashIsOneViewChangeEpisode) {
  Fixture fx;
  PbftSim sim;
  fx.Feed(sim.Instance(1, 0, kSec, 1, 0x1).events);
  fx.builder.Advance(2 * kSec);
  const int64_t t = 3 * kSec;
  std::vector<v1::Event> vc;
  for (uint32_t r = 2; r <= 4; ++r) {
    vc.push_back(
        VcEvent(v1::EVENT_TYPE_VIEW_CHANGE_STARTED, r, t + r * 1000, 1));
  }
  for (uint32_t r = 2; r <= 4; ++r) {
    for (uint32_t s = 2; s <= 4; ++s) {
      vc.push_back(VcEvent(v1::EVENT_TYPE_VIEW_CHANGE_RECEIVED, r,
                           t + 100'000 + r * 1000 + s, 1, s));
    }
  }
  vc.push_back(VcEvent(v1::EVENT_TYPE_NEW_VIEW_SENT, 2, t + 200'000, 1));
  for (uint32_t r = 2; r <= 4; ++r) {
    vc.push_back(VcEvent(v1::EVENT_TYPE_NEW_VIEW_INSTALLED, r, t + 300'000 + r,
                         1, 0, 2));
  }
  fx.Feed(vc);
  // Progress in view 1 ends the episode.
  fx.Feed(sim.Instance(2, 1, 4 * kSec, 2, 0x2, {2, 3, 4}).events);
  // A late vote for view 1 must not open a second episode.
  fx.Feed({VcEvent(v1::EVENT_TYPE_VIEW_CHANGE_RECEIVED, 3, 5 * kSec, 1, 4)});
  fx.builder.Advance(6 * kSec);

  auto list = fx.builder.ListViewChanges({});
  ASSERT_EQ(list.episodes_size(), 1);
  const auto& ep = list.episodes(0);
  EXPECT_TRUE(ep.finished());
  EXPECT_EQ(ep.old_view(), 0u);
  EXPECT_EQ(ep.new_view(), 1u);
  EXPECT_EQ(ep.old_primary(), 1u);
  EXPECT_EQ(ep.new_primary(), 2u);
  EXPECT_EQ(
      std::vector<uint32_t>(ep.triggered_by().begin(), ep.triggered_by().end()),
      (std::vector<uint32_t>{2, 3, 4}));
  EXPECT_EQ(ep.replicas_size(), 3);
  EXPECT_EQ(ep.replicas(0).votes_from_size(), 3);
  EXPECT_TRUE(ep.has_installed_offset_ns());
  EXPECT_TRUE(ep.has_no_progress_ns());
  EXPECT_GT(ep.no_progress_ns(), 1 * kSec);
  EXPECT_EQ(ep.last_seq_before(), 1u);
  EXPECT_EQ(ep.first_seq_after(), 2u);
  // Started + finished updates for the one episode.
  auto eps = fx.Episodes();
  ASSERT_EQ(eps.size(), 2u);
  EXPECT_FALSE(eps[0].finished());
  EXPECT_TRUE(eps[1].finished());
  EXPECT_EQ(fx.builder.Stats().view_changes(), 1u);
}

// After a view change the new primary re-proposes seqs that had already
// committed; replicas prepare again but never commit twice. That is the same
// instance, not a new one that "lost" its commit.
TEST(TimelineBuilderTest, ReproposalOfACommittedSeqReopensItsTimeline) {
  Fixture fx;
  PbftSim sim;
  fx.Feed(sim.Instance(1, 0, kSec, 1, 0x1).events);
  fx.builder.Advance(2 * kSec);
  ASSERT_EQ(fx.builder.Stats().complete(), 1u);
  SimInstance again = sim.Instance(1, 1, 3 * kSec, 1, 0x1, {2, 3, 4});
  std::vector<v1::Event> reproposal;
  for (const auto& e : again.events) {
    if (e.has_committed() || e.has_execute_start() || e.has_execute_end() ||
        e.has_reply_sent() || e.has_reply_to_client() ||
        e.has_client_batch_sent() || e.has_request_received()) {
      continue;
    }
    reproposal.push_back(e);
  }
  fx.Feed(reproposal);
  fx.builder.Advance(10 * kSec);
  auto stats = fx.builder.Stats();
  EXPECT_EQ(stats.complete(), 1u);
  EXPECT_EQ(stats.incomplete(), 0u);
  EXPECT_EQ(stats.retained(), 1u);
  v1::GetTimelineRequest req;
  req.set_seq(1);
  auto t = fx.builder.Get(req);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->state(), v1::TIMELINE_STATE_COMPLETE)
      << t->completeness().DebugString();
  EXPECT_EQ(t->view(), 0u);
  EXPECT_EQ(t->closes(), 2u);
  EXPECT_EQ(fx.Timelines().front().closes(), 1u);
  EXPECT_EQ(std::vector<uint64_t>(t->views().begin(), t->views().end()),
            (std::vector<uint64_t>{0, 1}));
}

TEST(TimelineBuilderTest, MemoryIsBounded) {
  TimelineOptions o;
  o.max_open = 3;
  o.retained = 5;
  Fixture fx(o);
  PbftSim sim;
  for (uint64_t seq = 1; seq <= 10; ++seq) {
    // Half an instance each: none completes on its own.
    SimInstance in = sim.Instance(seq, 0, seq * kSec, seq, seq);
    in.events.resize(in.events.size() / 3);
    fx.Feed(in.events);
  }
  auto stats = fx.builder.Stats();
  EXPECT_EQ(stats.open(), 3u);
  EXPECT_EQ(stats.evicted(), 7u);
  EXPECT_EQ(stats.retained(), 5u);
  v1::ListTimelinesRequest list;
  list.set_limit(2);
  auto resp = fx.builder.List(list);
  EXPECT_EQ(resp.timelines_size(), 2);
  EXPECT_EQ(resp.more(), 3u);
  EXPECT_EQ(resp.timelines(0).state(), v1::TIMELINE_STATE_EVICTED);
  EXPECT_GT(resp.timelines(0).seq(), resp.timelines(1).seq());
}

// A proxy's client_batch_sent waits for the request_received with its
// digest: identical requests match in send order, a batch waits at most
// request_link_timeout, and at most 65 536 wait (the oldest goes first).
TEST(TimelineBuilderTest, RequestLinksMatchInSendOrderExpireAndAreBounded) {
  Fixture fx;
  PbftSim sim;
  // The local_id the timeline of `seq` links its request to (0: none).
  auto linked = [&](uint64_t seq) -> uint64_t {
    v1::GetTimelineRequest req;
    req.set_seq(seq);
    auto t = fx.builder.Get(req);
    EXPECT_TRUE(t.ok()) << "seq " << seq << ": " << t.status();
    if (!t.ok() || t->requests_size() != 1) return ~0ull;
    return t->requests(0).local_id();
  };
  // An instance's events without its own client_batch_sent (events[0]).
  auto replica_side = [](SimInstance in) {
    EXPECT_EQ(in.events[0].type(), v1::EVENT_TYPE_CLIENT_BATCH_SENT);
    in.events.erase(in.events.begin());
    return in.events;
  };
  const v1::Event batch_template = sim.Instance(1, 0, 0, 0, 0).events[0];
  auto batch = [&](int64_t t, uint64_t local_id, uint64_t digest) {
    v1::Event e = batch_template;
    e.set_ktime_ns(static_cast<uint64_t>(t));
    e.mutable_client_batch_sent()->set_local_id(local_id);
    e.mutable_client_batch_sent()->set_digest_prefix(digest);
    return std::vector<v1::Event>{e};
  };

  // Two identical requests (same digest 0xd): sent 1, then 2.
  SimInstance a = sim.Instance(10, 0, 1 * kSec, 1, 0xd);
  SimInstance b = sim.Instance(11, 0, 1 * kSec + kSec / 10, 2, 0xd);
  fx.Feed({a.events[0], b.events[0]});
  fx.Feed(replica_side(a));
  fx.Feed(replica_side(b));
  fx.builder.Advance(3 * kSec);
  EXPECT_EQ(linked(10), 1u);
  EXPECT_EQ(linked(11), 2u);

  // Expiry (30 s by default): a batch sent at 4 s no longer links at 35 s,
  // one sent at 10 s still does.
  fx.Feed(batch(4 * kSec, 3, 0xe));
  fx.Feed(batch(10 * kSec, 4, 0xf));
  fx.builder.Advance(35 * kSec);
  fx.Feed(replica_side(sim.Instance(12, 0, 35 * kSec, 3, 0xe)));
  fx.Feed(replica_side(sim.Instance(13, 0, 36 * kSec, 4, 0xf)));
  fx.builder.Advance(39 * kSec);
  EXPECT_EQ(linked(12), 0u);
  EXPECT_EQ(linked(13), 4u);

  // Bound: 65 537 batches waiting; the first is forgotten, the second kept.
  std::vector<v1::Event> flood;
  const int64_t t0 = 40 * kSec;
  for (uint64_t i = 0; i <= 65536; ++i) {
    // Descending digests: the oldest batch has the largest key.
    v1::Event e = batch(t0, 100 + i, 0x30000 - i)[0];
    e.set_ktime_ns(static_cast<uint64_t>(t0) + i);
    flood.push_back(std::move(e));
  }
  fx.Feed(std::move(flood));
  fx.Feed(replica_side(sim.Instance(14, 0, 41 * kSec, 100, 0x30000)));
  fx.Feed(replica_side(sim.Instance(15, 0, 42 * kSec, 101, 0x2ffff)));
  fx.builder.Advance(45 * kSec);
  EXPECT_EQ(linked(14), 0u);
  EXPECT_EQ(linked(15), 101u);
}

// Each open timeline closes at its own deadline (linger after completion,
// idle timeout, max age), whichever comes first, and not before.
TEST(TimelineBuilderTest, AdvanceClosesEachTimelineAtItsOwnDeadline) {
  TimelineOptions o;
  o.linger = absl::Seconds(1);
  o.idle_timeout = absl::Seconds(5);
  o.max_age = absl::Seconds(20);
  Fixture fx(o);
  PbftSim sim;
  auto partial = [&](uint64_t seq, int64_t t) {
    SimInstance in = sim.Instance(seq, 0, t, seq, seq);
    in.events.resize(in.events.size() / 3);
    return in.events;
  };
  // seq 1 completes at about 1 s; seq 2 stops at about 1.5 s; seq 3 keeps
  // getting events every second from 3 s on and never completes.
  fx.Feed(sim.Instance(1, 0, kSec, 1, 1).events);
  fx.Feed(partial(2, kSec + kSec / 2));
  auto closed = [&] {
    std::vector<uint64_t> seqs;
    for (const auto& t : fx.Timelines()) seqs.push_back(t.seq());
    return seqs;
  };
  // Events carry a few ms after their instance's start, so each deadline is
  // a little after the round second: seq 2 idles out between 6 and 7 s, seq 3
  // (first event at 3 s, fed until 22 s) reaches max age between 23 and 24 s.
  for (int64_t t = 3 * kSec; t <= 30 * kSec; t += kSec) {
    if (t <= 22 * kSec) fx.Feed(partial(3, t));
    fx.builder.Advance(t);
    if (t <= 6 * kSec) {
      EXPECT_EQ(closed(), std::vector<uint64_t>({1})) << t;
    } else if (t <= 23 * kSec) {
      EXPECT_EQ(closed(), std::vector<uint64_t>({1, 2})) << t;
    } else {
      EXPECT_EQ(closed(), std::vector<uint64_t>({1, 2, 3})) << t;
    }
  }
  const std::vector<v1::Timeline> tls = fx.Timelines();
  ASSERT_EQ(tls.size(), 3u);
  EXPECT_EQ(tls[0].state(), v1::TIMELINE_STATE_COMPLETE);
  EXPECT_NE(tls[1].state(), v1::TIMELINE_STATE_COMPLETE);
  EXPECT_NE(tls[2].state(), v1::TIMELINE_STATE_COMPLETE);
  EXPECT_EQ(fx.builder.Stats().open(), 0u);
}

// Over max_open, the timeline with the earliest first event is evicted,
// whatever its seq (seqs need not arrive in order).
TEST(TimelineBuilderTest, EvictionTakesTheEarliestFirstEventNotTheLowestSeq) {
  TimelineOptions o;
  o.max_open = 2;
  Fixture fx(o);
  PbftSim sim;
  auto partial = [&](uint64_t seq, int64_t t) {
    SimInstance in = sim.Instance(seq, 0, t, seq, seq);
    in.events.resize(in.events.size() / 3);
    return in.events;
  };
  fx.Feed(partial(5, 1 * kSec));
  fx.Feed(partial(2, 2 * kSec));
  fx.Feed(partial(9, 3 * kSec));  // evicts seq 5 (first event at 1 s)
  ASSERT_EQ(fx.Timelines().size(), 1u);
  EXPECT_EQ(fx.Timelines()[0].seq(), 5u);
  EXPECT_EQ(fx.Timelines()[0].state(), v1::TIMELINE_STATE_EVICTED);
  fx.Feed(partial(1, 4 * kSec));  // evicts seq 2
  ASSERT_EQ(fx.Timelines().size(), 2u);
  EXPECT_EQ(fx.Timelines()[1].seq(), 2u);
}

TEST(TimelineBuilderTest, ListFiltersSlowAndIncomplete) {
  Fixture fx;
  PbftSim sim;
  for (uint64_t seq = 1; seq <= 6; ++seq) {
    SimInstance in = sim.Instance(seq, 0, seq * kSec, seq, seq);
    if (seq % 2 == 0) {
      // Lose one commit_sent: incomplete.
      auto it =
          std::find_if(in.events.begin(), in.events.end(),
                       [](const v1::Event& e) { return e.has_commit_sent(); });
      in.events.erase(it);
    }
    fx.Feed(in.events);
  }
  fx.builder.Advance(100 * kSec);
  v1::ListTimelinesRequest req;
  req.set_incomplete_only(true);
  auto resp = fx.builder.List(req);
  ASSERT_EQ(resp.timelines_size(), 3);
  for (const auto& t : resp.timelines()) EXPECT_EQ(t.seq() % 2, 0u);
  req.set_incomplete_only(false);
  req.set_slower_than_ns(INT64_MAX);
  EXPECT_EQ(fx.builder.List(req).timelines_size(), 0);
  req.set_slower_than_ns(1);
  req.set_summary_only(true);
  auto all = fx.builder.List(req);
  EXPECT_EQ(all.timelines_size(), 6);
  EXPECT_EQ(all.timelines(0).replicas_size(), 0);
}

TEST(TimelineBuilderTest, SlowMeansWhatTheClientWaitedToo) {
  v1::Timeline t;
  EXPECT_EQ(SlowestLatencyNs(t), 0);
  t.set_execute_latency_ns(3'000'000);
  EXPECT_EQ(SlowestLatencyNs(t), 3'000'000);
  // A request sent before a view change, answered after it: the instance
  // that ran it was quick, its client was not.
  t.add_requests()->set_latency_ns(950'000'000);
  t.add_requests();  // its reply was not traced
  EXPECT_EQ(SlowestLatencyNs(t), 950'000'000);
  t.clear_execute_latency_ns();
  EXPECT_EQ(SlowestLatencyNs(t), 950'000'000);
}

// Hostile input: the traced process controls every hook argument.

// One stage event of `type` (its oneof field is the type's name in lower
// case) from `pid` claiming to be replica `rid`.
v1::Event Hook(v1::EventType type, uint32_t rid, uint32_t pid, uint64_t seq,
               int64_t t, uint64_t view = 0, uint32_t sender = 0,
               uint64_t proxy = 0) {
  v1::Event e;
  e.set_type(type);
  e.set_replica_id(rid);
  e.set_ktime_ns(static_cast<uint64_t>(t));
  e.mutable_process()->set_pid(pid);
  std::string name = v1::EventType_Name(type).substr(strlen("EVENT_TYPE_"));
  std::transform(name.begin(), name.end(), name.begin(), ::tolower);
  const auto* field = e.GetDescriptor()->FindFieldByName(name);
  EXPECT_NE(field, nullptr) << name;
  google::protobuf::Message* m = e.GetReflection()->MutableMessage(&e, field);
  const auto* d = m->GetDescriptor();
  const auto* r = m->GetReflection();
  auto set64 = [&](const char* f, uint64_t v) {
    if (const auto* fd = d->FindFieldByName(f)) r->SetUInt64(m, fd, v);
  };
  set64(type == v1::EVENT_TYPE_CLIENT_BATCH_SENT ? "local_id" : "seq", seq);
  set64("proxy_id", proxy);
  if (const auto* fd = d->FindFieldByName("view")) r->SetUInt64(m, fd, view);
  if (const auto* fd = d->FindFieldByName("new_view")) {
    r->SetUInt64(m, fd, view);
  }
  if (const auto* fd = d->FindFieldByName("sender")) {
    r->SetUInt32(m, fd, sender);
  }
  return e;
}

size_t MissingTotal(const v1::Timeline& t) {
  return t.completeness().missing_size() +
         t.completeness().missing_not_listed();
}

// A second live process reporting as replica 2 is named once as an anomaly
// and none of its events reach replica 2's lanes; once replica 2's process
// exits, a new process (a restart) takes the id over.
TEST(TimelineBuilderTest, ReplicaIdClaimedByASecondLiveProcessIsNotMerged) {
  Fixture fx;
  PbftSim sim;
  fx.Feed(sim.Instance(1, 0, kSec, 1, 0x1).events);
  std::vector<v1::Event> in = sim.Instance(2, 0, 2 * kSec, 2, 0x2).events;
  for (int i = 0; i < 100; ++i) {
    in.push_back(
        Hook(v1::EVENT_TYPE_PREPARE_RECEIVED, 2, 6666, 2, 2 * kSec + i, 0, 9));
    in.push_back(Hook(v1::EVENT_TYPE_PRE_PREPARE_SENT, 2, 6667 + i % 10, 3,
                      2 * kSec + i, 7));
  }
  fx.Feed(in);
  fx.builder.Advance(10 * kSec);

  std::vector<v1::Anomaly> claims;
  for (const auto& u : fx.updates) {
    if (u.has_anomaly()) claims.push_back(u.anomaly());
  }
  // Once per impostor process, four per id at most; every event counted.
  ASSERT_EQ(claims.size(), 4u);
  EXPECT_EQ(claims[0].kind(), v1::Anomaly::KIND_REPLICA_ID_CLAIMED);
  ASSERT_EQ(claims[0].claims_size(), 2);
  EXPECT_EQ(claims[0].claims(0).pid(), 1002u);
  EXPECT_EQ(claims[0].claims(1).pid(), 6666u);
  EXPECT_EQ(claims[0].claims(1).replica_id(), 2u);
  EXPECT_EQ(claims[1].claims(1).pid(), 6667u);
  const v1::TimelineStats stats = fx.builder.Stats();
  EXPECT_EQ(stats.replica_id_conflicts(), 200u);
  EXPECT_EQ(stats.anomalies(), 4u);
  EXPECT_EQ(stats.replicas(), 5u);  // 1..4 and the proxy
  // Seq 2 is exactly the real cluster's; seq 3 was never opened.
  EXPECT_EQ(stats.complete(), 2u);
  EXPECT_EQ(stats.open() + stats.incomplete() + stats.evicted(), 0u);
  for (const auto& t : fx.Timelines()) {
    const auto* lane = Lane(t, 2);
    ASSERT_NE(lane, nullptr);
    EXPECT_EQ(lane->pid(), 1002u);
    for (const auto& m : lane->marks()) EXPECT_NE(m.peer(), 9u);
  }

  // Replica 2 restarts: its old process exits, the new one takes over.
  v1::Event exited;
  exited.set_type(v1::EVENT_TYPE_PROCESS_EXITED);
  exited.mutable_process_exited()->set_pid(1002);
  fx.builder.Add(exited);
  fx.builder.Add(Hook(v1::EVENT_TYPE_PREPARED, 2, 2002, 9, 20 * kSec, 0));
  fx.builder.Flush();
  const v1::Timeline last = fx.Timelines().back();
  ASSERT_EQ(last.seq(), 9u);
  ASSERT_NE(Lane(last, 2), nullptr);
  EXPECT_EQ(Lane(last, 2)->pid(), 2002u);
  EXPECT_EQ(fx.builder.Stats().replica_id_conflicts(), 200u);
}

// Thousands of made-up replica ids: the builder keeps max_replicas, so f
// stays bounded, and each later timeline lists at most max_missing_listed
// missing events, counts the rest, and stays under max_timeline_bytes.
TEST(TimelineBuilderTest, DistinctReplicaIdsAreCappedAndMissingIsCounted) {
  Fixture fx;
  PbftSim sim;
  fx.Feed(sim.Instance(1, 0, kSec, 1, 0x1).events);
  fx.builder.Advance(2 * kSec);
  for (uint32_t rid = kProxy + 1; rid <= kProxy + 5000; ++rid) {
    fx.builder.Add(Hook(v1::EVENT_TYPE_PREPARED, rid, 7777, 100, kSec + rid));
  }
  fx.Feed(sim.Instance(2, 0, 3 * kSec, 2, 0x2).events);
  fx.builder.Advance(20 * kSec);
  const v1::TimelineStats stats = fx.builder.Stats();
  const TimelineOptions defaults;
  EXPECT_EQ(stats.replicas(), defaults.max_replicas);
  // 1..4 and the proxy were there first.
  EXPECT_EQ(stats.replicas_refused(), 5000u - (defaults.max_replicas - 5));
  EXPECT_EQ(stats.replica_id_conflicts(), 0u);
  v1::GetTimelineRequest get;
  get.set_seq(2);
  auto t = fx.builder.Get(get);
  ASSERT_TRUE(t.ok());
  // Every id but the proxy's is a replica.
  EXPECT_EQ(t->f(), (defaults.max_replicas - 2) / 3);
  EXPECT_EQ(t->state(), v1::TIMELINE_STATE_INCOMPLETE);
  EXPECT_EQ(static_cast<size_t>(t->completeness().missing_size()),
            defaults.max_missing_listed);
  EXPECT_GT(t->completeness().missing_not_listed(), 0u);
  EXPECT_LE(t->ByteSizeLong(), defaults.max_timeline_bytes);
  EXPECT_LT(t->completeness().score(), 0.5);
  // The first timeline, closed before the flood, is the real cluster's.
  EXPECT_EQ(fx.Timelines().front().state(), v1::TIMELINE_STATE_COMPLETE);
  EXPECT_EQ(MissingTotal(fx.Timelines().front()), 0u);

  // Once the flooding process exits, its ids make room for new ones.
  v1::Event exited;
  exited.set_type(v1::EVENT_TYPE_PROCESS_EXITED);
  exited.mutable_process_exited()->set_pid(7777);
  fx.builder.Add(exited);
  fx.builder.Add(Hook(v1::EVENT_TYPE_PREPARED, 9000, 9000, 200, 30 * kSec));
  EXPECT_EQ(fx.builder.Stats().replicas_refused(), stats.replicas_refused());
  EXPECT_EQ(fx.builder.Stats().replicas(), defaults.max_replicas);
}

// Many events for one seq: the timeline keeps max_events_per_timeline and
// max_requests_per_timeline, counts the rest, and is cut to
// max_timeline_bytes (marks first), saying so.
TEST(TimelineBuilderTest, OneSeqFloodedIsCappedCountedAndCut) {
  TimelineOptions o;
  o.max_events_per_timeline = 500;
  o.max_requests_per_timeline = 20;
  o.max_timeline_bytes = 4096;
  Fixture fx(o);
  for (int i = 0; i < 2000; ++i) {
    fx.builder.Add(Hook(v1::EVENT_TYPE_PREPARE_RECEIVED, 1, 1001, 5, kSec + i,
                        0, 2 + i % 3));
  }
  for (int i = 0; i < 50; ++i) {
    fx.builder.Add(Hook(v1::EVENT_TYPE_REQUEST_RECEIVED, 1, 1001, 6, kSec + i,
                        0, 0, 100 + i));
  }
  fx.builder.Flush();
  const v1::TimelineStats stats = fx.builder.Stats();
  EXPECT_EQ(stats.timeline_events_dropped(), 1500u + 30u);
  EXPECT_EQ(stats.timelines_truncated(), 1u);
  std::map<uint64_t, v1::Timeline> by_seq;
  for (const auto& t : fx.Timelines()) by_seq[t.seq()] = t;
  ASSERT_EQ(by_seq.size(), 2u);
  const v1::Timeline& five = by_seq[5];
  EXPECT_EQ(five.events_dropped(), 1500u);
  EXPECT_TRUE(five.truncated());
  EXPECT_LE(five.ByteSizeLong(), 4096u);
  EXPECT_EQ(five.completeness().observed(), 500u);
  ASSERT_EQ(five.replicas_size(), 1);
  EXPECT_EQ(five.replicas(0).marks_size(), 0);
  const v1::Timeline& six = by_seq[6];
  EXPECT_EQ(six.requests_size(), 20);
  EXPECT_EQ(six.events_dropped(), 30u);
  EXPECT_FALSE(six.truncated());
}

// Open timelines together hold at most max_open_events: beyond, the oldest
// close EVICTED, counted.
TEST(TimelineBuilderTest, EventsHeldByOpenTimelinesAreBounded) {
  TimelineOptions o;
  o.max_open_events = 100;
  Fixture fx(o);
  for (uint64_t seq = 1; seq <= 10; ++seq) {
    for (int i = 0; i < 30; ++i) {
      fx.builder.Add(Hook(v1::EVENT_TYPE_PREPARE_RECEIVED, 1, 1001, seq,
                          seq * kSec + i, 0, 2));
    }
  }
  const v1::TimelineStats stats = fx.builder.Stats();
  EXPECT_EQ(stats.open(), 3u);  // 90 events
  EXPECT_EQ(stats.evicted(), 7u);
  EXPECT_EQ(stats.evicted_for_events(), 7u);
  fx.builder.Flush();
  EXPECT_EQ(fx.builder.Stats().open(), 0u);
}

// Closed timelines hold at most max_retained_bytes together.
TEST(TimelineBuilderTest, RetainedTimelinesAreBoundedInBytes) {
  TimelineOptions o;
  o.max_retained_bytes = 64 << 10;
  Fixture fx(o);
  PbftSim sim;
  for (uint64_t seq = 1; seq <= 200; ++seq) {
    fx.Feed(sim.Instance(seq, 0, int64_t(seq) * kSec, seq, seq).events);
  }
  fx.builder.Flush();
  size_t bytes = 0;
  v1::ListTimelinesRequest all;
  all.set_limit(1000);
  const auto resp = fx.builder.List(all);
  for (const auto& t : resp.timelines()) bytes += t.ByteSizeLong();
  EXPECT_LE(bytes, size_t{64} << 10);
  EXPECT_GT(resp.timelines_size(), 10);
  EXPECT_LT(resp.timelines_size(), 200);
  EXPECT_EQ(fx.builder.Stats().retained(),
            static_cast<uint32_t>(resp.timelines_size()));
  EXPECT_EQ(resp.timelines(0).seq(), 200u);  // the newest are kept
}

// Increasing views within one view-change episode: attempted views keep the
// newest 64 (counted beyond), votes_from max_replicas entries (counted).
TEST(TimelineBuilderTest, IncreasingViewsKeepAViewChangeEpisodeBounded) {
  Fixture fx;
  std::vector<v1::Event> vc;
  for (uint64_t v = 1; v <= 20000; ++v) {
    const uint32_t r = 1 + static_cast<uint32_t>(v % 4);
    vc.push_back(
        VcEvent(v1::EVENT_TYPE_VIEW_CHANGE_STARTED, r, kSec + int64_t(v), v));
    vc.push_back(VcEvent(v1::EVENT_TYPE_VIEW_CHANGE_RECEIVED, 2,
                         kSec + int64_t(v), v, r));
    vc.push_back(VcEvent(v1::EVENT_TYPE_NEW_VIEW_INSTALLED, r,
                         kSec + int64_t(v), v, 0, r));
  }
  fx.Feed(vc);
  auto list = fx.builder.ListViewChanges({});
  ASSERT_EQ(list.episodes_size(), 1);
  const auto& ep = list.episodes(0);
  ASSERT_EQ(ep.attempted_views_size(), 64);
  EXPECT_EQ(ep.attempted_views(0), 20000u - 63);
  EXPECT_EQ(ep.attempted_views(63), 20000u);
  EXPECT_TRUE(
      std::is_sorted(ep.attempted_views().begin(), ep.attempted_views().end()));
  EXPECT_EQ(ep.attempted_views_not_listed(), 20000u - 64);
  const v1::ReplicaViewChange* two = nullptr;
  for (const auto& r : ep.replicas()) {
    if (r.replica_id() == 2) two = &r;
  }
  ASSERT_NE(two, nullptr);
  EXPECT_EQ(static_cast<size_t>(two->votes_from_size()),
            TimelineOptions().max_replicas);
  EXPECT_EQ(two->votes_not_listed(), 20000u - TimelineOptions().max_replicas);
}

// Traced proxies and view -> primary entries are capped and counted; a
// reply_to_client finds its proxy's first waiting request.
TEST(TimelineBuilderTest, ProxiesAndViewPrimariesAreCappedRepliesLinkInOrder) {
  TimelineOptions o;
  o.max_proxies = 8;
  Fixture fx(o);
  for (uint64_t p = 1; p <= 100; ++p) {
    fx.builder.Add(Hook(v1::EVENT_TYPE_CLIENT_BATCH_SENT, kProxy, 1100, p, kSec,
                        0, 0, 1000 + p));
  }
  for (uint64_t v = 1; v <= 2000; ++v) {
    fx.builder.Add(
        Hook(v1::EVENT_TYPE_PRE_PREPARE_SENT, 1, 1001, 10 + v % 3, kSec, v));
  }
  // Requests of proxies 1098, 1099, 1098 on seq 50; two replies of 1098,
  // one of 1099.
  for (uint64_t p : {1098, 1099, 1098}) {
    fx.builder.Add(
        Hook(v1::EVENT_TYPE_REQUEST_RECEIVED, 1, 1001, 50, 2 * kSec, 0, 0, p));
  }
  int64_t t = 3 * kSec;
  for (uint64_t p : {1098, 1098, 1099}) {
    fx.builder.Add(
        Hook(v1::EVENT_TYPE_REPLY_TO_CLIENT, kProxy, 1100, 50, ++t, 0, 0, p));
  }
  const v1::TimelineStats stats = fx.builder.Stats();
  EXPECT_EQ(stats.proxies_forgotten(), 92u);
  EXPECT_EQ(stats.view_primaries_forgotten(), 2000u - 1024u);
  v1::GetTimelineRequest get;
  get.set_seq(50);
  auto tl = fx.builder.Get(get);
  ASSERT_TRUE(tl.ok());
  ASSERT_EQ(tl->requests_size(), 3);
  EXPECT_EQ(tl->requests(0).proxy_id(), 1098u);
  EXPECT_EQ(tl->requests(0).replied_offset_ns(), 1 * kSec + 1);
  EXPECT_EQ(tl->requests(1).proxy_id(), 1099u);
  EXPECT_EQ(tl->requests(1).replied_offset_ns(), 1 * kSec + 3);
  EXPECT_EQ(tl->requests(2).replied_offset_ns(), 1 * kSec + 2);
}

}  // namespace
}  // namespace resdb_trace::collector
