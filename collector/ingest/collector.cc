#include "collector/ingest/collector.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "lib/status_macros.h"
#include "resdb_trace/catalog.h"

namespace resdb_trace::collector {
namespace {

// How often the reader looks for exited processes and refreshes counters.
constexpr int64_t kHousekeepingNs = 250'000'000;

// Events per published batch (and per arena).
constexpr size_t kMaxBatchEvents = 4096;

bool ProcessAlive(int pid) { return kill(pid, 0) == 0 || errno == EPERM; }

std::string ExePath(int pid) {
  std::error_code ec;
  auto target =
      std::filesystem::read_symlink(absl::StrCat("/proc/", pid, "/exe"), ec);
  return ec ? std::string() : target.string();
}

v1::AttachStatus ToProto(HookAttachState state) {
  switch (state) {
    case HookAttachState::kAttached:
      return v1::ATTACH_STATUS_ATTACHED;
    case HookAttachState::kMissingSymbol:
      return v1::ATTACH_STATUS_MISSING_SYMBOL;
    case HookAttachState::kAttachError:
      return v1::ATTACH_STATUS_ERROR;
  }
  return v1::ATTACH_STATUS_UNSPECIFIED;
}

}  // namespace

namespace {
// Arena blocks: big enough that a full batch takes a few dozen, small
// enough that a quiet poll's batch of a handful of events stays small.
google::protobuf::ArenaOptions BatchArenaOptions() {
  google::protobuf::ArenaOptions o;
  o.start_block_size = 4096;
  o.max_block_size = 64 * 1024;
  return o;
}
}  // namespace

EventArenaBatch::EventArenaBatch() : arena_(BatchArenaOptions()) {}

Collector::Collector(const CollectorOptions& options)
    : options_(options), hub_(options.hub) {}

absl::StatusOr<std::unique_ptr<Collector>> Collector::Create(
    const CollectorOptions& options) {
  if (options.binaries.empty() && options.pids.empty()) {
    return absl::InvalidArgumentError(
        "nothing to trace: give at least one --binary PATH or --pid N");
  }
  // Check targets before loading BPF, so a typo fails fast and clearly.
  for (const std::string& path : options.binaries) {
    struct stat st;
    if (stat(path.c_str(), &st) != 0) {
      return absl::NotFoundError(
          absl::StrFormat("--binary %s: %s", path, std::strerror(errno)));
    }
    if (!S_ISREG(st.st_mode)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("--binary %s: not a regular file", path));
    }
  }
  for (int pid : options.pids) {
    if (pid <= 0 || !ProcessAlive(pid)) {
      return absl::NotFoundError(
          absl::StrFormat("--pid %d: no such process", pid));
    }
  }

  std::unique_ptr<Collector> c(new Collector(options));
  c->start_wall_ns_ = RealtimeNowNs();
  BpfTracer::Options topt;
  topt.ringbuf_bytes = options.ringbuf_bytes;
  topt.track_thread_phase = options.track_thread_phase;
  ASSIGN_OR_RETURN(c->tracer_, BpfTracer::Create(topt));

  DecoderOptions dopt;
  dopt.node_name = options.node_name;
  dopt.binary_for_pid = [](uint32_t pid) { return ExePath(pid); };
  c->decoder_ = std::make_unique<Decoder>(&c->clock_, std::move(dopt));

  auto check = [](const AttachReport& r,
                  const std::string& what) -> absl::Status {
    if (r.attached_count() > 0) return absl::OkStatus();
    if (r.missing_count() == static_cast<int>(r.hooks.size())) {
      return absl::NotFoundError(absl::StrFormat(
          "%s has none of the resdb_trace hooks (no resdb_trace_* symbol in "
          ".dynsym or .symtab); build it with the //:resdb_trace dependency",
          what));
    }
    return absl::InternalError(absl::StrFormat(
        "%s: no hook could be attached:\n%s", what, r.Summary()));
  };
  for (const std::string& path : options.binaries) {
    ASSIGN_OR_RETURN(AttachReport r,
                     c->tracer_->AttachBinary(path, -1, options.hook_ids));
    RETURN_IF_ERROR(check(r, absl::StrCat("--binary ", path)));
    c->reports_.push_back(std::move(r));
  }
  for (int pid : options.pids) {
    const std::string exe = absl::StrCat("/proc/", pid, "/exe");
    absl::StatusOr<AttachReport> r =
        c->tracer_->AttachBinary(exe, pid, options.hook_ids);
    if (!r.ok()) {
      if (!ProcessAlive(pid)) {
        return absl::NotFoundError(
            absl::StrFormat("--pid %d: process exited while attaching", pid));
      }
      return r.status();
    }
    RETURN_IF_ERROR(
        check(*r, absl::StrCat("--pid ", pid, " (", ExePath(pid), ")")));
    r->binary_path = ExePath(pid);
    c->reports_.push_back(std::move(*r));
    c->live_pids_.push_back(pid);
  }
  return c;
}

Collector::~Collector() { Stop(); }

void Collector::Start() {
  reader_ = std::thread([this] { ReaderLoop(); });
}

void Collector::Stop() {
  std::call_once(stopped_, [this] {
    stop_.store(true);
    if (reader_.joinable()) reader_.join();
    hub_.Shutdown();
  });
}

void Collector::Flush(PendingBatch* batch) {
  if (batch->events.empty()) return;
  std::vector<EventPtr> events;
  events.reserve(batch->events.size());
  for (v1::Event* e : batch->events) {
    if (e->event_case() == v1::Event::kProcessStarted) {
      known_pids_.insert(e->process().pid());
    }
    events.emplace_back(batch->arena, e);  // aliasing: owns the arena
  }
  const size_t bytes = batch->arena->bytes();
  batch->events.clear();
  batch->arena.reset();
  published_.fetch_add(events.size(), std::memory_order_relaxed);
  hub_.PublishBatch(events, bytes);
}

void Collector::ReaderLoop() {
  PendingBatch batch;
  batch.events.reserve(kMaxBatchEvents + 2);
  int poll_ms = 1;
  uint64_t next_housekeeping = static_cast<uint64_t>(MonotonicNowNs());
  auto on_record = [&](const resdb_trace_record& record) {
    records_read_.fetch_add(1, std::memory_order_relaxed);
    if (batch.arena == nullptr) {
      batch.arena = std::make_shared<EventArenaBatch>();
    }
    absl::Status s =
        decoder_->Decode(record, batch.arena->arena(), &batch.events);
    if (!s.ok()) {
      malformed_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (batch.events.size() >= kMaxBatchEvents) Flush(&batch);
  };
  // Drain once more after stop_ so nothing the kernel wrote is left behind.
  bool last_round = false;
  while (true) {
    if (stop_.load()) {
      tracer_->DetachAll();
      last_round = true;
    }
    absl::StatusOr<int> n = tracer_->Poll(last_round ? 0 : poll_ms, on_record);
    // Each Poll is capped (BpfTracer::Options::max_records_per_poll) so the
    // housekeeping below runs on time under overload; after the detach,
    // drain until the ring is empty.
    while (last_round && n.ok() && (*n > 0 || tracer_->last_poll_capped())) {
      Flush(&batch);
      n = tracer_->Poll(0, on_record);
    }
    // Adaptive sleep: 1 ms while busy, up to max_poll_ms when idle.
    if (n.ok() && *n > 0) {
      poll_ms = 1;
    } else {
      poll_ms = std::min(poll_ms * 2, std::max(1, options_.max_poll_ms));
    }
    const uint64_t now = static_cast<uint64_t>(MonotonicNowNs());
    if (now >= next_housekeeping || last_round) {
      Flush(&batch);  // ProcessStarted events first: known_pids_
      Housekeeping(&batch, !tracer_->last_poll_capped() || last_round);
      next_housekeeping = now + kHousekeepingNs;
    }
    Flush(&batch);
    if (last_round) break;
  }
}

void Collector::Housekeeping(PendingBatch* batch, bool check_exits) {
  Counters counters = tracer_->ReadCounters();
  ringbuf_drops_.store(counters.ringbuf_full, std::memory_order_relaxed);
  {
    absl::MutexLock lock(&counters_mu_);
    last_counters_ = counters;
  }
  clock_.Refresh();
  // Processes that exited since the last look get a ProcessExited event, so
  // a gap in a replica's stream is visible as such. Only once a poll has
  // emptied the ring: records a process wrote before it died must come
  // before its exit, and a capped poll may have left some behind.
  if (!check_exits) return;
  for (auto it = known_pids_.begin(); it != known_pids_.end();) {
    const uint32_t pid = *it;
    if (ProcessAlive(static_cast<int>(pid))) {
      ++it;
      continue;
    }
    if (batch->arena == nullptr) {
      batch->arena = std::make_shared<EventArenaBatch>();
    }
    v1::Event* exited = batch->arena->NewEvent();
    decoder_->ForgetProcess(pid, exited);
    batch->events.push_back(exited);
    known_pids_.erase(it++);
  }
}

v1::Stats Collector::Stats() const {
  v1::Stats stats;
  *stats.mutable_time() = MonotonicToWallClock::NsToTimestamp(RealtimeNowNs());
  *stats.mutable_start_time() =
      MonotonicToWallClock::NsToTimestamp(start_wall_ns_);
  Counters counters;
  {
    absl::MutexLock lock(&counters_mu_);
    counters = last_counters_;
  }
  const DecoderStats ds = decoder_->stats();
  stats.set_records_read(records_read_.load());
  stats.set_events_decoded(ds.decoded);
  stats.set_records_malformed(ds.malformed + counters.malformed);
  stats.set_ringbuf_drops_total(counters.ringbuf_full);
  for (uint64_t d : counters.ringbuf_full_per_cpu) {
    stats.add_ringbuf_drops_per_cpu(d);
  }
  stats.set_records_filtered(counters.filtered);
  for (const AttachReport& r : reports_) {
    for (const HookAttachResult& h : r.hooks) {
      v1::HookAttachment* a = stats.add_attachments();
      a->set_binary(r.binary_path);
      a->set_pid(r.pid < 0 ? 0 : static_cast<uint32_t>(r.pid));
      a->set_hook_id(h.hook_id);
      a->set_hook_name(h.symbol);
      a->set_status(ToProto(h.state));
      a->set_message(h.error);
      a->set_offset(h.func_offset);
      a->set_semaphore(h.ref_ctr_offset != 0);
    }
  }
  return stats;
}

}  // namespace resdb_trace::collector
