// The collector's data path: BpfTracer (kernel) → reader thread → Decoder →
// EventHub (per-subscriber queues). Also tracks traced processes (start and
// exit events) and keeps the self-metrics GetStats serves.
#ifndef RESDB_TRACE_COLLECTOR_INGEST_COLLECTOR_H_
#define RESDB_TRACE_COLLECTOR_INGEST_COLLECTOR_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>  // std::once_flag
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "collector/decode/clock.h"
#include "collector/decode/decoder.h"
#include "collector/hub/event_hub.h"
#include "collector/ingest/bpf_tracer.h"
#include "google/protobuf/arena.h"
#include "resdb_trace/v1/events.pb.h"
#include "resdb_trace/v1/service.pb.h"

namespace resdb_trace::collector {

using EventHubT = EventHub<v1::Event>;
using EventPtr = std::shared_ptr<const v1::Event>;

// The events decoded in one reader round (at most kMaxBatchEvents), all on
// one protobuf arena: one allocation per arena block instead of ~10 heap
// blocks per event, and one free, on whichever thread drops the batch's
// last event. Every EventPtr the collector publishes is an aliasing
// shared_ptr that owns the whole batch.
class EventArenaBatch {
 public:
  EventArenaBatch();
  EventArenaBatch(const EventArenaBatch&) = delete;
  EventArenaBatch& operator=(const EventArenaBatch&) = delete;

  // A new empty event on the batch's arena.
  v1::Event* NewEvent() {
    return google::protobuf::Arena::CreateMessage<v1::Event>(&arena_);
  }
  google::protobuf::Arena* arena() { return &arena_; }
  // Bytes the batch keeps alive while any of its events is referenced.
  size_t bytes() const { return static_cast<size_t>(arena_.SpaceAllocated()); }

 private:
  google::protobuf::Arena arena_;
};

struct CollectorOptions {
  // Binaries to trace: every process running them, now and later.
  std::vector<std::string> binaries;
  // Processes to trace (their main executable).
  std::vector<int> pids;
  // Catalogue hook ids to attach; empty = all.
  std::vector<uint32_t> hook_ids;
  // 8 MiB: ~100k records, 100-200 ms of the hooks at full speed; libbpf
  // maps it twice (wrap-around), so it counts twice in RSS.
  size_t ringbuf_bytes = 8u << 20;
  // Longest the reader sleeps between ring-buffer drains when idle.
  int max_poll_ms = 4;
  EventHubOptions hub;
  std::string node_name;  // host label copied into every event
  // Record each thread's last hook in the BPF thread_phase map, for the CPU
  // profiler's phase attribution (an extra map update per hit): set it only
  // when profiling.
  bool track_thread_phase = false;
};

class Collector {
 public:
  // Loads BPF and attaches to every target. Fails (with a message naming the
  // binary, pid, hook or capability) when a target cannot be traced at all:
  // a missing binary, a binary with none of the hooks, a pid that does not
  // exist. A binary with only some hooks is attached; the rest are reported.
  static absl::StatusOr<std::unique_ptr<Collector>> Create(
      const CollectorOptions& options);
  ~Collector();

  // Starts the reader thread.
  void Start();
  // Detaches every probe, drains the ring buffer, closes all subscriber
  // queues (streams end after their last batch). Idempotent.
  void Stop();

  EventHubT& hub() { return hub_; }
  // The hooks program's per-thread phase map, for the CPU profiler; -1
  // unless CollectorOptions::track_thread_phase (the map stays empty then).
  int thread_phase_map_fd() const {
    return tracer_->tracks_thread_phase() ? tracer_->thread_phase_map_fd() : -1;
  }
  // Attach reports, one per target, as made at Create.
  const std::vector<AttachReport>& attach_reports() const { return reports_; }
  // Self-metrics (subscribers are filled in by the service layer).
  v1::Stats Stats() const;
  // Ring-buffer drops so far (all CPUs), as last read by the reader thread.
  uint64_t ringbuf_drops() const {
    return ringbuf_drops_.load(std::memory_order_relaxed);
  }
  // Records the decoder rejected so far.
  uint64_t malformed() const {
    return malformed_.load(std::memory_order_relaxed);
  }
  // Events published to the hub so far.
  uint64_t published() const {
    return published_.load(std::memory_order_relaxed);
  }

 private:
  explicit Collector(const CollectorOptions& options);
  void ReaderLoop();
  // The reader's batch under construction: events on `arena`, published
  // together (with the arena's size) by Flush.
  struct PendingBatch {
    std::shared_ptr<EventArenaBatch> arena;
    std::vector<v1::Event*> events;
  };
  void Housekeeping(PendingBatch* batch, bool check_exits);
  void Flush(PendingBatch* batch);

  CollectorOptions options_;
  std::unique_ptr<BpfTracer> tracer_;
  MonotonicToWallClock clock_;
  std::unique_ptr<Decoder> decoder_;
  EventHubT hub_;
  std::vector<AttachReport> reports_;

  std::thread reader_;
  std::atomic<bool> stop_{false};
  std::once_flag stopped_;

  // Counters (reader thread writes, anyone reads).
  std::atomic<uint64_t> records_read_{0};
  std::atomic<uint64_t> malformed_{0};
  std::atomic<uint64_t> published_{0};
  std::atomic<uint64_t> ringbuf_drops_{0};
  mutable absl::Mutex counters_mu_;
  Counters last_counters_ ABSL_GUARDED_BY(counters_mu_);
  int64_t start_wall_ns_ = 0;

  // Processes with a ProcessStarted event and no ProcessExited yet (reader
  // thread only).
  absl::flat_hash_set<uint32_t> known_pids_;
  std::vector<int> live_pids_;  // --pid targets
};

}  // namespace resdb_trace::collector

#endif  // RESDB_TRACE_COLLECTOR_INGEST_COLLECTOR_H_
