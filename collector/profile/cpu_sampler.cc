#include "collector/profile/cpu_sampler.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "bpf/profile.skel.h"
#include "bpf/profile_record.h"
#include "bpf/trace_record.h"
#include "collector/ingest/libbpf_util.h"
#include "collector/profile/proc_maps.h"

namespace resdb_trace::collector::profile {
namespace {

constexpr char kCapabilityHelp[] =
    "CPU profiling loads a BPF program and opens system-wide perf events: it "
    "needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN); run as root or grant "
    "them with `setcap cap_bpf,cap_perfmon+ep <binary>`";

uint32_t MaxSampleRate() {
  absl::StatusOr<std::string> text =
      ReadSmallFile("/proc/sys/kernel/perf_event_max_sample_rate");
  uint32_t rate = 0;
  if (text.ok() && absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &rate) &&
      rate > 0) {
    return rate;
  }
  return 100000;  // the kernel's default
}

// The kernel stops a callchain at kernel.perf_event_max_stack frames.
size_t MaxStackDepth() {
  absl::StatusOr<std::string> text =
      ReadSmallFile("/proc/sys/kernel/perf_event_max_stack");
  size_t depth = 0;
  if (text.ok() &&
      absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &depth) &&
      depth > 0) {
    return std::min<size_t>(depth, RESDB_PROFILE_MAX_STACK_DEPTH);
  }
  return RESDB_PROFILE_MAX_STACK_DEPTH;
}

// Parses a cpu list such as "0-3,8,10-11".
absl::StatusOr<std::vector<int>> OnlineCpus() {
  const char kPath[] = "/sys/devices/system/cpu/online";
  absl::StatusOr<std::string> text = ReadSmallFile(kPath);
  if (!text.ok()) return text.status();
  std::vector<int> cpus;
  for (absl::string_view part : absl::StrSplit(
           absl::StripAsciiWhitespace(*text), ',', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> range =
        absl::StrSplit(part, absl::MaxSplits('-', 1));
    int lo = 0;
    int hi = 0;
    if (!absl::SimpleAtoi(range.first, &lo)) {
      return absl::InternalError(
          absl::StrCat("cannot parse ", kPath, ": '", *text, "'"));
    }
    hi = lo;
    if (!range.second.empty() && !absl::SimpleAtoi(range.second, &hi)) {
      return absl::InternalError(
          absl::StrCat("cannot parse ", kPath, ": '", *text, "'"));
    }
    for (int c = lo; c <= hi && c < 65536; ++c) cpus.push_back(c);
  }
  if (cpus.empty()) {
    return absl::InternalError(absl::StrCat(kPath, " lists no cpu"));
  }
  return cpus;
}

int PerfEventOpen(perf_event_attr* attr, int cpu) {
  return static_cast<int>(
      syscall(SYS_perf_event_open, attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC));
}

// Keys of every entry of map `fd` (nobody writes it meanwhile).
template <typename Key>
std::vector<Key> AllKeys(int fd) {
  std::vector<Key> keys;
  Key key{};
  Key next{};
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    keys.push_back(next);
    key = next;
    prev = &key;
  }
  return keys;
}

}  // namespace

SamplerCounters& SamplerCounters::operator-=(const SamplerCounters& o) {
  samples -= o.samples;
  user_stacks_lost -= o.user_stacks_lost;
  kernel_stacks_lost -= o.kernel_stacks_lost;
  user_stacks_empty -= o.user_stacks_empty;
  counts_full -= o.counts_full;
  stacks_evicted -= o.stacks_evicted;
  return *this;
}

absl::StatusOr<std::unique_ptr<CpuSampler>> CpuSampler::Create(
    const Options& options) {
  const uint32_t max_rate = MaxSampleRate();
  if (options.frequency_hz == 0 || options.frequency_hz > max_rate) {
    return absl::InvalidArgumentError(
        absl::StrFormat("sampling frequency %d Hz must be in [1, %d] "
                        "(kernel.perf_event_max_sample_rate)",
                        options.frequency_hz, max_rate));
  }
  if (options.count_map_entries == 0 || options.stack_map_entries == 0) {
    return absl::InvalidArgumentError(
        "count and stack map sizes must be positive");
  }
  if (options.phase_max_age < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("phase_max_age must not be negative");
  }
  if (absl::Status s = CheckBpfCapabilities(kCapabilityHelp); !s.ok()) {
    return s;
  }

  std::unique_ptr<CpuSampler> sampler(new CpuSampler());
  sampler->frequency_hz_ = options.frequency_hz;
  sampler->max_stack_depth_ = MaxStackDepth();
  sampler->flip_grace_ = options.flip_grace;

  sampler->skel_ =
      SkeletonPtr<profile_bpf>(profile_bpf__open(), &profile_bpf__destroy);
  if (!sampler->skel_) {
    int err = errno;
    return absl::InternalError(
        absl::StrCat("cannot open the profile BPF object: ", ErrnoText(err)));
  }
  profile_bpf* skel = sampler->skel_.get();
  skel->rodata->per_thread = options.per_thread;
  skel->rodata->phase_max_age_ns =
      static_cast<__u64>(absl::ToInt64Nanoseconds(options.phase_max_age));
  for (bpf_map* m : {skel->maps.counts_0, skel->maps.counts_1}) {
    if (int err = bpf_map__set_max_entries(m, options.count_map_entries)) {
      return absl::InternalError(
          absl::StrCat("cannot size the count maps: ", ErrnoText(-err)));
    }
  }
  for (bpf_map* m : {skel->maps.stacks_0, skel->maps.stacks_1}) {
    if (int err = bpf_map__set_max_entries(m, options.stack_map_entries)) {
      return absl::InternalError(
          absl::StrCat("cannot size the stack maps: ", ErrnoText(-err)));
    }
  }
  if (options.thread_phase_map_fd >= 0) {
    bpf_map_info info;
    memset(&info, 0, sizeof(info));
    __u32 len = sizeof(info);
    if (bpf_obj_get_info_by_fd(options.thread_phase_map_fd, &info, &len) != 0) {
      int err = errno;
      return absl::InvalidArgumentError(
          absl::StrCat("thread_phase map fd ", options.thread_phase_map_fd,
                       " is not a BPF map: ", ErrnoText(err)));
    }
    if (info.type != BPF_MAP_TYPE_LRU_HASH || info.key_size != 4 ||
        info.value_size != sizeof(resdb_trace_thread_phase) ||
        info.max_entries != RESDB_TRACE_THREAD_PHASE_ENTRIES) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "thread_phase map fd %d does not match bpf/trace_record.h (type %d, "
          "key %d, value %d, %d entries); pass "
          "BpfTracer::thread_phase_map_fd()",
          options.thread_phase_map_fd, info.type, info.key_size,
          info.value_size, info.max_entries));
    }
    if (int err = bpf_map__reuse_fd(skel->maps.thread_phase,
                                    options.thread_phase_map_fd)) {
      return absl::InternalError(
          absl::StrCat("cannot share the thread_phase map: ", ErrnoText(-err)));
    }
    sampler->shares_thread_phase_ = true;
  } else {
    // standalone: nothing writes it, every lookup misses
    if (int err = bpf_map__set_max_entries(skel->maps.thread_phase, 1)) {
      return absl::InternalError(
          absl::StrCat("cannot size the thread_phase map: ", ErrnoText(-err)));
    }
  }

  if (int err = profile_bpf__load(skel); err != 0) {
    return BpfLoadError(err, "profile", kCapabilityHelp);
  }

  absl::StatusOr<int> cpus = PossibleCpus();
  if (!cpus.ok()) return cpus.status();
  sampler->num_cpus_ = *cpus;
  sampler->last_flip_ = absl::Now();
  return sampler;
}

CpuSampler::~CpuSampler() {
  Stop();
  skel_.reset();
}

absl::Status CpuSampler::Start() {
  if (running()) return absl::OkStatus();
  absl::StatusOr<std::vector<int>> cpus = OnlineCpus();
  if (!cpus.ok()) return cpus.status();

  std::vector<BpfLinkPtr> links;
  for (int cpu : *cpus) {
    perf_event_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.size = sizeof(attr);
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_CPU_CLOCK;
    attr.freq = 1;
    attr.sample_freq = frequency_hz_;
    int fd = PerfEventOpen(&attr, cpu);
    if (fd < 0) {
      int err = errno;
      if (err == ENODEV) continue;  // went offline since we listed it
      if (err == EACCES || err == EPERM) {
        return absl::PermissionDeniedError(absl::StrCat(
            "cannot open a cpu-clock perf event on cpu ", cpu, ": ",
            ErrnoText(err),
            "; system-wide perf events need CAP_PERFMON (or CAP_SYS_ADMIN, "
            "or kernel.perf_event_paranoid <= 0)"));
      }
      if (err == EINVAL) {
        return absl::InvalidArgumentError(absl::StrCat(
            "the kernel rejected a cpu-clock perf event at ", frequency_hz_,
            " Hz on cpu ", cpu, ": ", ErrnoText(err),
            " (check kernel.perf_event_max_sample_rate)"));
      }
      if (err == ENOENT || err == EOPNOTSUPP) {
        return absl::UnimplementedError(
            absl::StrCat("this kernel has no software cpu-clock perf event: ",
                         ErrnoText(err)));
      }
      return absl::InternalError(
          absl::StrCat("cannot open a cpu-clock perf event on cpu ", cpu, ": ",
                       ErrnoText(err)));
    }
    bpf_link* link =
        bpf_program__attach_perf_event(skel_->progs.resdb_profile_sample, fd);
    if (link == nullptr) {
      int err = errno;
      close(fd);
      return absl::InternalError(absl::StrCat(
          "cannot attach the profile program to the perf event on cpu ", cpu,
          ": ", ErrnoText(err)));
    }
    links.emplace_back(link);
  }
  if (links.empty()) {
    return absl::InternalError("no online cpu accepted a perf event");
  }
  links_ = std::move(links);
  return absl::OkStatus();
}

void CpuSampler::Stop() { links_.clear(); }

absl::Status CpuSampler::AddPid(uint32_t tgid) {
  if (tgid == 0) return absl::InvalidArgumentError("pid 0 cannot be sampled");
  uint8_t one = 1;
  if (int err = bpf_map__update_elem(skel_->maps.tgids, &tgid, sizeof(tgid),
                                     &one, sizeof(one), BPF_ANY);
      err != 0) {
    if (err == -E2BIG || err == -ENOMEM) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "cannot sample pid ", tgid, ": the allow-list of ",
          bpf_map__max_entries(skel_->maps.tgids), " processes is full"));
    }
    return absl::InternalError(absl::StrCat(
        "cannot add pid ", tgid, " to the allow-list: ", ErrnoText(-err)));
  }
  return absl::OkStatus();
}

absl::Status CpuSampler::RemovePid(uint32_t tgid) {
  if (int err = bpf_map__delete_elem(skel_->maps.tgids, &tgid, sizeof(tgid), 0);
      err != 0) {
    if (err == -ENOENT) {
      return absl::NotFoundError(
          absl::StrCat("pid ", tgid, " is not being sampled"));
    }
    return absl::InternalError(absl::StrCat(
        "cannot remove pid ", tgid, " from the allow-list: ", ErrnoText(-err)));
  }
  return absl::OkStatus();
}

absl::StatusOr<DrainResult> CpuSampler::Drain() {
  const uint32_t old =
      __atomic_load_n(&skel_->bss->active_slot, __ATOMIC_RELAXED) & 1;
  __atomic_store_n(&skel_->bss->active_slot, old ^ 1, __ATOMIC_SEQ_CST);
  DrainResult out;
  out.start = last_flip_;
  out.end = absl::Now();
  last_flip_ = out.end;
  // programs that read the old slot before the flip are done long before
  // this (they run with interrupts off, for microseconds)
  absl::SleepFor(flip_grace_);

  const int counts_fd =
      bpf_map__fd(old ? skel_->maps.counts_1 : skel_->maps.counts_0);
  const int stacks_fd =
      bpf_map__fd(old ? skel_->maps.stacks_1 : skel_->maps.stacks_0);

  std::vector<resdb_profile_key> keys = AllKeys<resdb_profile_key>(counts_fd);
  out.samples.reserve(keys.size());
  absl::flat_hash_map<int32_t, std::vector<uint64_t>> stacks;
  absl::flat_hash_map<int32_t, bool> missing;
  std::vector<uint64_t> ips(RESDB_PROFILE_MAX_STACK_DEPTH);
  auto stack = [&](int32_t id, std::vector<uint64_t>* dst) -> bool {
    if (auto it = stacks.find(id); it != stacks.end()) {
      *dst = it->second;
      return true;
    }
    if (missing.contains(id)) return false;
    std::fill(ips.begin(), ips.end(), 0);
    if (bpf_map_lookup_elem(stacks_fd, &id, ips.data()) != 0) {
      missing[id] = true;
      return false;
    }
    size_t n = 0;
    while (n < ips.size() && ips[n] != 0) ++n;
    std::vector<uint64_t>& cached = stacks[id];
    cached.assign(ips.begin(), ips.begin() + n);
    *dst = cached;
    return true;
  };

  uint64_t evicted = 0;
  for (const resdb_profile_key& key : keys) {
    uint64_t count = 0;
    if (bpf_map_lookup_elem(counts_fd, &key, &count) != 0) continue;
    bpf_map_delete_elem(counts_fd, &key);
    if (count == 0) continue;
    RawSample s;
    s.tgid = key.tgid;
    s.tid = key.tid;
    s.hook_id = key.hook_id;
    s.count = count;
    if (key.user_stack_id >= 0) {
      if (!stack(key.user_stack_id, &s.user_ips)) {
        s.user_error = ENOENT;
        evicted += count;
      }
    } else {
      s.user_error = -key.user_stack_id;
    }
    if (key.kernel_stack_id >= 0) {
      if (!stack(key.kernel_stack_id, &s.kernel_ips)) {
        s.kernel_error = ENOENT;
        evicted += count;
      }
    } else {
      s.kernel_error = -key.kernel_stack_id;
    }
    out.samples.push_back(std::move(s));
  }
  // the next use of this generation starts from an empty stack map
  for (uint32_t id : AllKeys<uint32_t>(stacks_fd)) {
    bpf_map_delete_elem(stacks_fd, &id);
  }

  stacks_evicted_.fetch_add(evicted, std::memory_order_relaxed);
  SamplerCounters now = ReadCounters();
  out.counters = now;
  out.counters -= last_counters_;
  last_counters_ = now;
  return out;
}

SamplerCounters CpuSampler::ReadCounters() const {
  SamplerCounters c;
  c.stacks_evicted = stacks_evicted_.load(std::memory_order_relaxed);
  std::vector<uint64_t> values(num_cpus_);
  for (uint32_t key = 0; key < RESDB_PROFILE_CTR_COUNT; ++key) {
    // an unreadable counter reads as zero: the drain still returns samples
    absl::StatusOr<uint64_t> total =
        SumPerCpu(skel_->maps.profile_counters, key, &values);
    if (!total.ok()) continue;
    const uint64_t sum = *total;
    switch (key) {
      case RESDB_PROFILE_CTR_SAMPLES:
        c.samples = sum;
        break;
      case RESDB_PROFILE_CTR_USER_STACK_LOST:
        c.user_stacks_lost = sum;
        break;
      case RESDB_PROFILE_CTR_KERNEL_STACK_LOST:
        c.kernel_stacks_lost = sum;
        break;
      case RESDB_PROFILE_CTR_USER_STACK_EMPTY:
        c.user_stacks_empty = sum;
        break;
      case RESDB_PROFILE_CTR_COUNTS_FULL:
        c.counts_full = sum;
        break;
    }
  }
  return c;
}

}  // namespace resdb_trace::collector::profile
