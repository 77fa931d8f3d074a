// Owns the perf-event BPF program (bpf/profile.bpf.c): loads it, opens a
// software cpu-clock perf event per online CPU and attaches the program to
// each, manages the tgid allow-list, and drains the in-kernel sample counts
// and stacks (raw addresses, not yet symbolized).
#ifndef RESDB_TRACE_COLLECTOR_PROFILE_CPU_SAMPLER_H_
#define RESDB_TRACE_COLLECTOR_PROFILE_CPU_SAMPLER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "collector/ingest/libbpf_util.h"

struct profile_bpf;

namespace resdb_trace::collector::profile {

// One aggregation bucket drained from the kernel.
struct RawSample {
  uint32_t tgid = 0;
  uint32_t tid = 0;      // 0 when the sampler does not key by thread.
  uint32_t hook_id = 0;  // phase; 0 = none.
  uint64_t count = 0;
  // Instruction addresses, leaf first. user_ips[0] is the interrupted
  // instruction when the sample hit user mode, else the return address of
  // the syscall; kernel_ips[i > 0] and user_ips[i > 0] are return addresses.
  std::vector<uint64_t> user_ips;
  std::vector<uint64_t> kernel_ips;
  // 0: the stack (possibly empty) is above. EEXIST / ENOMEM: the kernel
  // could not store it (collision, map full). EFAULT: there was none (no
  // user context; for the kernel: the sample hit user mode). ENOENT: the id
  // was no longer in the stack map.
  int user_error = 0;
  int kernel_error = 0;
};

// Kernel counters (bpf/profile_record.h) plus the drain's own.
struct SamplerCounters {
  // Each sample is in exactly one of `samples` and `counts_full`; the
  // stack figures are of `samples`.
  uint64_t samples = 0;             // samples counted in the count map.
  uint64_t counts_full = 0;         // samples lost: the count map was full.
  uint64_t user_stacks_lost = 0;    // bpf_get_stackid(user) collisions/full.
  uint64_t kernel_stacks_lost = 0;  // the same for kernel stacks.
  uint64_t user_stacks_empty = 0;   // no user stack (-EFAULT).
  uint64_t stacks_evicted = 0;      // drained ids missing from the stack map.

  SamplerCounters& operator-=(const SamplerCounters& o);
};

// What one Drain took out of the kernel.
struct DrainResult {
  absl::Time start;  // the previous drain's flip (or Start).
  absl::Time end;    // this drain's flip: samples after it wait for the next.
  std::vector<RawSample> samples;
  SamplerCounters counters;  // kernel counter deltas over [start, end).
};

// Threading: AddPid/RemovePid/ReadCounters may run concurrently with Drain
// (on another thread); Drain is not thread-safe with itself, nor Start/Stop
// with each other.
class CpuSampler {
 public:
  struct Options {
    // Samples per second per CPU (the perf event's sample_freq). At most
    // kernel.perf_event_max_sample_rate.
    uint32_t frequency_hz = 99;
    // Key samples by thread; off: tid is always 0 (fewer buckets).
    bool per_thread = true;
    // Entries of each count map / stack map generation.
    uint32_t count_map_entries = 16384;
    uint32_t stack_map_entries = 16384;
    // Fd of the hooks object's thread_phase map
    // (BpfTracer::thread_phase_map_fd); -1: standalone, every phase "none".
    int thread_phase_map_fd = -1;
    // A phase older than this counts as "none"; zero: never stale.
    absl::Duration phase_max_age = absl::ZeroDuration();
    // Wait between flipping the generation and reading the old one, so that
    // programs running on other CPUs at the flip finish.
    absl::Duration flip_grace = absl::Milliseconds(2);
  };

  // Checks capabilities, opens, configures and loads the program (nothing
  // is sampled until Start). PermissionDenied naming CAP_BPF / CAP_PERFMON,
  // InvalidArgument for a bad frequency or a thread_phase fd whose map does
  // not match.
  static absl::StatusOr<std::unique_ptr<CpuSampler>> Create(
      const Options& options);

  CpuSampler(const CpuSampler&) = delete;
  CpuSampler& operator=(const CpuSampler&) = delete;
  ~CpuSampler();

  // Opens a cpu-clock perf event on every online CPU and attaches the
  // program. PermissionDenied naming CAP_PERFMON when perf events are
  // refused. Idempotent.
  absl::Status Start();
  // Detaches and closes the perf events; drained data is unaffected.
  void Stop();
  bool running() const { return !links_.empty(); }
  // CPUs with a perf event while running.
  int cpus_sampled() const { return static_cast<int>(links_.size()); }

  // Allow-list of sampled processes.
  absl::Status AddPid(uint32_t tgid);
  absl::Status RemovePid(uint32_t tgid);

  // Flips the generation, waits `flip_grace`, then reads and clears the
  // old generation's counts and stacks.
  absl::StatusOr<DrainResult> Drain();

  // Cumulative kernel counters (stacks_evicted: the drains' own).
  SamplerCounters ReadCounters() const;

  uint32_t frequency_hz() const { return frequency_hz_; }
  bool shares_thread_phase() const { return shares_thread_phase_; }
  // Deepest stack the kernel records: RESDB_PROFILE_MAX_STACK_DEPTH or the
  // lower kernel.perf_event_max_stack. A stack this deep may be truncated.
  size_t max_stack_depth() const { return max_stack_depth_; }

 private:
  CpuSampler() = default;

  SkeletonPtr<profile_bpf> skel_{nullptr, nullptr};
  // destroying a perf-event link also closes the perf event fd
  std::vector<BpfLinkPtr> links_;
  uint32_t frequency_hz_ = 0;
  size_t max_stack_depth_ = 0;
  absl::Duration flip_grace_;
  bool shares_thread_phase_ = false;
  int num_cpus_ = 0;
  absl::Time last_flip_;
  SamplerCounters last_counters_;  // as of the last drain
  // written by Drain, read by ReadCounters on any thread
  std::atomic<uint64_t> stacks_evicted_{0};
};

}  // namespace resdb_trace::collector::profile

#endif  // RESDB_TRACE_COLLECTOR_PROFILE_CPU_SAMPLER_H_
