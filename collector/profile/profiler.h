// ResLens' engine: continuous CPU profiling of chosen processes. A
// CpuSampler counts stacks in the kernel; a drain thread takes them out
// every interval, symbolizes them (Symbolizer) and appends them to a bounded
// SampleStore; Collect aggregates any window of that history, filtered by
// process, replica and consensus phase, into a ProfileData for the encoders.
//
//   ProfilerOptions options;
//   options.pids = {pid};
//   ASSIGN_OR_RETURN(auto profiler, Profiler::Create(options));
//   RETURN_IF_ERROR(profiler->Start());
//   ASSIGN_OR_RETURN(ProfileData p, profiler->CollectFor(absl::Seconds(5)));
//   std::string svg = RenderFlamegraphSvg(p);
//
// Phase attribution needs the hooks' BPF object: pass a live BpfTracer's
// thread_phase_map_fd() (the tracer must outlive the profiler, and its
// uprobes must be attached to the profiled binaries). Without it the
// profiler runs standalone and every sample's phase is 0 ("none").
#ifndef RESDB_TRACE_COLLECTOR_PROFILE_PROFILER_H_
#define RESDB_TRACE_COLLECTOR_PROFILE_PROFILER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "collector/profile/cpu_sampler.h"
#include "collector/profile/profile_data.h"
#include "collector/profile/sample_store.h"
#include "collector/profile/symbolizer.h"

namespace resdb_trace::collector::profile {

struct ProfilerOptions {
  // Samples per second per CPU.
  uint32_t frequency_hz = 99;
  // Processes to sample from the start (more with AddPid).
  std::vector<uint32_t> pids;
  // BpfTracer::thread_phase_map_fd() for phase attribution; -1 standalone.
  int thread_phase_map_fd = -1;
  // A phase older than this is reported as "none"; zero: never stale.
  absl::Duration phase_max_age = absl::ZeroDuration();
  // Key samples by thread (pprof "tid" labels); off saves kernel buckets.
  bool per_thread = true;
  // How often the drain thread empties the kernel maps.
  absl::Duration drain_interval = absl::Seconds(1);
  // History kept for Collect: by age and by number of sample buckets.
  absl::Duration retention = absl::Minutes(10);
  size_t max_stored_samples = 1 << 20;
  // In-kernel map sizes (per generation; see bpf/profile.bpf.c).
  uint32_t count_map_entries = 16384;
  uint32_t stack_map_entries = 16384;
  Symbolizer::Options symbolizer;
};

// Cumulative figures since Create.
struct ProfilerCounters {
  // Every sample of a profiled process is in exactly one of `samples` (in
  // the history once drained) and `dropped_samples`.
  uint64_t samples = 0;          // samples counted in the kernel map.
  uint64_t dropped_samples = 0;  // samples lost: count map full.
  // Of `samples`: stacks the kernel could not store, or that were empty.
  uint64_t lost_user_stacks = 0;
  uint64_t lost_kernel_stacks = 0;
  uint64_t empty_user_stacks = 0;
  uint64_t evicted_stacks = 0;    // counts whose stack id had vanished.
  uint64_t truncated_stacks = 0;  // stacks cut at the depth limit.
  uint64_t drains = 0;            // successful drains.
  uint64_t drain_errors = 0;      // failed drains (see last_error).
  uint64_t stored_samples = 0;    // sample buckets in the history now.
  uint64_t evicted_samples = 0;   // buckets aged out of the history.
  uint64_t processes = 0;         // processes being sampled now.
  uint64_t exited_processes = 0;  // sampled processes seen exiting.
  std::string last_error;         // the last drain error, "" if none.
};

class Profiler {
 public:
  // Called while CollectFor waits, with the fraction of the time elapsed.
  using ProgressCallback = std::function<void(double fraction)>;
  // Polled while CollectFor waits (every 50 ms): true ends the wait.
  using CancelCallback = std::function<bool()>;

  // Loads the sampler and adds options.pids. PermissionDenied naming
  // CAP_BPF / CAP_PERFMON; NotFound naming a pid that does not exist.
  static absl::StatusOr<std::unique_ptr<Profiler>> Create(
      const ProfilerOptions& options);

  Profiler(const Profiler&) = delete;
  Profiler& operator=(const Profiler&) = delete;
  // Stops (with a final drain) if running.
  ~Profiler();

  // Starts sampling `pid` and snapshots its mappings for symbolization.
  // NotFound ("pid N does not exist ..." / "... has exited") when it is gone,
  // InvalidArgument for pid 0. Adding a sampled pid again refreshes its
  // mappings.
  absl::Status AddPid(uint32_t pid);
  // Stops sampling `pid`; its stored samples stay queryable, and samples
  // still in the kernel are drained and symbolized first. NotFound when it
  // is not being sampled.
  absl::Status RemovePid(uint32_t pid);
  // Labels `pid` with its replica id (pprof "replica" label, query filter).
  void SetReplicaId(uint32_t pid, uint32_t replica_id);
  // Pids being sampled now, ascending.
  std::vector<uint32_t> pids() const;

  // Opens the perf events and starts the drain thread. Errors name the
  // missing capability. Idempotent.
  absl::Status Start();
  // Detaches, stops the drain thread and drains what is left.
  void Stop();
  bool running() const;

  // Drains now, on the calling thread. Returns the end of the drained
  // interval: samples up to it are in the history.
  absl::StatusOr<absl::Time> Flush();

  // Aggregates the history `query` selects.
  ProfileData Collect(const ProfileQuery& query) const;
  // Samples for `duration` from now, then collects exactly that window
  // (query.start/end are replaced). FailedPrecondition when not running.
  // Cancelled when `cancelled` returns true, Unavailable when Stop() is
  // called meanwhile; either within 50 ms.
  absl::StatusOr<ProfileData> CollectFor(absl::Duration duration,
                                         ProfileQuery query = {},
                                         const ProgressCallback& progress = {},
                                         const CancelCallback& cancelled = {});

  ProfilerCounters counters() const;
  uint32_t frequency_hz() const { return frequency_hz_; }
  // True when phases come from a BpfTracer's thread_phase map.
  bool attributes_phases() const { return sampler_->shares_thread_phase(); }
  const Symbolizer& symbolizer() const { return *symbolizer_; }

 private:
  struct Process {
    ProcessInfo info;
    int pidfd = -1;         // readable once the process has exited.
    bool sampling = false;  // in the kernel allow-list.
    bool forget = false;    // drop the symbols after the next drain.
  };

  Profiler() = default;
  void DrainLoop();
  // One drain: reap exited processes, drain, symbolize, store.
  absl::StatusOr<absl::Time> DrainOnce()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(drain_mu_);
  SymbolizedSample Symbolize(const RawSample& raw);

  uint32_t frequency_hz_ = 0;
  absl::Duration drain_interval_;
  std::string proc_root_;
  std::unique_ptr<CpuSampler> sampler_;
  std::unique_ptr<Symbolizer> symbolizer_;

  // Serializes drains (the thread's and Flush's).
  absl::Mutex drain_mu_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<uint32_t, Process> processes_ ABSL_GUARDED_BY(mu_);
  SampleStore store_ ABSL_GUARDED_BY(mu_);
  ProfilerCounters counters_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace resdb_trace::collector::profile

#endif  // RESDB_TRACE_COLLECTOR_PROFILE_PROFILER_H_
