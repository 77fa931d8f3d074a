// Owns the uprobe BPF program (bpf/hooks.bpf.c), its links and its ring
// buffer: load once, attach to any number of binaries or processes, drain
// records, read the in-kernel counters.
#ifndef RESDB_TRACE_COLLECTOR_INGEST_BPF_TRACER_H_
#define RESDB_TRACE_COLLECTOR_INGEST_BPF_TRACER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bpf/trace_record.h"
#include "collector/ingest/libbpf_util.h"

struct hooks_bpf;

namespace resdb_trace::collector {

// OK when the opened (not yet loaded) hooks object `skel` writes the record
// layout this collector decodes: its `.rodata` record_version equals
// RESDB_TRACE_RECORD_VERSION. FailedPrecondition naming both versions
// otherwise. BpfTracer::Create refuses to load a mismatched object with it.
absl::Status CheckRecordVersion(const hooks_bpf& skel);

// What became of one hook in an attach request.
enum class HookAttachState {
  kAttached,       // a uprobe is live on the hook.
  kMissingSymbol,  // the binary does not define resdb_trace_<name>.
  kAttachError,    // the kernel or libbpf refused; see `error`.
};

struct HookAttachResult {
  uint32_t hook_id = 0;
  std::string symbol;  // resdb_trace_<name>.
  HookAttachState state = HookAttachState::kMissingSymbol;
  std::string error;            // kAttachError: what failed and the errno text.
  uint64_t func_offset = 0;     // file offset of the hook (when present).
  uint64_t ref_ctr_offset = 0;  // file offset of its semaphore slot, 0 = none.
};

// Outcome of AttachBinary, one entry per requested hook (ascending id).
struct AttachReport {
  std::string binary_path;      // as passed to AttachBinary.
  int pid = -1;                 // -1: every process running that binary.
  std::string build_id;         // hex NT_GNU_BUILD_ID, empty when absent.
  bool has_semaphores = false;  // the binary defines resdb_trace_semaphores.
  std::vector<HookAttachResult> hooks;

  int attached_count() const;
  int missing_count() const;
  int error_count() const;
  // One line per hook that is not attached, for logs and error messages.
  std::string Summary() const;
};

// In-kernel counters (bpf/trace_record.h) plus the reader's own.
struct Counters {
  // Records written to the ring buffer: consumed + still unread (from the
  // ring's positions; exact while no Poll runs, else within one record).
  uint64_t emitted = 0;
  uint64_t ringbuf_full = 0;  // records lost: the ring buffer was full.
  uint64_t filtered = 0;      // hits from pids outside the allow-list.
  std::vector<uint64_t> ringbuf_full_per_cpu;  // indexed by possible cpu.
  uint64_t consumed = 0;   // well-formed records handed to Poll callbacks.
  uint64_t malformed = 0;  // ring-buffer samples of the wrong size, skipped.
};

// Threading: Poll may run on a reader thread of its own while another thread
// calls ReadCounters, AddPid or RemovePid. AttachBinary and the Detach
// methods must not run concurrently with each other.
class BpfTracer {
 public:
  struct Options {
    // Ring buffer size: a power of two and a multiple of the page size.
    size_t ringbuf_bytes = 8u << 20;
    // Wake the reader once this fraction of the buffer holds unread data;
    // below it, records wait for the next Poll timeout. In (0, 1].
    double wakeup_fraction = 0.25;
    // Trace only these tgids (empty and !filter_pids: trace everyone).
    std::vector<uint32_t> pid_filter;
    // Enable the allow-list even when `pid_filter` starts empty (pids are
    // then added with AddPid).
    bool filter_pids = false;
    // Where libbpf's log goes (see SetLibbpfLogger); empty keeps the current.
    LibbpfLogger logger;
    // Keep the thread_phase map (the last hook each thread passed) up to
    // date on every hit, for the CPU profiler's phase attribution. Costs
    // an LRU hash update per hit; turn it off when nothing profiles (the
    // collector does).
    bool track_thread_phase = true;
    // Most ring-buffer records one Poll hands out. Without a cap, a poll
    // under sustained overload keeps draining while the kernel keeps
    // writing, and the caller's housekeeping (counters, exits, stats) waits
    // for it. At least 1.
    int max_records_per_poll = 16384;
  };

  using RecordCallback = std::function<void(const resdb_trace_record&)>;

  // Opens, configures and loads the BPF object. PermissionDenied, naming
  // CAP_BPF and CAP_PERFMON, when the process may not load BPF programs.
  static absl::StatusOr<std::unique_ptr<BpfTracer>> Create(
      const Options& options);

  BpfTracer(const BpfTracer&) = delete;
  BpfTracer& operator=(const BpfTracer&) = delete;
  ~BpfTracer();

  // Attaches the program to each hook in `hook_ids` (empty: the whole
  // catalogue) of the ELF file `path`, for process `pid` or, with -1, for
  // every process running it now and later. The attach cookie carries the
  // hook id and the semaphore slot is raised while attached. Errors only
  // when the file cannot be read; per-hook outcomes are in the report.
  absl::StatusOr<AttachReport> AttachBinary(
      const std::string& path, int pid = -1,
      const std::vector<uint32_t>& hook_ids = {});

  // Detaches every hook attached by AttachBinary(path, pid); returns how
  // many links were closed.
  int DetachBinary(const std::string& path, int pid = -1);
  // Detaches everything.
  void DetachAll();
  // Live uprobe links.
  size_t attached_link_count() const;

  // Waits up to `timeout_ms` for a wakeup, then drains what is pending
  // (wakeups are batched, so the final drain picks up records that did not
  // wake the reader), up to Options::max_records_per_poll records; a return
  // of that many means more may be waiting. Calls `callback` once per
  // record, in ring order. Returns the number of records delivered. Not
  // thread-safe with itself.
  absl::StatusOr<int> Poll(int timeout_ms, const RecordCallback& callback);
  // Whether the last Poll stopped at max_records_per_poll (malformed
  // records count toward it): more may be waiting.
  bool last_poll_capped() const { return seen_ >= max_records_per_poll_; }

  // Sums the per-cpu counters.
  Counters ReadCounters() const;

  // Allow-list management (effective only with filtering enabled).
  absl::Status AddPid(uint32_t tgid);
  absl::Status RemovePid(uint32_t tgid);
  bool pid_filter_enabled() const { return filter_pids_; }

  // Ring buffer size in bytes, as loaded.
  size_t ringbuf_bytes() const { return ringbuf_bytes_; }

  // File descriptor of the `thread_phase` map (the last hook each thread
  // passed), owned by this tracer: valid while it lives. The profiler reuses
  // it to tag CPU samples with the thread's consensus phase. The map is only
  // filled with Options::track_thread_phase.
  int thread_phase_map_fd() const;
  bool tracks_thread_phase() const { return track_thread_phase_; }

 private:
  struct Attachment {
    std::string path;
    int pid = -1;
    uint32_t hook_id = 0;
    BpfLinkPtr link;
  };

  BpfTracer() = default;
  static int HandleSample(void* ctx, void* data, size_t size);

  SkeletonPtr<hooks_bpf> skel_{nullptr, nullptr};
  RingBufferPtr rb_;
  std::vector<Attachment> attachments_;
  size_t ringbuf_bytes_ = 0;
  bool filter_pids_ = false;
  bool track_thread_phase_ = false;
  // The ring's consumer and producer position pages, mapped read-only, for
  // Counters::emitted; MAP_FAILED when the mapping failed.
  void* ring_positions_ = nullptr;
  size_t page_bytes_ = 0;
  int num_cpus_ = 0;

  // Valid only inside Poll.
  const RecordCallback* callback_ = nullptr;
  int delivered_ = 0;
  int seen_ = 0;  // records this Poll took from the ring, malformed too
  int max_records_per_poll_ = 16384;
  // written by Poll, read by ReadCounters, possibly on another thread
  std::atomic<uint64_t> consumed_{0};
  std::atomic<uint64_t> malformed_{0};
};

}  // namespace resdb_trace::collector

#endif  // RESDB_TRACE_COLLECTOR_INGEST_BPF_TRACER_H_
