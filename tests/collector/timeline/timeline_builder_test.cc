#include "collector/timeline/timeline_builder.h"

#include <algorithm>
#include <random>
#include <set>
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

}  // namespace
}  // namespace resdb_trace::collector
