#include "collector/profile/profiler.h"

#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "collector/profile/proc_maps.h"

namespace resdb_trace::collector::profile {
namespace {

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

int PidfdOpen(uint32_t pid) {
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
}

// A pidfd polls readable once its process has exited.
bool Exited(int pidfd) {
  if (pidfd < 0) return false;
  pollfd pfd{pidfd, POLLIN, 0};
  return poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLIN | POLLHUP)) != 0;
}

std::string ReadComm(const std::string& proc_root, uint32_t pid) {
  absl::StatusOr<std::string> comm =
      ReadSmallFile(absl::StrCat(proc_root, "/", pid, "/comm"));
  if (!comm.ok()) return "";
  return std::string(absl::StripTrailingAsciiWhitespace(*comm));
}

std::string ReadExe(const std::string& proc_root, uint32_t pid) {
  std::string link = absl::StrCat(proc_root, "/", pid, "/exe");
  char buf[PATH_MAX];
  ssize_t n = readlink(link.c_str(), buf, sizeof(buf) - 1);
  if (n <= 0) return "";
  return std::string(buf, static_cast<size_t>(n));
}

bool StackLost(int err) { return err == EEXIST || err == ENOMEM; }

}  // namespace

absl::StatusOr<std::unique_ptr<Profiler>> Profiler::Create(
    const ProfilerOptions& options) {
  if (options.drain_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("drain_interval must be positive");
  }
  CpuSampler::Options sopts;
  sopts.frequency_hz = options.frequency_hz;
  sopts.per_thread = options.per_thread;
  sopts.count_map_entries = options.count_map_entries;
  sopts.stack_map_entries = options.stack_map_entries;
  sopts.thread_phase_map_fd = options.thread_phase_map_fd;
  sopts.phase_max_age = options.phase_max_age;
  absl::StatusOr<std::unique_ptr<CpuSampler>> sampler =
      CpuSampler::Create(sopts);
  if (!sampler.ok()) return sampler.status();

  std::unique_ptr<Profiler> p(new Profiler());
  p->frequency_hz_ = options.frequency_hz;
  p->drain_interval_ = options.drain_interval;
  p->proc_root_ = options.symbolizer.proc_root;
  p->sampler_ = std::move(*sampler);
  p->symbolizer_ = std::make_unique<Symbolizer>(options.symbolizer);
  {
    absl::MutexLock lock(&p->mu_);
    p->store_ = SampleStore(
        SampleStore::Options{options.max_stored_samples, options.retention});
  }
  for (uint32_t pid : options.pids) {
    if (absl::Status s = p->AddPid(pid); !s.ok()) return s;
  }
  return p;
}

Profiler::~Profiler() {
  Stop();
  absl::MutexLock lock(&mu_);
  for (auto& [pid, proc] : processes_) {
    if (proc.pidfd >= 0) close(proc.pidfd);
  }
}

absl::Status Profiler::AddPid(uint32_t pid) {
  if (pid == 0) return absl::InvalidArgumentError("pid 0 cannot be profiled");
  if (absl::Status s = symbolizer_->AddProcess(pid); !s.ok()) {
    if (absl::IsNotFound(s)) {
      return absl::NotFoundError(
          absl::StrCat("cannot profile pid ", pid, ": ", s.message()));
    }
    return absl::Status(
        s.code(), absl::StrCat("cannot profile pid ", pid, ": ", s.message()));
  }
  absl::MutexLock lock(&mu_);
  Process& proc = processes_[pid];
  if (proc.sampling) return absl::OkStatus();  // symbols refreshed above
  if (proc.pidfd >= 0) close(proc.pidfd);
  proc.pidfd = PidfdOpen(pid);
  if (proc.pidfd < 0 && errno == ESRCH) {
    processes_.erase(pid);
    symbolizer_->RemoveProcess(pid);
    return absl::NotFoundError(
        absl::StrCat("cannot profile pid ", pid, ": it has exited"));
  }
  std::optional<uint32_t> replica = proc.info.replica_id;
  proc.info = ProcessInfo{};
  proc.info.pid = pid;
  proc.info.comm = ReadComm(proc_root_, pid);
  proc.info.exe = ReadExe(proc_root_, pid);
  proc.info.replica_id = replica;
  if (absl::Status s = sampler_->AddPid(pid); !s.ok()) {
    if (proc.pidfd >= 0) close(proc.pidfd);
    processes_.erase(pid);
    return s;
  }
  proc.sampling = true;
  proc.forget = false;
  return absl::OkStatus();
}

absl::Status Profiler::RemovePid(uint32_t pid) {
  absl::MutexLock lock(&mu_);
  auto it = processes_.find(pid);
  if (it == processes_.end() || !it->second.sampling) {
    return absl::NotFoundError(
        absl::StrCat("pid ", pid, " is not being profiled"));
  }
  absl::Status s = sampler_->RemovePid(pid);
  if (!s.ok() && !absl::IsNotFound(s)) return s;
  it->second.sampling = false;
  // its last samples are still in the kernel: symbolize them first
  it->second.forget = true;
  return absl::OkStatus();
}

void Profiler::SetReplicaId(uint32_t pid, uint32_t replica_id) {
  absl::MutexLock lock(&mu_);
  Process& proc = processes_[pid];
  proc.info.pid = pid;
  proc.info.replica_id = replica_id;
}

std::vector<uint32_t> Profiler::pids() const {
  absl::MutexLock lock(&mu_);
  std::vector<uint32_t> out;
  for (const auto& [pid, proc] : processes_) {
    if (proc.sampling) out.push_back(pid);
  }
  std::sort(out.begin(), out.end());
  return out;
}

absl::Status Profiler::Start() {
  absl::MutexLock drain_lock(&drain_mu_);
  {
    absl::MutexLock lock(&mu_);
    if (running_) return absl::OkStatus();
  }
  if (absl::Status s = sampler_->Start(); !s.ok()) return s;
  // the first interval starts now, not at Create
  (void)DrainOnce();
  absl::MutexLock lock(&mu_);
  stop_ = false;
  running_ = true;
  thread_ = std::thread([this] { DrainLoop(); });
  return absl::OkStatus();
}

void Profiler::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (!running_) return;
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
  absl::MutexLock drain_lock(&drain_mu_);
  sampler_->Stop();
  (void)DrainOnce();
  absl::MutexLock lock(&mu_);
  running_ = false;
}

bool Profiler::running() const {
  absl::MutexLock lock(&mu_);
  return running_;
}

void Profiler::DrainLoop() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      auto stopping = [this]()
                          ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stop_; };
      mu_.AwaitWithTimeout(absl::Condition(&stopping), drain_interval_);
      if (stop_) return;
    }
    absl::MutexLock drain_lock(&drain_mu_);
    (void)DrainOnce();
  }
}

absl::StatusOr<absl::Time> Profiler::Flush() {
  absl::MutexLock drain_lock(&drain_mu_);
  return DrainOnce();
}

SymbolizedSample Profiler::Symbolize(const RawSample& raw) {
  SymbolizedSample s;
  s.pid = raw.tgid;
  s.tid = raw.tid;
  s.phase = raw.hook_id;
  s.count = raw.count;
  s.frames.reserve(raw.kernel_ips.size() + raw.user_ips.size() + 2);
  for (size_t i = 0; i < raw.kernel_ips.size(); ++i) {
    s.frames.push_back(symbolizer_->SymbolizeKernel(raw.kernel_ips[i], i > 0));
  }
  if (StackLost(raw.kernel_error)) {
    s.frames.push_back(MarkerFrame(kLostKernelStackMarker));
  } else if (raw.kernel_error == ENOENT) {
    s.frames.push_back(MarkerFrame(kEvictedStackMarker));
  }
  // in kernel mode the user stack starts at the syscall's return address
  const bool in_kernel = raw.kernel_error != EFAULT;
  for (size_t i = 0; i < raw.user_ips.size(); ++i) {
    s.frames.push_back(symbolizer_->SymbolizeUser(raw.tgid, raw.user_ips[i],
                                                  i > 0 || in_kernel));
  }
  if (StackLost(raw.user_error)) {
    s.frames.push_back(MarkerFrame(kLostUserStackMarker));
  } else if (raw.user_error == ENOENT) {
    s.frames.push_back(MarkerFrame(kEvictedStackMarker));
  } else if (raw.user_error == EFAULT) {
    s.frames.push_back(MarkerFrame(kNoUserStackMarker));
  } else if (raw.user_ips.size() >= sampler_->max_stack_depth()) {
    s.frames.push_back(MarkerFrame(kTruncatedMarker));
  }
  return s;
}

absl::StatusOr<absl::Time> Profiler::DrainOnce() {
  // processes that exited before the flip have all their samples in it
  std::vector<uint32_t> exited;
  std::vector<uint32_t> forget;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [pid, proc] : processes_) {
      if (proc.sampling && Exited(proc.pidfd)) exited.push_back(pid);
      if (proc.forget) forget.push_back(pid);
    }
  }

  absl::StatusOr<DrainResult> result = sampler_->Drain();
  if (!result.ok()) {
    absl::MutexLock lock(&mu_);
    ++counters_.drain_errors;
    counters_.last_error = std::string(result.status().message());
    return result.status();
  }

  std::vector<SymbolizedSample> samples;
  samples.reserve(result->samples.size());
  uint64_t truncated = 0;
  for (const RawSample& raw : result->samples) {
    samples.push_back(Symbolize(raw));
    if (raw.user_error == 0 &&
        raw.user_ips.size() >= sampler_->max_stack_depth()) {
      truncated += raw.count;
    }
  }
  for (uint32_t pid : forget) symbolizer_->RemoveProcess(pid);
  for (uint32_t pid : exited) {
    (void)sampler_->RemovePid(pid);  // its pid may be reused
    symbolizer_->RemoveProcess(pid);
  }

  absl::MutexLock lock(&mu_);
  store_.Append(result->start, result->end, samples,
                result->counters.counts_full);
  const SamplerCounters& c = result->counters;
  counters_.samples += c.samples;
  counters_.lost_user_stacks += c.user_stacks_lost;
  counters_.lost_kernel_stacks += c.kernel_stacks_lost;
  counters_.empty_user_stacks += c.user_stacks_empty;
  counters_.dropped_samples += c.counts_full;
  counters_.evicted_stacks += c.stacks_evicted;
  counters_.truncated_stacks += truncated;
  ++counters_.drains;
  for (uint32_t pid : forget) {
    auto it = processes_.find(pid);
    if (it != processes_.end() && !it->second.sampling) {
      it->second.forget = false;
      if (it->second.pidfd >= 0) close(it->second.pidfd);
      it->second.pidfd = -1;
    }
  }
  for (uint32_t pid : exited) {
    auto it = processes_.find(pid);
    if (it == processes_.end()) continue;
    it->second.sampling = false;
    it->second.info.exited = true;
    if (it->second.pidfd >= 0) close(it->second.pidfd);
    it->second.pidfd = -1;
    ++counters_.exited_processes;
  }
  return result->end;
}

ProfileData Profiler::Collect(const ProfileQuery& query) const {
  std::optional<absl::flat_hash_set<uint32_t>> pids;
  std::optional<absl::flat_hash_set<uint32_t>> phases;
  if (!query.phases.empty()) {
    phases.emplace(query.phases.begin(), query.phases.end());
  }
  absl::MutexLock lock(&mu_);
  if (!query.pids.empty()) pids.emplace(query.pids.begin(), query.pids.end());
  if (!query.replica_ids.empty()) {
    absl::flat_hash_set<uint32_t> replicas(query.replica_ids.begin(),
                                           query.replica_ids.end());
    absl::flat_hash_set<uint32_t> by_replica;
    for (const auto& [pid, proc] : processes_) {
      if (proc.info.replica_id && replicas.contains(*proc.info.replica_id) &&
          (!pids || pids->contains(pid))) {
        by_replica.insert(pid);
      }
    }
    pids = std::move(by_replica);
  }
  const absl::Time start = query.last > absl::ZeroDuration()
                               ? absl::Now() - query.last
                               : query.start;
  ProfileData data = store_.Query(start, query.end, pids, phases);
  data.frequency_hz = frequency_hz_;
  for (const ProfileSample& s : data.samples) {
    if (data.processes.count(s.pid) != 0) continue;
    auto it = processes_.find(s.pid);
    ProcessInfo info;
    if (it != processes_.end()) info = it->second.info;
    info.pid = s.pid;
    data.processes[s.pid] = std::move(info);
  }
  return data;
}

absl::StatusOr<ProfileData> Profiler::CollectFor(
    absl::Duration duration, ProfileQuery query,
    const ProgressCallback& progress, const CancelCallback& cancelled) {
  if (!running()) {
    return absl::FailedPreconditionError(
        "the profiler is not running: call Start first");
  }
  if (duration <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("the sampling duration must be positive");
  }
  absl::StatusOr<absl::Time> start = Flush();
  if (!start.ok()) return start.status();
  const absl::Time deadline = *start + duration;
  for (absl::Time now = absl::Now(); now < deadline; now = absl::Now()) {
    if (progress) progress(absl::FDivDuration(now - *start, duration));
    if (cancelled && cancelled()) {
      return absl::CancelledError("profile cancelled while sampling");
    }
    if (!running()) {
      return absl::UnavailableError(
          "the profiler stopped while sampling (collector shutting down)");
    }
    absl::SleepFor(std::min(absl::Milliseconds(50), deadline - now));
  }
  absl::StatusOr<absl::Time> end = Flush();
  if (!end.ok()) return end.status();
  if (progress) progress(1.0);
  query.start = *start;
  query.end = *end;
  return Collect(query);
}

ProfilerCounters Profiler::counters() const {
  absl::MutexLock lock(&mu_);
  ProfilerCounters c = counters_;
  c.stored_samples = store_.stored_samples();
  c.evicted_samples = store_.evicted_samples();
  uint64_t sampling = 0;
  for (const auto& [pid, proc] : processes_) sampling += proc.sampling ? 1 : 0;
  c.processes = sampling;
  return c;
}

}  // namespace resdb_trace::collector::profile
