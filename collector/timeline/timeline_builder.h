// TimelineBuilder: correlates the event stream of every traced replica into
// per-seq PBFT timelines (ResView), view-change episodes and safety anomalies.
//
// Feed it events in stream order (Add), tell it about losses (NoteLoss) and
// the passage of time (Advance, on the kernel's CLOCK_MONOTONIC, the clock of
// Event.ktime_ns). A timeline closes as COMPLETE once every live replica has
// replied (and every traced proxy answered its client) and a short linger for
// late votes has passed; otherwise as INCOMPLETE when it has been idle or old
// for too long, or EVICTED when too many are open. Closed timelines, episode
// changes and anomalies go to the sink and are retained in bounded rings for
// queries. Nothing is inferred that the trace does not show: a quorum whose
// votes were not all observed has no formation time, and every expected event
// that is absent is listed (or, beyond a cap, counted) as missing, with the
// reason.
//
// The traced processes control every argument, so every structure is
// bounded in count: a replica id belongs to the process that first claimed
// it until that process exits (another live process claiming it is an
// anomaly, and its events for that id are dropped), replica ids, proxies,
// views, events per timeline and events held by open timelines are capped,
// and a rendered timeline never exceeds max_timeline_bytes. What a bound
// drops is counted in TimelineStats.
//
// Thread safety: every method may be called from any thread; one internal
// mutex serialises them. The sink is called with that mutex held and must not
// call back into the builder.
#ifndef RESDB_TRACE_COLLECTOR_TIMELINE_TIMELINE_BUILDER_H_
#define RESDB_TRACE_COLLECTOR_TIMELINE_TIMELINE_BUILDER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "collector/timeline/stage.h"
#include "resdb_trace/v1/events.pb.h"
#include "resdb_trace/v1/timeline.pb.h"

namespace resdb_trace::collector {

struct TimelineOptions {
  // Fault tolerance; 0 infers f = (n - 1) / 3 from the replicas seen.
  uint32_t f = 0;
  // After the completion condition holds, wait this long for late votes.
  absl::Duration linger = absl::Milliseconds(150);
  // Close a timeline that received no event for this long.
  absl::Duration idle_timeout = absl::Seconds(3);
  // Close a timeline this long after its first event, whatever happens.
  absl::Duration max_age = absl::Seconds(30);
  // Open timelines beyond this are closed oldest first (EVICTED).
  size_t max_open = 50000;
  // Closed timelines kept for GetTimeline / ListTimelines, and the most
  // rendered bytes they may hold together (the oldest go first).
  size_t retained = 4096;
  size_t max_retained_bytes = size_t{256} << 20;
  // View-change episodes and anomalies kept.
  size_t retained_episodes = 256;
  // An episode with no progress after this long is closed unfinished.
  absl::Duration episode_timeout = absl::Seconds(60);
  // client_batch_sent events wait this long for their request_received.
  absl::Duration request_link_timeout = absl::Seconds(30);
  // Replica ids tracked (a real cluster has a few dozen at most); events of
  // further ids are ignored and counted (replicas_refused). Also bounds the
  // f inferred when `f` is 0.
  size_t max_replicas = 256;
  // Events kept per timeline (stage marks); more are dropped and counted.
  size_t max_events_per_timeline = 16384;
  // Client requests kept per timeline.
  size_t max_requests_per_timeline = 1024;
  // Events all open timelines hold together; beyond, the oldest are closed
  // EVICTED (max_open bounds their number, this their size).
  size_t max_open_events = size_t{1} << 20;
  // Missing events listed per timeline; the rest are only counted.
  size_t max_missing_listed = 256;
  // Rendered size (proto bytes) of one timeline; a larger one is cut (marks
  // first) and says so (Timeline.truncated).
  size_t max_timeline_bytes = size_t{1} << 20;
  // Traced proxies remembered; the oldest is forgotten first.
  size_t max_proxies = 4096;
};

// What a "slower than" filter judges a timeline by: the longer of its
// execute latency (pre-prepare → the 2f+1-th replica executed) and the
// slowest client request it carries (sent → replied at the proxy), so a
// request that waited across a view change counts as slow even when the
// instance that finally ran it was quick. 0 when neither was observed.
int64_t SlowestLatencyNs(const v1::Timeline& t);

class TimelineBuilder {
 public:
  using Sink = std::function<void(const v1::TimelineUpdate&)>;

  explicit TimelineBuilder(TimelineOptions options, Sink sink = nullptr);
  ~TimelineBuilder();
  TimelineBuilder(const TimelineBuilder&) = delete;
  TimelineBuilder& operator=(const TimelineBuilder&) = delete;

  // Consumes one event (stage, process lifecycle or loss notice). Events of
  // other kinds are counted as ignored.
  void Add(const v1::Event& event);
  // Events the builder's own feed lost (its queue overflowed) or the
  // collector reported lost upstream: marks every open timeline.
  void NoteLoss(uint64_t events);
  // Closes what is due at `now_ktime_ns` (CLOCK_MONOTONIC).
  void Advance(int64_t now_ktime_ns);
  // Closes every open timeline and episode now (shutdown, tests).
  void Flush();

  // The timeline for a seq, client request or digest: the open one if any,
  // else the newest retained one. NotFound otherwise.
  absl::StatusOr<v1::Timeline> Get(const v1::GetTimelineRequest& request);
  v1::ListTimelinesResponse List(const v1::ListTimelinesRequest& request);
  v1::ListViewChangesResponse ListViewChanges(
      const v1::ListViewChangesRequest& request);
  v1::TimelineStats Stats();

  // Counts events the feed dropped (for TimelineStats.events_dropped).
  void AddDropped(uint64_t n);

 private:
  struct Mark {
    v1::EventType type;
    int64_t t;        // ktime ns
    int64_t wall_ns;  // unix ns
    std::optional<uint32_t> peer;
    std::optional<uint64_t> view;
    std::optional<uint64_t> digest;
    uint64_t event_id;
  };
  struct ReplicaMarks {
    uint32_t pid = 0;
    std::vector<Mark> marks;
    bool replied = false;  // a REPLY_SENT is among the marks
  };
  struct RequestLink {
    uint64_t proxy_id = 0;
    std::optional<uint64_t> local_id;
    std::optional<uint64_t> digest;
    std::optional<int64_t> sent_t;
    std::optional<int64_t> replied_t;
    uint64_t matching = 0;
    uint32_t proxy_replica = 0;  // replica id of the proxy's process
  };
  struct Open {
    uint64_t seq = 0;
    int64_t first_t = 0;
    int64_t first_wall_ns = 0;
    int64_t last_t = 0;
    std::map<uint32_t, ReplicaMarks> replicas;
    std::vector<RequestLink> requests;
    // (proxy, index in requests) of the requests still waiting for their
    // reply_to_client: replies and completion look them up in O(log n).
    std::set<std::pair<uint64_t, uint32_t>> unreplied;
    uint32_t dropped = 0;  // events beyond the per-timeline caps
    bool losses = false;
    std::optional<int64_t> complete_since;  // completion condition met at
    uint32_t events = 0;
    uint32_t closes = 0;  // times closed before (reopened timelines)
    // The keys this timeline has in by_deadline_ / by_first_t_ (Reschedule).
    bool indexed = false;
    int64_t indexed_deadline = 0;
    int64_t indexed_first_t = 0;
  };
  struct Replica {
    uint32_t pid = 0;
    bool alive = true;
    bool is_proxy_only = true;  // only client-side hooks seen so far
    std::optional<uint64_t> max_executed;
    std::optional<uint64_t> max_replied;
    // Other live processes that claimed this id, reported once each.
    std::vector<uint32_t> impostors;
  };
  struct PendingClient {
    uint64_t local_id;
    int64_t t;
    uint32_t proxy_replica;
    uint64_t order;  // its place in pending_order_
  };
  using PendingKey = std::pair<uint64_t, uint64_t>;  // (proxy, digest)
  struct PendingRef {
    PendingKey key;
    uint64_t order;
    int64_t t;
  };
  struct Episode {
    v1::ViewChangeEpisode proto;
    int64_t start_t = 0;
    int64_t last_progress_t = 0;
    std::optional<int64_t> installed_t;
    std::map<uint32_t, v1::ReplicaViewChange> replicas;
    std::map<uint64_t, std::set<uint32_t>> installed_by;  // view -> replicas
    bool any_vote_received = false;
    // The proto's attempted_views, kept sorted and capped here (the newest
    // 64) and copied out by EpisodeProto.
    std::set<uint64_t> attempted;
    uint64_t attempted_not_listed = 0;
  };

  void AddLocked(const v1::Event& event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The replica `rid` if the event's process may speak for it (binding the
  // id to that process when new); nullptr, counted, when the id is held by
  // another live process or the replica cap is reached.
  Replica* Claim(uint32_t rid, const v1::Event& event, uint64_t seq)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddAnomaly(v1::Anomaly anomaly) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void NoteProxy(uint64_t proxy_id, uint32_t rid)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Evicts the oldest open timelines other than `keep` while open timelines
  // hold max_open_events or more.
  void BoundOpenEvents(uint64_t keep) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddStage(const v1::Event& event, const StageFields& s)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddViewChange(const v1::Event& event, const StageFields& s)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CheckAnomalies(const v1::Event& event, const StageFields& s)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void NoteProgress(int64_t t, uint64_t seq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Open& OpenFor(uint64_t seq, int64_t t, int64_t wall_ns, uint32_t rid,
                uint32_t pid) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves a retained closed timeline back to open_ (a later view re-proposed
  // its seq); false when there is none to reopen.
  bool Reopen(uint64_t seq, int64_t t, uint32_t rid, uint32_t pid)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UpdateCompletion(Open& open, int64_t t)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Close(uint64_t seq, v1::TimelineState forced)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  v1::Timeline Render(const Open& open, bool closing,
                      v1::TimelineState forced) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Cuts a rendered timeline to max_timeline_bytes (Timeline.truncated).
  void CapSize(v1::Timeline* timeline) const;
  // When `o` is due to close, and re-keys it in by_deadline_ / by_first_t_.
  int64_t Deadline(const Open& o) const;
  void Reschedule(uint64_t seq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Unindex(const Open& o) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FinishEpisode(int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EmitEpisode() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  v1::ViewChangeEpisode EpisodeProto(const Episode& episode) const;
  void Emit(v1::TimelineUpdate update) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes the waiting batch `ref` names; false when it was matched already.
  bool ErasePending(const PendingRef& ref) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops refs to matched batches once they outnumber the waiting ones.
  void CompactPendingOrder() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint32_t F() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  size_t LiveReplicas() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const TimelineOptions options_;
  const Sink sink_;
  absl::Mutex mu_;

  std::map<uint64_t, Open> open_ ABSL_GUARDED_BY(mu_);
  // open_ ordered by when each timeline is due to close (linger after
  // completion, idle timeout, max age) and by first event, so Advance and
  // eviction touch only the timelines they close: O(log n) per event instead
  // of a walk over every open timeline.
  std::set<std::pair<int64_t, uint64_t>> by_deadline_ ABSL_GUARDED_BY(mu_);
  std::set<std::pair<int64_t, uint64_t>> by_first_t_ ABSL_GUARDED_BY(mu_);
  std::deque<std::shared_ptr<const v1::Timeline>> closed_ ABSL_GUARDED_BY(mu_);
  // Indexes into closed_ by seq / request / digest (newest wins).
  absl::flat_hash_map<uint64_t, std::shared_ptr<const v1::Timeline>> by_seq_
      ABSL_GUARDED_BY(mu_);
  std::map<std::pair<uint64_t, uint64_t>, uint64_t> by_request_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, uint64_t> by_digest_ ABSL_GUARDED_BY(mu_);
  // Kernel time of offset 0 of each timeline in by_seq_, to reopen it.
  absl::flat_hash_map<uint64_t, int64_t> closed_first_t_ ABSL_GUARDED_BY(mu_);

  std::map<uint32_t, Replica> replicas_ ABSL_GUARDED_BY(mu_);
  // Proxy id -> replica id of the traced process that reports its batches,
  // and the proxies in the order first seen (the oldest is forgotten first).
  absl::flat_hash_map<uint64_t, uint32_t> traced_proxies_ ABSL_GUARDED_BY(mu_);
  std::deque<uint64_t> traced_order_ ABSL_GUARDED_BY(mu_);
  // Events held by every open timeline together (sum of Open::events).
  size_t open_events_ ABSL_GUARDED_BY(mu_) = 0;
  // Rendered bytes of closed_ (sum of ByteSizeLong).
  size_t retained_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  // client_batch_sent waiting for its request_received, by (proxy, digest).
  // Several identical requests (same digest) wait in send order: a multimap
  // inserts at the end of a key's range. ~130 bytes per waiting batch with
  // pending_order_ (a map of deques cost ~700).
  std::multimap<PendingKey, PendingClient> pending_clients_
      ABSL_GUARDED_BY(mu_);
  // The same batches in arrival order, for expiry and the bound; refs to
  // batches already matched stay until they reach the front or the deque
  // is compacted (CompactPendingOrder), so expiry touches only what
  // expires instead of every waiting batch.
  std::deque<PendingRef> pending_order_ ABSL_GUARDED_BY(mu_);
  uint64_t pending_next_ ABSL_GUARDED_BY(mu_) = 0;

  // Safety checks: first committed digest per seq, first pre-prepare digest
  // per (view, seq); bounded to the newest entries.
  std::map<uint64_t, std::pair<uint64_t, v1::AnomalyClaim>> committed_digest_
      ABSL_GUARDED_BY(mu_);
  std::map<std::pair<uint64_t, uint64_t>, std::pair<uint64_t, v1::AnomalyClaim>>
      proposed_digest_ ABSL_GUARDED_BY(mu_);
  // (view) -> primary seen sending pre-prepares in it.
  std::map<uint64_t, uint32_t> view_primary_ ABSL_GUARDED_BY(mu_);
  uint64_t current_view_ ABSL_GUARDED_BY(mu_) = 0;

  std::optional<Episode> episode_ ABSL_GUARDED_BY(mu_);
  std::deque<v1::ViewChangeEpisode> episodes_ ABSL_GUARDED_BY(mu_);
  std::deque<v1::Anomaly> anomalies_ ABSL_GUARDED_BY(mu_);
  uint64_t next_episode_id_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t last_progress_t_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t last_progress_seq_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t last_t_ ABSL_GUARDED_BY(mu_) = 0;

  v1::TimelineStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace resdb_trace::collector

#endif  // RESDB_TRACE_COLLECTOR_TIMELINE_TIMELINE_BUILDER_H_
