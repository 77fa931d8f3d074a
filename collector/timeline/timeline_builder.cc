#include "collector/timeline/timeline_builder.h"

#include <algorithm>
#include <limits>
#include <set>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/util/time_util.h"

namespace resdb_trace::collector {
namespace {

using google::protobuf::util::TimeUtil;

constexpr size_t kMaxPendingClients = 1 << 16;
constexpr size_t kSafetyWindow = 1 << 16;  // seqs remembered for checks
// Views whose primary is remembered (the highest); a real cluster changes
// view a handful of times a day.
constexpr size_t kMaxViewPrimaries = 1024;
// Target views listed per view-change episode, and views whose installs it
// counts (the highest).
constexpr size_t kMaxEpisodeViews = 64;
// Other processes reported per claimed replica id (the rest only counted).
constexpr size_t kMaxImpostorsReported = 4;

// Kernel stamps are CLOCK_MONOTONIC ns, far below 2^62 (146 years of
// uptime). Clamping every stamp, and Advance's now, into [0, 2^62] keeps
// each difference and offset computed here inside int64 (no signed
// overflow) whatever a corrupt or hostile event carries.
constexpr int64_t kMaxKtime = int64_t{1} << 62;

int64_t KtimeOf(const v1::Event& e) {
  return static_cast<int64_t>(
      std::min<uint64_t>(e.ktime_ns(), static_cast<uint64_t>(kMaxKtime)));
}

bool IsClientSide(v1::EventType t) {
  return t == v1::EVENT_TYPE_CLIENT_BATCH_SENT ||
         t == v1::EVENT_TYPE_REPLY_TO_CLIENT || t == v1::EVENT_TYPE_USER_EVENT;
}

bool IsReceived(v1::EventType t) {
  return t == v1::EVENT_TYPE_PRE_PREPARE_RECEIVED ||
         t == v1::EVENT_TYPE_PREPARE_RECEIVED ||
         t == v1::EVENT_TYPE_COMMIT_RECEIVED;
}

// The send a receipt proves.
v1::EventType SentFor(v1::EventType received) {
  switch (received) {
    case v1::EVENT_TYPE_PRE_PREPARE_RECEIVED:
      return v1::EVENT_TYPE_PRE_PREPARE_SENT;
    case v1::EVENT_TYPE_PREPARE_RECEIVED:
      return v1::EVENT_TYPE_PREPARE_SENT;
    default:
      return v1::EVENT_TYPE_COMMIT_SENT;
  }
}

bool ViewsMatch(const std::optional<uint64_t>& a,
                const std::optional<uint64_t>& b) {
  return !a || !b || *a == *b;
}

// The sends one lane shows, so that proving a receipt's send is a lookup
// instead of a walk over the sender's marks (quadratic in a lane's events).
struct LaneSends {
  std::set<int> any;                          // send types present
  std::set<int> unviewed;                     // ... with no view
  std::set<std::pair<int, uint64_t>> viewed;  // (type, view)

  void Add(v1::EventType type, const std::optional<uint64_t>& view) {
    any.insert(type);
    if (view) {
      viewed.insert({type, *view});
    } else {
      unviewed.insert(type);
    }
  }
  // Whether a send of `type` matching `view` (ViewsMatch) is present.
  bool Shows(v1::EventType type, const std::optional<uint64_t>& view) const {
    if (!any.count(type)) return false;
    return !view || unviewed.count(type) || viewed.count({type, *view});
  }
};

bool IsSent(v1::EventType t) {
  return t == v1::EVENT_TYPE_PRE_PREPARE_SENT ||
         t == v1::EVENT_TYPE_PREPARE_SENT || t == v1::EVENT_TYPE_COMMIT_SENT;
}

google::protobuf::Timestamp WallTime(int64_t unix_ns) {
  return TimeUtil::NanosecondsToTimestamp(unix_ns);
}

// The per-replica progress chain, in order; index 0 stands for either kind
// of pre-prepare.
constexpr v1::EventType kChain[] = {
    v1::EVENT_TYPE_PRE_PREPARE_RECEIVED,
    v1::EVENT_TYPE_PREPARED,
    v1::EVENT_TYPE_COMMITTED,
    v1::EVENT_TYPE_EXECUTE_START,
    v1::EVENT_TYPE_EXECUTE_END,
    v1::EVENT_TYPE_REPLY_SENT,
};
constexpr int kChainLen = sizeof(kChain) / sizeof(kChain[0]);
constexpr int kChainExecuteEnd = 4;
constexpr int kChainReply = 5;

}  // namespace

TimelineBuilder::TimelineBuilder(TimelineOptions options, Sink sink)
    : options_(options), sink_(std::move(sink)) {}

TimelineBuilder::~TimelineBuilder() = default;

void TimelineBuilder::Add(const v1::Event& event) {
  absl::MutexLock lock(&mu_);
  AddLocked(event);
}

void TimelineBuilder::AddDropped(uint64_t n) {
  if (n == 0) return;
  absl::MutexLock lock(&mu_);
  stats_.set_events_dropped(stats_.events_dropped() + n);
}

void TimelineBuilder::NoteLoss(uint64_t events) {
  if (events == 0) return;
  absl::MutexLock lock(&mu_);
  for (auto& [seq, open] : open_) open.losses = true;
}

uint32_t TimelineBuilder::F() const {
  if (options_.f != 0) return options_.f;
  size_t n = 0;
  for (const auto& [id, r] : replicas_) n += r.is_proxy_only ? 0 : 1;
  return n == 0 ? 0 : static_cast<uint32_t>((n - 1) / 3);
}

size_t TimelineBuilder::LiveReplicas() const {
  size_t n = 0;
  for (const auto& [id, r] : replicas_) n += (!r.is_proxy_only && r.alive);
  return n;
}

void TimelineBuilder::AddLocked(const v1::Event& e) {
  stats_.set_events(stats_.events() + 1);
  switch (e.event_case()) {
    case v1::Event::kProcessExited: {
      // One process may hold several ids; replicas_ is capped, so a walk.
      const uint32_t pid = e.process_exited().pid();
      for (auto& [id, r] : replicas_) {
        if (r.pid == pid) r.alive = false;
      }
      return;
    }
    case v1::Event::kLossNotice: {
      const auto& l = e.loss_notice();
      if (l.subscriber_dropped() + l.ringbuf_dropped() + l.malformed() > 0) {
        for (auto& [seq, open] : open_) open.losses = true;
      }
      return;
    }
    default:
      break;
  }
  std::optional<StageFields> s = ExtractStage(e);
  const uint32_t rid = e.replica_id();
  if (!s || rid == 0 || s->type == v1::EVENT_TYPE_USER_EVENT) {
    stats_.set_events_ignored(stats_.events_ignored() + 1);
    return;
  }
  Replica* r = Claim(rid, e, s->seq);
  if (r == nullptr) return;
  if (!IsClientSide(s->type)) r->is_proxy_only = false;
  last_t_ = std::max<int64_t>(last_t_, KtimeOf(e));

  switch (s->type) {
    case v1::EVENT_TYPE_VIEW_CHANGE_STARTED:
    case v1::EVENT_TYPE_VIEW_CHANGE_RECEIVED:
    case v1::EVENT_TYPE_NEW_VIEW_SENT:
    case v1::EVENT_TYPE_NEW_VIEW_INSTALLED:
      AddViewChange(e, *s);
      return;
    case v1::EVENT_TYPE_CHECKPOINT_SENT:
    case v1::EVENT_TYPE_CHECKPOINT_RECEIVED:
    case v1::EVENT_TYPE_CHECKPOINT_STABLE:
      stats_.set_events_ignored(stats_.events_ignored() + 1);
      return;
    case v1::EVENT_TYPE_CLIENT_BATCH_SENT: {
      NoteProxy(s->proxy_id, rid);
      if (!s->digest) return;
      // Bounded: at the limit, forget the oldest waiting batch.
      while (pending_clients_.size() >= kMaxPendingClients &&
             !pending_order_.empty()) {
        ErasePending(pending_order_.front());
        pending_order_.pop_front();
      }
      const PendingKey key{s->proxy_id, *s->digest};
      const int64_t t = KtimeOf(e);
      pending_clients_.emplace(key,
                               PendingClient{s->seq, t, rid, pending_next_});
      pending_order_.push_back({key, pending_next_, t});
      ++pending_next_;
      CompactPendingOrder();
      return;
    }
    default:
      AddStage(e, *s);
      Reschedule(s->seq);
  }
}

TimelineBuilder::Replica* TimelineBuilder::Claim(uint32_t rid,
                                                 const v1::Event& e,
                                                 uint64_t seq) {
  const uint32_t pid = e.process().pid();
  auto it = replicas_.find(rid);
  if (it == replicas_.end()) {
    if (replicas_.size() >= options_.max_replicas) {
      // Room only where a process exited: its id is free to forget.
      auto dead = std::find_if(replicas_.begin(), replicas_.end(),
                               [](const auto& r) { return !r.second.alive; });
      if (dead == replicas_.end()) {
        stats_.set_replicas_refused(stats_.replicas_refused() + 1);
        return nullptr;
      }
      replicas_.erase(dead);
    }
    it = replicas_.emplace(rid, Replica{}).first;
    it->second.pid = pid;
  }
  Replica& r = it->second;
  if (r.pid != pid) {
    if (r.alive) {
      // The id is another live process's: this one is buggy or lying.
      stats_.set_replica_id_conflicts(stats_.replica_id_conflicts() + 1);
      if (r.impostors.size() < kMaxImpostorsReported &&
          std::find(r.impostors.begin(), r.impostors.end(), pid) ==
              r.impostors.end()) {
        r.impostors.push_back(pid);
        v1::Anomaly a;
        a.set_kind(v1::Anomaly::KIND_REPLICA_ID_CLAIMED);
        a.set_seq(seq);
        v1::AnomalyClaim* holder = a.add_claims();
        holder->set_replica_id(rid);
        holder->set_pid(r.pid);
        v1::AnomalyClaim* other = a.add_claims();
        other->set_replica_id(rid);
        other->set_pid(pid);
        other->set_event_id(e.event_id());
        *a.mutable_time() = e.time();
        a.set_description(absl::StrFormat(
            "replica id %d belongs to pid %d, and pid %d also reports as "
            "replica %d: its events for that id are ignored",
            rid, r.pid, pid, rid));
        AddAnomaly(std::move(a));
      }
      return nullptr;
    }
    // The holder exited; a new process takes the id over (a restart, or a
    // new cluster): what the old one executed proves nothing about it.
    r.pid = pid;
    r.max_executed.reset();
    r.max_replied.reset();
    r.impostors.clear();
  }
  r.alive = true;
  return &r;
}

void TimelineBuilder::AddAnomaly(v1::Anomaly a) {
  anomalies_.push_back(a);
  while (anomalies_.size() > options_.retained_episodes) {
    anomalies_.pop_front();
  }
  stats_.set_anomalies(stats_.anomalies() + 1);
  v1::TimelineUpdate u;
  *u.mutable_anomaly() = std::move(a);
  Emit(std::move(u));
}

void TimelineBuilder::NoteProxy(uint64_t proxy_id, uint32_t rid) {
  auto [it, inserted] = traced_proxies_.try_emplace(proxy_id, rid);
  if (!inserted) {
    it->second = rid;
    return;
  }
  traced_order_.push_back(proxy_id);
  while (traced_proxies_.size() > options_.max_proxies &&
         !traced_order_.empty()) {
    traced_proxies_.erase(traced_order_.front());
    traced_order_.pop_front();
    stats_.set_proxies_forgotten(stats_.proxies_forgotten() + 1);
  }
}

void TimelineBuilder::BoundOpenEvents(uint64_t keep) {
  while (open_events_ >= options_.max_open_events && !by_first_t_.empty()) {
    auto oldest = by_first_t_.begin();
    if (oldest->second == keep) {
      if (by_first_t_.size() == 1) return;
      ++oldest;
    }
    stats_.set_evicted_for_events(stats_.evicted_for_events() + 1);
    Close(oldest->second, v1::TIMELINE_STATE_EVICTED);
  }
}

namespace {
// a + b for a in [0, kMaxKtime], saturating instead of overflowing (an
// option may be absl::InfiniteDuration()).
int64_t SaturatingAdd(int64_t a, int64_t b) {
  if (b <= 0) return a + std::max<int64_t>(b, -a);
  return b > std::numeric_limits<int64_t>::max() - a
             ? std::numeric_limits<int64_t>::max()
             : a + b;
}
}  // namespace

int64_t TimelineBuilder::Deadline(const Open& o) const {
  int64_t d = std::min(
      SaturatingAdd(o.first_t, absl::ToInt64Nanoseconds(options_.max_age)),
      SaturatingAdd(o.last_t, absl::ToInt64Nanoseconds(options_.idle_timeout)));
  if (o.complete_since) {
    d = std::min(d, SaturatingAdd(*o.complete_since,
                                  absl::ToInt64Nanoseconds(options_.linger)));
  }
  return d;
}

void TimelineBuilder::Unindex(const Open& o) {
  if (!o.indexed) return;
  by_deadline_.erase({o.indexed_deadline, o.seq});
  by_first_t_.erase({o.indexed_first_t, o.seq});
}

void TimelineBuilder::Reschedule(uint64_t seq) {
  auto it = open_.find(seq);
  if (it == open_.end()) return;
  Open& o = it->second;
  const int64_t deadline = Deadline(o);
  if (o.indexed && o.indexed_deadline == deadline &&
      o.indexed_first_t == o.first_t) {
    return;
  }
  Unindex(o);
  o.indexed = true;
  o.indexed_deadline = deadline;
  o.indexed_first_t = o.first_t;
  by_deadline_.insert({deadline, seq});
  by_first_t_.insert({o.first_t, seq});
}

bool TimelineBuilder::Reopen(uint64_t seq, int64_t t, uint32_t rid,
                             uint32_t pid) {
  auto c = by_seq_.find(seq);
  auto ft = closed_first_t_.find(seq);
  if (c == by_seq_.end() || ft == closed_first_t_.end()) return false;
  const v1::Timeline& old = *c->second;
  // A cut timeline lost its marks: a fresh one is more honest.
  if (old.truncated()) return false;
  const int64_t first_t = ft->second;
  if (t - (first_t + old.duration_ns()) >
      absl::ToInt64Nanoseconds(options_.max_age)) {
    return false;
  }
  // The same instance only if this replica is the same process as before
  // (a restarted cluster reuses seqs).
  for (const auto& lane : old.replicas()) {
    if (lane.replica_id() == rid && lane.pid() != pid) return false;
  }
  Open o;
  o.seq = seq;
  o.first_t = first_t;
  o.first_wall_ns = TimeUtil::TimestampToNanoseconds(old.start_time());
  o.last_t = first_t + old.duration_ns();
  o.losses = old.completeness().losses_while_open();
  o.closes = std::max<uint32_t>(old.closes(), 1);
  o.dropped = old.events_dropped();
  for (const auto& lane : old.replicas()) {
    ReplicaMarks& rm = o.replicas[lane.replica_id()];
    rm.pid = lane.pid();
    for (const auto& m : lane.marks()) {
      Mark mk;
      mk.type = m.type();
      mk.t = first_t + m.offset_ns();
      mk.wall_ns = TimeUtil::TimestampToNanoseconds(m.time());
      if (m.has_peer()) mk.peer = m.peer();
      if (m.has_view()) mk.view = m.view();
      if (m.has_digest_prefix()) mk.digest = m.digest_prefix();
      mk.event_id = m.event_id();
      rm.marks.push_back(mk);
      rm.replied |= mk.type == v1::EVENT_TYPE_REPLY_SENT;
      ++o.events;
    }
  }
  for (const auto& q : old.requests()) {
    RequestLink link;
    link.proxy_id = q.proxy_id();
    if (q.has_local_id()) link.local_id = q.local_id();
    if (q.has_digest_prefix()) link.digest = q.digest_prefix();
    if (q.has_sent_offset_ns()) link.sent_t = first_t + q.sent_offset_ns();
    if (q.has_replied_offset_ns()) {
      link.replied_t = first_t + q.replied_offset_ns();
    }
    link.matching = q.matching_replies();
    auto proxy = traced_proxies_.find(q.proxy_id());
    if (proxy != traced_proxies_.end()) link.proxy_replica = proxy->second;
    if (!link.replied_t) {
      o.unreplied.insert(
          {link.proxy_id, static_cast<uint32_t>(o.requests.size())});
    }
    o.requests.push_back(link);
  }
  open_events_ += o.events;
  switch (old.state()) {
    case v1::TIMELINE_STATE_COMPLETE:
      stats_.set_complete(stats_.complete() - 1);
      break;
    case v1::TIMELINE_STATE_EVICTED:
      stats_.set_evicted(stats_.evicted() - 1);
      break;
    default:
      stats_.set_incomplete(stats_.incomplete() - 1);
  }
  for (auto it = closed_.rbegin(); it != closed_.rend(); ++it) {
    if (*it == c->second) {
      retained_bytes_ -= std::min(retained_bytes_, (*it)->ByteSizeLong());
      closed_.erase(std::next(it).base());
      break;
    }
  }
  by_seq_.erase(c);
  closed_first_t_.erase(ft);
  open_.emplace(seq, std::move(o));
  return true;
}

TimelineBuilder::Open& TimelineBuilder::OpenFor(uint64_t seq, int64_t t,
                                                int64_t wall_ns, uint32_t rid,
                                                uint32_t pid) {
  auto it = open_.find(seq);
  if (it != open_.end()) return it->second;
  // Make room first: a reopened timeline counts against max_open too.
  while (open_.size() >= options_.max_open && !open_.empty()) {
    // Evict the oldest open timeline (every open timeline is indexed: each
    // was rescheduled after the event that opened it).
    const uint64_t oldest = by_first_t_.empty() ? open_.begin()->first
                                                : by_first_t_.begin()->second;
    Close(oldest, v1::TIMELINE_STATE_EVICTED);
  }
  if (Reopen(seq, t, rid, pid)) {
    Open& o = open_.at(seq);
    UpdateCompletion(o, t);
    return o;
  }
  Open& o = open_[seq];
  o.seq = seq;
  o.first_t = t;
  o.first_wall_ns = wall_ns;
  o.last_t = t;
  return o;
}

void TimelineBuilder::AddStage(const v1::Event& e, const StageFields& s) {
  const int64_t t = KtimeOf(e);
  const int64_t wall = TimeUtil::TimestampToNanoseconds(e.time());
  const uint32_t rid = e.replica_id();
  CheckAnomalies(e, s);
  if (s.view) current_view_ = std::max(current_view_, *s.view);

  BoundOpenEvents(s.seq);
  Open& o = OpenFor(s.seq, t, wall, rid, e.process().pid());
  if (o.events >= options_.max_events_per_timeline) {
    ++o.dropped;
    stats_.set_timeline_events_dropped(stats_.timeline_events_dropped() + 1);
    return;
  }
  o.last_t = std::max(o.last_t, t);
  if (t < o.first_t) {
    o.first_t = t;
    o.first_wall_ns = wall;
  }
  ++o.events;
  ++open_events_;

  if (s.type == v1::EVENT_TYPE_REPLY_TO_CLIENT) {
    // The first request of this proxy still waiting for its reply.
    RequestLink* link = nullptr;
    auto waiting = o.unreplied.lower_bound({s.proxy_id, 0});
    if (waiting != o.unreplied.end() && waiting->first == s.proxy_id) {
      link = &o.requests[waiting->second];
      o.unreplied.erase(waiting);
    }
    if (link == nullptr) {
      if (o.requests.size() >= options_.max_requests_per_timeline) {
        ++o.dropped;
        stats_.set_timeline_events_dropped(stats_.timeline_events_dropped() +
                                           1);
        return;
      }
      o.requests.push_back({});
      link = &o.requests.back();
      link->proxy_id = s.proxy_id;
    }
    link->replied_t = t;
    link->matching = s.aux;
    link->proxy_replica = rid;
    UpdateCompletion(o, t);
    return;
  }

  if (s.type == v1::EVENT_TYPE_REQUEST_RECEIVED) {
    RequestLink link;
    link.proxy_id = s.proxy_id;
    link.digest = s.digest;
    if (s.digest) {
      // The first of the key's range is the earliest sent.
      const PendingKey key{s.proxy_id, *s.digest};
      auto p = pending_clients_.lower_bound(key);
      if (p != pending_clients_.end() && p->first == key) {
        const PendingClient c = p->second;
        pending_clients_.erase(p);
        link.local_id = c.local_id;
        link.sent_t = c.t;
        link.proxy_replica = c.proxy_replica;
        // A send before the first replica event has a negative offset.
      }
    }
    if (o.requests.size() < options_.max_requests_per_timeline) {
      o.unreplied.insert(
          {link.proxy_id, static_cast<uint32_t>(o.requests.size())});
      o.requests.push_back(link);
    } else {
      ++o.dropped;
      stats_.set_timeline_events_dropped(stats_.timeline_events_dropped() + 1);
    }
  }

  if (s.type == v1::EVENT_TYPE_PRE_PREPARE_SENT && s.view) {
    view_primary_[*s.view] = rid;
    while (view_primary_.size() > kMaxViewPrimaries) {
      view_primary_.erase(view_primary_.begin());
      stats_.set_view_primaries_forgotten(stats_.view_primaries_forgotten() +
                                          1);
    }
  }

  Mark m;
  m.type = s.type;
  m.t = t;
  m.wall_ns = wall;
  if (IsReceived(s.type)) m.peer = s.sender;
  m.view = s.view;
  m.digest = s.digest;
  m.event_id = e.event_id();
  ReplicaMarks& lane = o.replicas[rid];
  lane.pid = e.process().pid();
  lane.marks.push_back(m);
  lane.replied |= m.type == v1::EVENT_TYPE_REPLY_SENT;

  if (s.type == v1::EVENT_TYPE_EXECUTE_END) {
    Replica& r = replicas_[rid];
    r.max_executed = std::max(r.max_executed.value_or(0), s.seq);
    NoteProgress(t, s.seq);
  }
  if (s.type == v1::EVENT_TYPE_REPLY_SENT) {
    Replica& r = replicas_[rid];
    r.max_replied = std::max(r.max_replied.value_or(0), s.seq);
  }
  if (s.type == v1::EVENT_TYPE_REPLY_SENT ||
      s.type == v1::EVENT_TYPE_EXECUTE_END) {
    UpdateCompletion(o, t);
  }
}

void TimelineBuilder::UpdateCompletion(Open& o, int64_t t) {
  bool done = true;
  for (const auto& [id, r] : replicas_) {
    if (r.is_proxy_only || !r.alive) continue;
    auto lane = o.replicas.find(id);
    if (lane == o.replicas.end() || !lane->second.replied) {
      done = false;
      break;
    }
  }
  // A traced proxy still waiting for a reply: one look per distinct proxy.
  for (auto it = o.unreplied.begin(); done && it != o.unreplied.end();
       it = o.unreplied.upper_bound(
           {it->first, std::numeric_limits<uint32_t>::max()})) {
    if (traced_proxies_.contains(it->first)) done = false;
  }
  if (!done) {
    o.complete_since.reset();
  } else if (!o.complete_since) {
    o.complete_since = t;
  }
}

void TimelineBuilder::CheckAnomalies(const v1::Event& e, const StageFields& s) {
  if (!s.digest) return;
  v1::AnomalyClaim claim;
  claim.set_replica_id(e.replica_id());
  if (s.view) claim.set_view(*s.view);
  claim.set_digest_prefix(*s.digest);
  claim.set_event_id(e.event_id());
  auto report = [&](v1::Anomaly::Kind kind, const v1::AnomalyClaim& first,
                    const std::string& what) {
    v1::Anomaly a;
    a.set_kind(kind);
    a.set_seq(s.seq);
    *a.add_claims() = first;
    *a.add_claims() = claim;
    *a.mutable_time() = e.time();
    a.set_description(absl::StrFormat(
        "%s for seq %d: replica %d has digest %016x, replica %d has %016x",
        what, s.seq, first.replica_id(), first.digest_prefix(),
        claim.replica_id(), claim.digest_prefix()));
    AddAnomaly(std::move(a));
  };
  if (s.type == v1::EVENT_TYPE_COMMITTED) {
    auto [it, inserted] = committed_digest_.try_emplace(s.seq, 0, claim);
    if (!inserted && it->second.second.digest_prefix() != *s.digest &&
        it->second.first == 0) {
      it->second.first = 1;  // report each seq once
      report(v1::Anomaly::KIND_CONFLICTING_COMMIT, it->second.second,
             "two different digests committed");
    }
    while (committed_digest_.size() > kSafetyWindow) {
      committed_digest_.erase(committed_digest_.begin());
    }
  } else if ((s.type == v1::EVENT_TYPE_PRE_PREPARE_SENT ||
              s.type == v1::EVENT_TYPE_PRE_PREPARE_RECEIVED) &&
             s.view) {
    auto [it, inserted] =
        proposed_digest_.try_emplace({*s.view, s.seq}, 0, claim);
    if (!inserted && it->second.second.digest_prefix() != *s.digest &&
        it->second.first == 0) {
      it->second.first = 1;
      report(v1::Anomaly::KIND_CONFLICTING_PRE_PREPARE, it->second.second,
             absl::StrFormat("two different pre-prepares in view %d", *s.view));
    }
    while (proposed_digest_.size() > kSafetyWindow) {
      proposed_digest_.erase(proposed_digest_.begin());
    }
  }
}

void TimelineBuilder::NoteProgress(int64_t t, uint64_t seq) {
  last_progress_t_ = t;
  last_progress_seq_ = seq;
  if (episode_ && episode_->installed_t && t > *episode_->installed_t) {
    v1::ViewChangeEpisode& p = episode_->proto;
    p.set_first_seq_after(seq);
    if (episode_->last_progress_t > 0) {
      p.set_no_progress_ns(t - episode_->last_progress_t);
    }
    FinishEpisode(t);
  }
}

void TimelineBuilder::AddViewChange(const v1::Event& e, const StageFields& s) {
  const int64_t t = KtimeOf(e);
  const uint32_t rid = e.replica_id();
  const uint64_t v = s.view.value_or(0);
  const bool stale = s.view && v <= current_view_;
  if (!episode_) {
    // A vote or install for a view already in effect is a straggler of a
    // finished episode, not a new one.
    if (stale) {
      stats_.set_events_ignored(stats_.events_ignored() + 1);
      return;
    }
    Episode ep;
    ep.start_t = t;
    ep.last_progress_t = last_progress_t_;
    ep.proto.set_id(next_episode_id_++);
    ep.proto.set_old_view(current_view_);
    *ep.proto.mutable_start_time() = e.time();
    auto op = view_primary_.find(current_view_);
    if (op != view_primary_.end()) ep.proto.set_old_primary(op->second);
    if (last_progress_seq_ != 0) {
      ep.proto.set_last_seq_before(last_progress_seq_);
    }
    episode_ = std::move(ep);
    stats_.set_view_changes(stats_.view_changes() + 1);
    EmitEpisode();
  }
  Episode& ep = *episode_;
  v1::ViewChangeEpisode& p = ep.proto;
  if (s.view && s.type != v1::EVENT_TYPE_NEW_VIEW_INSTALLED &&
      (ep.attempted.size() < kMaxEpisodeViews || v > *ep.attempted.begin()) &&
      ep.attempted.insert(v).second && ep.attempted.size() > kMaxEpisodeViews) {
    ep.attempted.erase(ep.attempted.begin());
    ++ep.attempted_not_listed;
  }
  v1::ReplicaViewChange& rv = ep.replicas[rid];
  rv.set_replica_id(rid);
  const int64_t off = t - ep.start_t;
  switch (s.type) {
    case v1::EVENT_TYPE_VIEW_CHANGE_STARTED:
      if (!rv.has_started_offset_ns()) rv.set_started_offset_ns(off);
      if (s.view) rv.set_voted_view(v);
      if (!ep.any_vote_received) {
        bool listed = false;
        for (uint32_t id : p.triggered_by()) listed |= id == rid;
        if (!listed) p.add_triggered_by(rid);
      }
      break;
    case v1::EVENT_TYPE_VIEW_CHANGE_RECEIVED:
      ep.any_vote_received = true;
      if (static_cast<size_t>(rv.votes_from_size()) < options_.max_replicas) {
        rv.add_votes_from(s.sender);
      } else {
        rv.set_votes_not_listed(rv.votes_not_listed() + 1);
      }
      break;
    case v1::EVENT_TYPE_NEW_VIEW_SENT:
      if (!p.has_new_view_sent_offset_ns()) p.set_new_view_sent_offset_ns(off);
      p.set_new_primary(rid);
      break;
    case v1::EVENT_TYPE_NEW_VIEW_INSTALLED: {
      if (!rv.has_installed_offset_ns()) rv.set_installed_offset_ns(off);
      current_view_ = std::max(current_view_, v);
      if (!ep.installed_by.count(v) &&
          ep.installed_by.size() >= kMaxEpisodeViews) {
        if (v < ep.installed_by.begin()->first) break;
        ep.installed_by.erase(ep.installed_by.begin());
      }
      std::set<uint32_t>& by = ep.installed_by[v];
      by.insert(rid);
      if (!ep.installed_t && by.size() >= 2 * F() + 1) {
        ep.installed_t = t;
        p.set_new_view(v);
        p.set_installed_offset_ns(off);
        if (s.aux != 0) p.set_new_primary(static_cast<uint32_t>(s.aux));
      }
      break;
    }
    default:
      break;
  }
}

v1::ViewChangeEpisode TimelineBuilder::EpisodeProto(const Episode& ep) const {
  v1::ViewChangeEpisode p = ep.proto;
  p.clear_replicas();
  for (const auto& [id, rv] : ep.replicas) *p.add_replicas() = rv;
  p.clear_attempted_views();
  for (uint64_t v : ep.attempted) p.add_attempted_views(v);
  p.set_attempted_views_not_listed(ep.attempted_not_listed);
  return p;
}

void TimelineBuilder::EmitEpisode() {
  if (!episode_) return;
  v1::TimelineUpdate u;
  *u.mutable_view_change() = EpisodeProto(*episode_);
  Emit(std::move(u));
}

void TimelineBuilder::FinishEpisode(int64_t now) {
  (void)now;
  if (!episode_) return;
  episode_->proto.set_finished(true);
  EmitEpisode();
  episodes_.push_back(EpisodeProto(*episode_));
  while (episodes_.size() > options_.retained_episodes) episodes_.pop_front();
  episode_.reset();
}

bool TimelineBuilder::ErasePending(const PendingRef& ref) {
  auto [first, last] = pending_clients_.equal_range(ref.key);
  for (auto it = first; it != last; ++it) {
    if (it->second.order == ref.order) {
      pending_clients_.erase(it);
      return true;
    }
  }
  return false;
}

void TimelineBuilder::CompactPendingOrder() {
  if (pending_order_.size() <= 2 * pending_clients_.size() + 1024) return;
  absl::flat_hash_set<uint64_t> waiting;
  waiting.reserve(pending_clients_.size());
  for (const auto& [key, c] : pending_clients_) waiting.insert(c.order);
  std::deque<PendingRef> kept;
  for (const PendingRef& r : pending_order_) {
    if (waiting.contains(r.order)) kept.push_back(r);
  }
  pending_order_.swap(kept);
}

void TimelineBuilder::Emit(v1::TimelineUpdate update) {
  if (sink_) sink_(update);
}

void TimelineBuilder::Advance(int64_t now) {
  absl::MutexLock lock(&mu_);
  now = std::clamp<int64_t>(now, 0, kMaxKtime);
  // Due: linger after completion, idle timeout or max age reached. Only the
  // due timelines are touched (by_deadline_ is ordered by that time); they
  // close in seq order, as a walk over open_ would close them.
  std::vector<uint64_t> due;
  for (auto d = by_deadline_.begin();
       d != by_deadline_.end() && d->first <= now; ++d) {
    due.push_back(d->second);
  }
  std::sort(due.begin(), due.end());
  for (uint64_t seq : due) Close(seq, v1::TIMELINE_STATE_UNSPECIFIED);

  const int64_t link_timeout =
      absl::ToInt64Nanoseconds(options_.request_link_timeout);
  while (!pending_order_.empty() &&
         now - pending_order_.front().t >= link_timeout) {
    ErasePending(pending_order_.front());
    pending_order_.pop_front();
  }
  if (episode_ && now - episode_->start_t >=
                      absl::ToInt64Nanoseconds(options_.episode_timeout)) {
    FinishEpisode(now);
  }
}

void TimelineBuilder::Flush() {
  absl::MutexLock lock(&mu_);
  while (!open_.empty()) {
    Close(open_.begin()->first, v1::TIMELINE_STATE_UNSPECIFIED);
  }
  if (episode_) FinishEpisode(last_t_);
}

void TimelineBuilder::Close(uint64_t seq, v1::TimelineState forced) {
  auto it = open_.find(seq);
  if (it == open_.end()) return;
  auto tl = std::make_shared<v1::Timeline>(Render(it->second, true, forced));
  if (tl->truncated()) {
    stats_.set_timelines_truncated(stats_.timelines_truncated() + 1);
  }
  open_events_ -= std::min<size_t>(open_events_, it->second.events);
  const int64_t it_first_t = it->second.first_t;
  Unindex(it->second);
  open_.erase(it);
  switch (tl->state()) {
    case v1::TIMELINE_STATE_COMPLETE:
      stats_.set_complete(stats_.complete() + 1);
      break;
    case v1::TIMELINE_STATE_EVICTED:
      stats_.set_evicted(stats_.evicted() + 1);
      break;
    default:
      stats_.set_incomplete(stats_.incomplete() + 1);
  }
  std::shared_ptr<const v1::Timeline> ctl = tl;
  closed_.push_back(ctl);
  by_seq_[ctl->seq()] = ctl;
  closed_first_t_[ctl->seq()] = it_first_t;
  for (const v1::ClientRequest& q : ctl->requests()) {
    if (q.has_local_id()) by_request_[{q.proxy_id(), q.local_id()}] = seq;
    if (q.has_digest_prefix()) by_digest_[q.digest_prefix()] = seq;
  }
  if (ctl->has_digest_prefix()) by_digest_[ctl->digest_prefix()] = seq;
  retained_bytes_ += ctl->ByteSizeLong();
  while (!closed_.empty() && (closed_.size() > options_.retained ||
                              retained_bytes_ > options_.max_retained_bytes)) {
    const std::shared_ptr<const v1::Timeline>& old = closed_.front();
    retained_bytes_ -= std::min(retained_bytes_, old->ByteSizeLong());
    auto s = by_seq_.find(old->seq());
    if (s != by_seq_.end() && s->second == old) {
      by_seq_.erase(s);
      closed_first_t_.erase(old->seq());
    }
    for (const v1::ClientRequest& q : old->requests()) {
      auto r = by_request_.find({q.proxy_id(), q.local_id()});
      if (r != by_request_.end() && r->second == old->seq()) {
        by_request_.erase(r);
      }
      auto d = by_digest_.find(q.digest_prefix());
      if (d != by_digest_.end() && d->second == old->seq()) by_digest_.erase(d);
    }
    auto d = by_digest_.find(old->digest_prefix());
    if (d != by_digest_.end() && d->second == old->seq()) by_digest_.erase(d);
    closed_.pop_front();
  }
  v1::TimelineUpdate u;
  *u.mutable_timeline() = *ctl;
  Emit(std::move(u));
}

v1::Timeline TimelineBuilder::Render(const Open& o, bool closing,
                                     v1::TimelineState forced) const {
  v1::Timeline tl;
  const uint32_t f = F();
  const size_t quorum = 2 * f + 1;
  tl.set_seq(o.seq);
  tl.set_f(f);
  tl.set_closes(o.closes + (closing ? 1 : 0));
  *tl.mutable_start_time() = WallTime(o.first_wall_ns);
  tl.set_duration_ns(o.last_t - o.first_t);
  auto off = [&](int64_t t) { return t - o.first_t; };

  // Sorted copies of the lanes, and the sends each shows.
  std::map<uint32_t, std::vector<Mark>> lanes;
  std::map<uint32_t, LaneSends> sends;
  for (const auto& [id, lane] : o.replicas) {
    std::vector<Mark> marks = lane.marks;
    std::stable_sort(marks.begin(), marks.end(),
                     [](const Mark& a, const Mark& b) { return a.t < b.t; });
    LaneSends& ls = sends[id];
    for (const Mark& m : marks) {
      if (IsSent(m.type)) ls.Add(m.type, m.view);
    }
    lanes[id] = std::move(marks);
  }

  // The view and digest the instance committed with (or was proposed in).
  std::optional<uint64_t> view;
  std::optional<uint64_t> digest;
  std::set<uint64_t> views;
  for (const auto& [id, marks] : lanes) {
    for (const Mark& m : marks) {
      if (m.type == v1::EVENT_TYPE_COMMITTED && !view && m.view) {
        view = m.view;
        digest = m.digest;
      }
      if ((m.type == v1::EVENT_TYPE_PRE_PREPARE_SENT ||
           m.type == v1::EVENT_TYPE_PRE_PREPARE_RECEIVED) &&
          m.view) {
        views.insert(*m.view);
      }
    }
  }
  if (!view && !views.empty()) view = *views.rbegin();
  for (uint64_t v : views) tl.add_views(v);
  tl.set_view(view.value_or(0));
  auto in_view = [&](const Mark& m) { return ViewsMatch(m.view, view); };
  auto first_of = [&](const std::vector<Mark>& marks,
                      v1::EventType type) -> const Mark* {
    for (const Mark& m : marks) {
      if (m.type == type && in_view(m)) return &m;
    }
    return nullptr;
  };

  // The primary: who sent the pre-prepare in that view.
  std::optional<uint32_t> primary;
  std::optional<int64_t> start_t;  // pre-prepare sent at the primary
  for (const auto& [id, marks] : lanes) {
    if (const Mark* m = first_of(marks, v1::EVENT_TYPE_PRE_PREPARE_SENT)) {
      primary = id;
      start_t = m->t;
      if (!digest) digest = m->digest;
    }
  }
  if (!primary) {
    for (const auto& [id, marks] : lanes) {
      const Mark* m = first_of(marks, v1::EVENT_TYPE_PRE_PREPARE_RECEIVED);
      if (m != nullptr && m->peer) primary = *m->peer;
      if (m != nullptr && !digest) digest = m->digest;
    }
  }
  if (!start_t) {
    for (const auto& [id, marks] : lanes) {
      if (const Mark* m = first_of(marks, v1::EVENT_TYPE_REQUEST_RECEIVED)) {
        start_t = m->t;
      }
    }
  }
  if (primary) tl.set_primary(*primary);
  if (digest) tl.set_digest_prefix(*digest);

  // Requests.
  uint32_t observed = 0;
  for (const RequestLink& q : o.requests) {
    v1::ClientRequest* c = tl.add_requests();
    c->set_proxy_id(q.proxy_id);
    if (q.local_id) c->set_local_id(*q.local_id);
    if (q.digest) c->set_digest_prefix(*q.digest);
    if (q.sent_t) {
      c->set_sent_offset_ns(off(*q.sent_t));
      ++observed;
    }
    if (q.replied_t) {
      c->set_replied_offset_ns(off(*q.replied_t));
      c->set_matching_replies(q.matching);
      ++observed;
    }
    if (q.sent_t && q.replied_t) c->set_latency_ns(*q.replied_t - *q.sent_t);
  }

  // Per-replica lanes, quorums and phase endpoints.
  struct Ends {
    std::optional<int64_t> pre_prepare, prepared, committed, exec_start,
        exec_end, reply;
  };
  std::map<uint32_t, Ends> ends;
  std::vector<v1::MissingEvent> missing;
  // Anonymous vote shortfalls beyond what the list can show, only counted
  // (f may be large: one entry per missing vote would not be bounded).
  uint64_t shortfall_not_listed = 0;
  auto add_missing = [&](uint32_t replica, v1::EventType type,
                         std::optional<uint32_t> peer,
                         v1::MissingReason reason) {
    v1::MissingEvent me;
    me.set_replica_id(replica);
    me.set_type(type);
    if (peer) me.set_peer(*peer);
    me.set_reason(reason);
    missing.push_back(me);
  };

  for (const auto& lane_entry : lanes) {
    // Plain variables, not structured bindings: the lambdas below capture
    // them, which C++17 forbids for bindings (gcc allows it, clang not).
    const uint32_t id = lane_entry.first;
    const std::vector<Mark>& marks = lane_entry.second;
    v1::ReplicaTimeline* rt = tl.add_replicas();
    rt->set_replica_id(id);
    rt->set_pid(o.replicas.at(id).pid);
    rt->set_primary(primary && *primary == id);
    for (const Mark& m : marks) {
      v1::StageMark* sm = rt->add_marks();
      sm->set_type(m.type);
      sm->set_offset_ns(off(m.t));
      *sm->mutable_time() = WallTime(m.wall_ns);
      if (m.peer) sm->set_peer(*m.peer);
      if (m.view) sm->set_view(*m.view);
      if (m.digest) sm->set_digest_prefix(*m.digest);
      sm->set_event_id(m.event_id);
      ++observed;
    }
    Ends& e = ends[id];
    const Mark* pps = first_of(marks, v1::EVENT_TYPE_PRE_PREPARE_SENT);
    const Mark* ppr = first_of(marks, v1::EVENT_TYPE_PRE_PREPARE_RECEIVED);
    if (pps || ppr) {
      e.pre_prepare =
          std::min(pps ? pps->t : INT64_MAX, ppr ? ppr->t : INT64_MAX);
      rt->set_pre_prepare_offset_ns(off(*e.pre_prepare));
    }
    auto set_end = [&](v1::EventType type, std::optional<int64_t>* dst,
                       void (v1::ReplicaTimeline::*setter)(int64_t)) {
      if (const Mark* m = first_of(marks, type)) {
        *dst = m->t;
        (rt->*setter)(off(m->t));
      }
    };
    set_end(v1::EVENT_TYPE_PREPARED, &e.prepared,
            &v1::ReplicaTimeline::set_prepared_offset_ns);
    set_end(v1::EVENT_TYPE_COMMITTED, &e.committed,
            &v1::ReplicaTimeline::set_committed_offset_ns);
    set_end(v1::EVENT_TYPE_EXECUTE_START, &e.exec_start,
            &v1::ReplicaTimeline::set_execute_start_offset_ns);
    set_end(v1::EVENT_TYPE_EXECUTE_END, &e.exec_end,
            &v1::ReplicaTimeline::set_execute_end_offset_ns);
    set_end(v1::EVENT_TYPE_REPLY_SENT, &e.reply,
            &v1::ReplicaTimeline::set_reply_sent_offset_ns);

    // Quorums: distinct senders of votes matching the state change's view
    // and digest, in arrival order.
    auto check_quorum = [&](v1::EventType state_type, v1::EventType vote_type,
                            v1::EventType sent_type, v1::Phase phase,
                            v1::Quorum* q) {
      const Mark* state = first_of(marks, state_type);
      if (state == nullptr) return;
      q->set_phase(phase);
      q->set_required(static_cast<uint32_t>(quorum));
      q->set_state_offset_ns(off(state->t));
      std::vector<const Mark*> votes;
      std::set<uint32_t> seen;
      for (const Mark& m : marks) {
        if (m.type != vote_type || !m.peer) continue;
        if (!ViewsMatch(m.view, state->view)) continue;
        if (m.digest && state->digest && *m.digest != *state->digest) continue;
        if (!seen.insert(*m.peer).second) continue;
        votes.push_back(&m);
      }
      uint32_t before = 0;
      for (const Mark* m : votes) before += m->t <= state->t;
      q->set_votes_before_state(before);
      for (size_t i = 0; i < votes.size(); ++i) {
        if (i < quorum) {
          q->add_members(*votes[i]->peer);
        } else {
          q->add_late(*votes[i]->peer);
        }
      }
      if (before >= quorum) {
        q->set_formed_offset_ns(off(votes[quorum - 1]->t));
        return;
      }
      // Fewer votes than the quorum before the state change: the trace lost
      // some. Name the senders whose vote this replica was never seen
      // receiving, when their send was traced.
      size_t short_by = quorum - before;
      for (const auto& [sid, ls] : sends) {
        if (short_by == 0) break;
        if (seen.count(sid)) continue;
        if (ls.Shows(sent_type, state->view)) {
          add_missing(id, vote_type, sid, v1::MISSING_REASON_LOST);
          --short_by;
        }
      }
      const size_t listed =
          std::min<size_t>(short_by, options_.max_missing_listed);
      shortfall_not_listed += short_by - listed;
      for (size_t i = 0; i < listed; ++i) {
        add_missing(id, vote_type, std::nullopt, v1::MISSING_REASON_LOST);
      }
    };
    check_quorum(v1::EVENT_TYPE_PREPARED, v1::EVENT_TYPE_PREPARE_RECEIVED,
                 v1::EVENT_TYPE_PREPARE_SENT, v1::PHASE_PREPARE,
                 rt->mutable_prepare_quorum());
    check_quorum(v1::EVENT_TYPE_COMMITTED, v1::EVENT_TYPE_COMMIT_RECEIVED,
                 v1::EVENT_TYPE_COMMIT_SENT, v1::PHASE_COMMIT,
                 rt->mutable_commit_quorum());
    if (rt->prepare_quorum().phase() == v1::PHASE_UNSPECIFIED) {
      rt->clear_prepare_quorum();
    }
    if (rt->commit_quorum().phase() == v1::PHASE_UNSPECIFIED) {
      rt->clear_commit_quorum();
    }

    // Every receipt proves a send by a traced sender.
    std::set<std::tuple<uint32_t, int, uint64_t>> proven;
    for (const Mark& m : marks) {
      if (!IsReceived(m.type) || !m.peer) continue;
      auto sender = sends.find(*m.peer);
      auto known = replicas_.find(*m.peer);
      if (known == replicas_.end() || known->second.is_proxy_only) continue;
      const v1::EventType sent = SentFor(m.type);
      const bool found =
          sender != sends.end() && sender->second.Shows(sent, m.view);
      if (!found &&
          proven.insert({*m.peer, static_cast<int>(sent), m.view.value_or(0)})
              .second) {
        add_missing(*m.peer, sent, std::nullopt, v1::MISSING_REASON_LOST);
      }
    }
  }
  // Two receivers can prove the same missing send: keep one. Anonymous
  // vote shortfalls legitimately repeat (one per missing vote).
  auto key = [](const v1::MissingEvent& m) {
    return std::make_tuple(m.replica_id(), static_cast<int>(m.type()),
                           m.has_peer(), m.peer(),
                           static_cast<int>(m.reason()));
  };
  std::stable_sort(
      missing.begin(), missing.end(),
      [&](const auto& a, const auto& b) { return key(a) < key(b); });
  {
    std::vector<v1::MissingEvent> unique;
    for (const v1::MissingEvent& m : missing) {
      const bool vote =
          !m.has_peer() && (m.type() == v1::EVENT_TYPE_PREPARE_RECEIVED ||
                            m.type() == v1::EVENT_TYPE_COMMIT_RECEIVED);
      if (!unique.empty() && !vote && key(unique.back()) == key(m)) continue;
      unique.push_back(m);
    }
    missing.swap(unique);
  }

  // The progress chain of every replica: a later stage proves the earlier
  // ones (LOST); a live replica that stopped short did not get there
  // (NOT_REACHED, only once the timeline closes and something committed).
  bool committed_anywhere = false;
  for (const auto& [id, e] : ends)
    committed_anywhere |= e.committed.has_value();
  for (const auto& [id, r] : replicas_) {
    if (r.is_proxy_only) continue;
    auto lane = lanes.find(id);
    if (lane == lanes.end() && !(closing && r.alive && committed_anywhere)) {
      continue;
    }
    const Ends e = lane == lanes.end() ? Ends{} : ends[id];
    const std::optional<int64_t> have[kChainLen] = {e.pre_prepare, e.prepared,
                                                    e.committed,   e.exec_start,
                                                    e.exec_end,    e.reply};
    // A stage present proves the ones before it; a later seq executed (or
    // replied) proves this seq's stages up to that one, inclusive.
    int highest = -1;
    for (int i = 0; i < kChainLen; ++i) {
      if (have[i]) highest = i;
    }
    int implied = -1;
    if (r.max_executed && *r.max_executed > o.seq) implied = kChainExecuteEnd;
    if (r.max_replied && *r.max_replied > o.seq) implied = kChainReply;
    const bool primary_here = primary && *primary == id;
    for (int i = 0; i < kChainLen; ++i) {
      if (have[i]) continue;
      v1::EventType type = kChain[i];
      if (i == 0 && primary_here) type = v1::EVENT_TYPE_PRE_PREPARE_SENT;
      if (i < highest || i <= implied) {
        add_missing(id, type, std::nullopt, v1::MISSING_REASON_LOST);
      } else if (closing && r.alive && committed_anywhere) {
        add_missing(id, type, std::nullopt, v1::MISSING_REASON_NOT_REACHED);
      }
    }
  }
  for (const RequestLink& q : o.requests) {
    auto proxy = traced_proxies_.find(q.proxy_id);
    if (proxy == traced_proxies_.end()) continue;
    auto pr = replicas_.find(proxy->second);
    const bool proxy_alive = pr != replicas_.end() && pr->second.alive;
    if (!q.sent_t && q.replied_t) {
      add_missing(proxy->second, v1::EVENT_TYPE_CLIENT_BATCH_SENT, std::nullopt,
                  v1::MISSING_REASON_LOST);
    }
    if (q.sent_t && !q.replied_t && closing && proxy_alive) {
      add_missing(proxy->second, v1::EVENT_TYPE_REPLY_TO_CLIENT, std::nullopt,
                  v1::MISSING_REASON_NOT_REACHED);
    }
  }

  // Phase spans: per replica, then the quorum-th finisher and the straggler.
  struct PhaseDef {
    v1::Phase phase;
    std::optional<int64_t> Ends::*from;
    std::optional<int64_t> Ends::*to;
  };
  const PhaseDef defs[] = {
      {v1::PHASE_PRE_PREPARE, nullptr, &Ends::pre_prepare},
      {v1::PHASE_PREPARE, &Ends::pre_prepare, &Ends::prepared},
      {v1::PHASE_COMMIT, &Ends::prepared, &Ends::committed},
      {v1::PHASE_EXECUTE, &Ends::committed, &Ends::exec_end},
      {v1::PHASE_REPLY, &Ends::exec_end, &Ends::reply},
  };
  for (const PhaseDef& d : defs) {
    std::vector<v1::ReplicaDuration> durs;
    for (const auto& [id, e] : ends) {
      const std::optional<int64_t>& to = e.*(d.to);
      std::optional<int64_t> from = d.from ? e.*(d.from) : start_t;
      if (!to || !from) continue;
      v1::ReplicaDuration rd;
      rd.set_replica_id(id);
      rd.set_duration_ns(*to - *from);
      rd.set_end_offset_ns(off(*to));
      durs.push_back(rd);
    }
    if (durs.empty()) continue;
    v1::PhaseSpan* span = tl.add_phases();
    span->set_phase(d.phase);
    for (const auto& rd : durs) *span->add_durations() = rd;
    std::sort(durs.begin(), durs.end(), [](const auto& a, const auto& b) {
      return a.end_offset_ns() < b.end_offset_ns();
    });
    const auto& last = durs.back();
    span->set_straggler(last.replica_id());
    if (durs.size() >= quorum) {
      const auto& q = durs[quorum - 1];
      span->set_quorum_replica(q.replica_id());
      span->set_quorum_end_offset_ns(q.end_offset_ns());
      span->set_straggler_lag_ns(last.end_offset_ns() - q.end_offset_ns());
    }
  }

  // Latencies: primary's pre-prepare → the quorum-th replica committed or
  // executed.
  auto quorum_th =
      [&](std::optional<int64_t> Ends::*field) -> std::optional<int64_t> {
    std::vector<int64_t> ts;
    for (const auto& [id, e] : ends) {
      if ((e.*field).has_value()) ts.push_back(*(e.*field));
    }
    if (ts.size() < quorum || quorum == 0) return std::nullopt;
    std::sort(ts.begin(), ts.end());
    return ts[quorum - 1];
  };
  if (start_t) {
    if (auto c = quorum_th(&Ends::committed)) {
      tl.set_commit_latency_ns(*c - *start_t);
    }
    if (auto x = quorum_th(&Ends::exec_end)) {
      tl.set_execute_latency_ns(*x - *start_t);
    }
  }

  v1::Completeness* c = tl.mutable_completeness();
  c->set_observed(observed);
  c->set_losses_while_open(o.losses);
  // The list keeps its first entries (replica, then stage order).
  const size_t listed = std::min(missing.size(), options_.max_missing_listed);
  const uint64_t not_listed = missing.size() - listed + shortfall_not_listed;
  for (size_t i = 0; i < listed; ++i) {
    *c->add_missing() = std::move(missing[i]);
  }
  c->set_missing_not_listed(static_cast<uint32_t>(
      std::min<uint64_t>(not_listed, std::numeric_limits<uint32_t>::max())));
  const uint64_t missing_total = listed + not_listed;
  const double total = static_cast<double>(observed) + missing_total;
  c->set_score(total == 0 ? 1.0 : observed / total);
  tl.set_events_dropped(o.dropped);

  if (!closing) {
    tl.set_state(v1::TIMELINE_STATE_OPEN);
  } else if (forced == v1::TIMELINE_STATE_EVICTED) {
    tl.set_state(v1::TIMELINE_STATE_EVICTED);
  } else {
    tl.set_state(missing_total == 0 ? v1::TIMELINE_STATE_COMPLETE
                                    : v1::TIMELINE_STATE_INCOMPLETE);
  }
  CapSize(&tl);
  return tl;
}

void TimelineBuilder::CapSize(v1::Timeline* tl) const {
  const size_t cap = options_.max_timeline_bytes;
  if (tl->ByteSizeLong() <= cap) return;
  tl->set_truncated(true);
  // Marks first: the bulk, and what the offsets and quorums summarise.
  for (v1::ReplicaTimeline& r : *tl->mutable_replicas()) r.clear_marks();
  if (tl->ByteSizeLong() <= cap) return;
  v1::Completeness* c = tl->mutable_completeness();
  c->set_missing_not_listed(static_cast<uint32_t>(
      std::min<uint64_t>(uint64_t{c->missing_not_listed()} + c->missing_size(),
                         std::numeric_limits<uint32_t>::max())));
  c->clear_missing();
  if (tl->ByteSizeLong() <= cap) return;
  tl->clear_requests();
  for (v1::ReplicaTimeline& r : *tl->mutable_replicas()) {
    if (r.has_prepare_quorum()) r.mutable_prepare_quorum()->clear_members();
    if (r.has_prepare_quorum()) r.mutable_prepare_quorum()->clear_late();
    if (r.has_commit_quorum()) r.mutable_commit_quorum()->clear_members();
    if (r.has_commit_quorum()) r.mutable_commit_quorum()->clear_late();
  }
  for (v1::PhaseSpan& p : *tl->mutable_phases()) p.clear_durations();
  if (tl->ByteSizeLong() <= cap) return;
  // What is left is a summary of fixed size.
  tl->clear_replicas();
  tl->clear_phases();
  tl->clear_views();
}

absl::StatusOr<v1::Timeline> TimelineBuilder::Get(
    const v1::GetTimelineRequest& request) {
  absl::MutexLock lock(&mu_);
  std::optional<uint64_t> seq;
  switch (request.key_case()) {
    case v1::GetTimelineRequest::kSeq:
      seq = request.seq();
      break;
    case v1::GetTimelineRequest::kRequest: {
      const auto key = std::make_pair(request.request().proxy_id(),
                                      request.request().local_id());
      for (const auto& [s, o] : open_) {
        for (const RequestLink& q : o.requests) {
          if (q.proxy_id == key.first && q.local_id == key.second) seq = s;
        }
      }
      if (!seq) {
        auto it = by_request_.find(key);
        if (it != by_request_.end()) seq = it->second;
      }
      break;
    }
    case v1::GetTimelineRequest::kDigestPrefix: {
      for (const auto& [s, o] : open_) {
        for (const RequestLink& q : o.requests) {
          if (q.digest == request.digest_prefix()) seq = s;
        }
      }
      if (!seq) {
        auto it = by_digest_.find(request.digest_prefix());
        if (it != by_digest_.end()) seq = it->second;
      }
      break;
    }
    default:
      return absl::InvalidArgumentError(
          "GetTimelineRequest needs one of seq, request or digest_prefix");
  }
  if (!seq) {
    return absl::NotFoundError(
        "no timeline for that request: not traced, or it aged out of the "
        "retained ring");
  }
  auto open = open_.find(*seq);
  if (open != open_.end()) {
    return Render(open->second, false, v1::TIMELINE_STATE_UNSPECIFIED);
  }
  auto it = by_seq_.find(*seq);
  if (it == by_seq_.end()) {
    return absl::NotFoundError(absl::StrFormat(
        "no timeline for seq %d: not traced, or it aged out of the retained "
        "ring (%d timelines)",
        *seq, options_.retained));
  }
  return *it->second;
}

namespace {

bool Matches(const v1::ListTimelinesRequest& r, const v1::Timeline& t) {
  if (r.has_seq_min() && t.seq() < r.seq_min()) return false;
  if (r.has_seq_max() && t.seq() > r.seq_max()) return false;
  if (r.incomplete_only() && t.state() == v1::TIMELINE_STATE_COMPLETE) {
    return false;
  }
  if (r.slower_than_ns() > 0 && SlowestLatencyNs(t) < r.slower_than_ns()) {
    return false;
  }
  return true;
}

void Summarize(v1::Timeline* t) {
  t->clear_replicas();
  t->clear_phases();
  t->mutable_completeness()->clear_missing();
}

}  // namespace

v1::ListTimelinesResponse TimelineBuilder::List(
    const v1::ListTimelinesRequest& request) {
  v1::ListTimelinesResponse resp;
  const uint32_t limit = request.limit() == 0 ? 100 : request.limit();
  uint32_t more = 0;
  auto add = [&](const v1::Timeline& t) {
    if (!Matches(request, t)) return;
    if (static_cast<uint32_t>(resp.timelines_size()) >= limit) {
      ++more;
      return;
    }
    v1::Timeline* out = resp.add_timelines();
    *out = t;
    if (request.summary_only()) Summarize(out);
  };
  // Under the lock: open timelines (their state is the builder's) and
  // pointers to the closed ones, which are immutable. Matching and copying
  // the closed ones, the bulk of a large page, happens after it, so a long
  // listing does not stall the events the builder is fed.
  std::vector<std::shared_ptr<const v1::Timeline>> closed;
  {
    absl::MutexLock lock(&mu_);
    if (request.include_open()) {
      for (auto it = open_.rbegin(); it != open_.rend(); ++it) {
        add(Render(it->second, false, v1::TIMELINE_STATE_UNSPECIFIED));
      }
    }
    closed.assign(closed_.rbegin(), closed_.rend());
    *resp.mutable_stats() = stats_;
    resp.mutable_stats()->set_open(static_cast<uint32_t>(open_.size()));
    resp.mutable_stats()->set_retained(static_cast<uint32_t>(closed_.size()));
    resp.mutable_stats()->set_replicas(static_cast<uint32_t>(replicas_.size()));
  }
  for (const auto& t : closed) add(*t);
  resp.set_more(more);
  return resp;
}

v1::ListViewChangesResponse TimelineBuilder::ListViewChanges(
    const v1::ListViewChangesRequest& request) {
  absl::MutexLock lock(&mu_);
  v1::ListViewChangesResponse resp;
  const uint32_t limit = request.limit() == 0 ? 100 : request.limit();
  if (episode_) *resp.add_episodes() = EpisodeProto(*episode_);
  for (auto it = episodes_.rbegin();
       it != episodes_.rend() &&
       static_cast<uint32_t>(resp.episodes_size()) < limit;
       ++it) {
    *resp.add_episodes() = *it;
  }
  for (auto it = anomalies_.rbegin();
       it != anomalies_.rend() &&
       static_cast<uint32_t>(resp.anomalies_size()) < limit;
       ++it) {
    *resp.add_anomalies() = *it;
  }
  return resp;
}

v1::TimelineStats TimelineBuilder::Stats() {
  absl::MutexLock lock(&mu_);
  v1::TimelineStats s = stats_;
  s.set_open(static_cast<uint32_t>(open_.size()));
  s.set_retained(static_cast<uint32_t>(closed_.size()));
  s.set_replicas(static_cast<uint32_t>(replicas_.size()));
  return s;
}

int64_t SlowestLatencyNs(const v1::Timeline& t) {
  int64_t slowest = t.has_execute_latency_ns() ? t.execute_latency_ns() : 0;
  for (const v1::ClientRequest& q : t.requests()) {
    if (q.has_latency_ns()) slowest = std::max(slowest, q.latency_ns());
  }
  return slowest;
}

}  // namespace resdb_trace::collector
