// A tiny PBFT message-timing simulator that produces the v1 events a traced
// 4-replica cluster would, with the ground truth (quorum formation times) the
// timeline builder must reproduce.
#ifndef RESDB_TRACE_TESTS_COLLECTOR_TIMELINE_PBFT_SIM_H_
#define RESDB_TRACE_TESTS_COLLECTOR_TIMELINE_PBFT_SIM_H_

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <vector>

#include "google/protobuf/util/time_util.h"
#include "resdb_trace/v1/events.pb.h"

namespace resdb_trace::collector::testing {

inline constexpr uint32_t kProxy = 100;  // the client/proxy's replica id

struct SimInstance {
  std::vector<v1::Event> events;  // time order
  // Ground truth per replica: when its prepare / commit quorum formed.
  std::map<uint32_t, int64_t> prepare_formed, commit_formed;
  std::map<uint32_t, std::vector<uint32_t>> prepare_members;
  int64_t start = 0;  // pre_prepare_sent at the primary
};

class PbftSim {
 public:
  explicit PbftSim(uint32_t n = 4, uint64_t seed = 1) : n_(n), rng_(seed) {}

  // Events of one instance: seq in view, proposed by view % n + 1, starting
  // at t0 (ns). `participants` replicas take part (others are silent and
  // absent: crashed). The proxy sends request `local_id` first.
  SimInstance Instance(uint64_t seq, uint64_t view, int64_t t0,
                       uint64_t local_id, uint64_t digest,
                       std::vector<uint32_t> participants = {}) {
    if (participants.empty()) {
      for (uint32_t r = 1; r <= n_; ++r) participants.push_back(r);
    }
    const uint32_t f = (n_ - 1) / 3;
    const size_t q = 2 * f + 1;
    const uint32_t primary = static_cast<uint32_t>(view % n_) + 1;
    SimInstance s;
    auto ev = [&](uint32_t rid, int64_t t, v1::EventType type) {
      v1::Event e;
      e.set_type(type);
      e.set_replica_id(rid);
      e.set_ktime_ns(static_cast<uint64_t>(t));
      *e.mutable_time() =
          google::protobuf::util::TimeUtil::NanosecondsToTimestamp(
              1'700'000'000'000'000'000 + t);
      e.mutable_process()->set_pid(1000 + rid);
      e.mutable_process()->set_tid(1000 + rid);
      return e;
    };
#define SIM_STAGE(field, TYPE, rid, t, sender)       \
  do {                                               \
    v1::Event e = ev(rid, t, v1::EVENT_TYPE_##TYPE); \
    auto* m = e.mutable_##field();                   \
    m->set_view(view);                               \
    m->set_seq(seq);                                 \
    m->set_sender(sender);                           \
    m->set_proxy_id(kProxy);                         \
    m->set_digest_prefix(digest);                    \
    s.events.push_back(e);                           \
  } while (0)
    int64_t t = t0;
    {
      v1::Event e = ev(kProxy, t, v1::EVENT_TYPE_CLIENT_BATCH_SENT);
      auto* m = e.mutable_client_batch_sent();
      m->set_view(view);
      m->set_local_id(local_id);
      m->set_sender(kProxy);
      m->set_proxy_id(kProxy);
      m->set_digest_prefix(digest);
      s.events.push_back(e);
    }
    t += Delay();
    SIM_STAGE(request_received, REQUEST_RECEIVED, primary, t, kProxy);
    t += 1000;
    SIM_STAGE(pre_prepare_sent, PRE_PREPARE_SENT, primary, t, primary);
    s.start = t;
    std::map<uint32_t, int64_t> prepare_sent, commit_sent, reply_at, pp_at;
    for (uint32_t r : participants) {
      const int64_t at = t + (r == primary ? 500 : Delay());
      SIM_STAGE(pre_prepare_received, PRE_PREPARE_RECEIVED, r, at, primary);
      pp_at[r] = at;
      prepare_sent[r] = at + 1000;
      SIM_STAGE(prepare_sent, PREPARE_SENT, r, prepare_sent[r], r);
    }
    std::map<uint32_t, int64_t> prepared;
    for (uint32_t r : participants) {
      std::vector<std::pair<int64_t, uint32_t>> arrivals;
      for (const auto& [sender, ts] : prepare_sent) {
        arrivals.push_back({ts + (sender == r ? 300 : Delay()), sender});
      }
      std::sort(arrivals.begin(), arrivals.end());
      for (const auto& [at, sender] : arrivals) {
        SIM_STAGE(prepare_received, PREPARE_RECEIVED, r, at, sender);
      }
      if (arrivals.size() < q) continue;
      s.prepare_formed[r] = arrivals[q - 1].first;
      for (size_t i = 0; i < q; ++i) {
        s.prepare_members[r].push_back(arrivals[i].second);
      }
      prepared[r] = std::max(arrivals[q - 1].first, pp_at[r]) + 200;
      SIM_STAGE(prepared, PREPARED, r, prepared[r], 0);
      commit_sent[r] = prepared[r] + 100;
      SIM_STAGE(commit_sent, COMMIT_SENT, r, commit_sent[r], r);
    }
    for (uint32_t r : participants) {
      if (!prepared.count(r)) continue;
      std::vector<std::pair<int64_t, uint32_t>> arrivals;
      for (const auto& [sender, ts] : commit_sent) {
        arrivals.push_back(
            {std::max(ts + (sender == r ? 300 : Delay()), prepared[r] + 1),
             sender});
      }
      std::sort(arrivals.begin(), arrivals.end());
      for (const auto& [at, sender] : arrivals) {
        SIM_STAGE(commit_received, COMMIT_RECEIVED, r, at, sender);
      }
      if (arrivals.size() < q) continue;
      s.commit_formed[r] = arrivals[q - 1].first;
      const int64_t committed = arrivals[q - 1].first + 200;
      SIM_STAGE(committed, COMMITTED, r, committed, 0);
      SIM_STAGE(execute_start, EXECUTE_START, r, committed + 1000, 0);
      {
        v1::Event e = ev(r, committed + 5000, v1::EVENT_TYPE_EXECUTE_END);
        auto* m = e.mutable_execute_end();
        m->set_view(view);
        m->set_seq(seq);
        m->set_proxy_id(kProxy);
        m->set_txn_count(1);
        s.events.push_back(e);
      }
      reply_at[r] = committed + 6000;
      SIM_STAGE(reply_sent, REPLY_SENT, r, reply_at[r], r);
    }
    std::vector<int64_t> replies;
    for (const auto& [r, at] : reply_at) replies.push_back(at + Delay());
    std::sort(replies.begin(), replies.end());
    if (replies.size() >= f + 1) {
      v1::Event e =
          ev(kProxy, replies[f] + 100, v1::EVENT_TYPE_REPLY_TO_CLIENT);
      auto* m = e.mutable_reply_to_client();
      m->set_view(view);
      m->set_seq(seq);
      m->set_sender(2);
      m->set_proxy_id(kProxy);
      m->set_matching_replies(f + 1);
      s.events.push_back(e);
    }
#undef SIM_STAGE
    std::stable_sort(s.events.begin(), s.events.end(),
                     [](const v1::Event& a, const v1::Event& b) {
                       return a.ktime_ns() < b.ktime_ns();
                     });
    return s;
  }

  // Assigns increasing event ids in the given order.
  static void Number(std::vector<v1::Event>* events, uint64_t* next_id) {
    for (v1::Event& e : *events) e.set_event_id((*next_id)++);
  }

 private:
  int64_t Delay() {
    return std::uniform_int_distribution<int64_t>(20'000, 400'000)(rng_);
  }

  uint32_t n_;
  std::mt19937_64 rng_;
};

}  // namespace resdb_trace::collector::testing

#endif  // RESDB_TRACE_TESTS_COLLECTOR_TIMELINE_PBFT_SIM_H_
