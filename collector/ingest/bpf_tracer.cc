#include "collector/ingest/bpf_tracer.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bpf/hooks.skel.h"
#include "collector/ingest/elf_binary.h"
#include "collector/ingest/libbpf_util.h"
#include "lib/status_macros.h"

namespace resdb_trace::collector {
namespace {

constexpr char kCapabilityHelp[] =
    "loading the resdb_trace BPF program needs CAP_BPF and CAP_PERFMON (or "
    "CAP_SYS_ADMIN): run the collector as root or grant them with `setcap "
    "cap_bpf,cap_perfmon+ep <binary>`";

bool IsPowerOfTwo(size_t v) { return v != 0 && (v & (v - 1)) == 0; }

}  // namespace

absl::Status CheckRecordVersion(const hooks_bpf& skel) {
  const uint32_t version = skel.rodata->record_version;
  if (version == RESDB_TRACE_RECORD_VERSION) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "the hooks BPF object writes ring-buffer records of layout version ",
      version, ", this collector decodes version ", RESDB_TRACE_RECORD_VERSION,
      ": build bpf/hooks.bpf.c and the collector from the same tree"));
}

int AttachReport::attached_count() const {
  return static_cast<int>(
      std::count_if(hooks.begin(), hooks.end(), [](const HookAttachResult& h) {
        return h.state == HookAttachState::kAttached;
      }));
}

int AttachReport::missing_count() const {
  return static_cast<int>(
      std::count_if(hooks.begin(), hooks.end(), [](const HookAttachResult& h) {
        return h.state == HookAttachState::kMissingSymbol;
      }));
}

int AttachReport::error_count() const {
  return static_cast<int>(
      std::count_if(hooks.begin(), hooks.end(), [](const HookAttachResult& h) {
        return h.state == HookAttachState::kAttachError;
      }));
}

std::string AttachReport::Summary() const {
  std::string out = absl::StrFormat(
      "%s (pid %d): %d attached, %d missing, %d failed", binary_path, pid,
      attached_count(), missing_count(), error_count());
  for (const HookAttachResult& h : hooks) {
    if (h.state == HookAttachState::kMissingSymbol) {
      absl::StrAppend(&out, "\n  missing symbol ", h.symbol);
    } else if (h.state == HookAttachState::kAttachError) {
      absl::StrAppend(&out, "\n  cannot attach ", h.symbol, ": ", h.error);
    }
  }
  return out;
}

absl::StatusOr<std::unique_ptr<BpfTracer>> BpfTracer::Create(
    const Options& options) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  if (!IsPowerOfTwo(options.ringbuf_bytes) || options.ringbuf_bytes < page) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "ring buffer size %u must be a power of two and at least one page "
        "(%u bytes)",
        options.ringbuf_bytes, page));
  }
  if (!(options.wakeup_fraction > 0.0 && options.wakeup_fraction <= 1.0)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "wakeup fraction %g must be in (0, 1]", options.wakeup_fraction));
  }
  if (options.max_records_per_poll < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("max records per poll %d must be at least 1",
                        options.max_records_per_poll));
  }
  RETURN_IF_ERROR(CheckBpfCapabilities(kCapabilityHelp));

  if (options.logger) {
    SetLibbpfLogger(options.logger);
  } else {
    RouteLibbpfPrint();
  }

  std::unique_ptr<BpfTracer> tracer(new BpfTracer());
  tracer->ringbuf_bytes_ = options.ringbuf_bytes;
  tracer->max_records_per_poll_ = options.max_records_per_poll;
  tracer->filter_pids_ = options.filter_pids || !options.pid_filter.empty();

  tracer->skel_ =
      SkeletonPtr<hooks_bpf>(hooks_bpf__open(), &hooks_bpf__destroy);
  if (!tracer->skel_) {
    int err = errno;
    return absl::InternalError(
        absl::StrCat("cannot open the hooks BPF object: ", ErrnoText(err)));
  }
  hooks_bpf* skel = tracer->skel_.get();
  RETURN_IF_ERROR(CheckRecordVersion(*skel));
  skel->rodata->wakeup_bytes = std::max<uint64_t>(
      1,
      static_cast<uint64_t>(options.ringbuf_bytes * options.wakeup_fraction));
  skel->rodata->filter_pids = tracer->filter_pids_;
  tracer->track_thread_phase_ = options.track_thread_phase;
  skel->rodata->track_phase = options.track_thread_phase;
  if (int err = bpf_map__set_max_entries(
          skel->maps.rb, static_cast<__u32>(options.ringbuf_bytes));
      err != 0) {
    return absl::InternalError(absl::StrCat("cannot size the ring buffer to ",
                                            options.ringbuf_bytes,
                                            " bytes: ", ErrnoText(-err)));
  }

  if (int err = hooks_bpf__load(skel); err != 0) {
    return BpfLoadError(err, "hooks", kCapabilityHelp);
  }

  for (uint32_t tgid : options.pid_filter) {
    RETURN_IF_ERROR(tracer->AddPid(tgid));
  }

  tracer->rb_.reset(ring_buffer__new(bpf_map__fd(skel->maps.rb),
                                     &BpfTracer::HandleSample, tracer.get(),
                                     nullptr));
  if (!tracer->rb_) {
    int err = errno;
    return absl::InternalError(
        absl::StrCat("cannot map the ring buffer: ", ErrnoText(err)));
  }

  // consumer_pos at the start of page 0, producer_pos at the start of page
  // 1 (the kernel's ring-buffer mmap layout); read-only is always allowed
  tracer->page_bytes_ = page;
  tracer->ring_positions_ = mmap(nullptr, 2 * page, PROT_READ, MAP_SHARED,
                                 bpf_map__fd(skel->maps.rb), 0);
  if (tracer->ring_positions_ == MAP_FAILED) {
    int err = errno;
    return absl::InternalError(absl::StrCat(
        "cannot map the ring buffer's positions: ", ErrnoText(err)));
  }

  ASSIGN_OR_RETURN(tracer->num_cpus_, PossibleCpus());
  return tracer;
}

BpfTracer::~BpfTracer() {
  // links first: they hold the program, which the skeleton owns
  attachments_.clear();
  if (ring_positions_ != nullptr && ring_positions_ != MAP_FAILED) {
    munmap(ring_positions_, 2 * page_bytes_);
  }
  rb_.reset();
  skel_.reset();
}

absl::StatusOr<AttachReport> BpfTracer::AttachBinary(
    const std::string& path, int pid, const std::vector<uint32_t>& hook_ids) {
  ASSIGN_OR_RETURN(ElfBinary elf, ElfBinary::Open(path));

  std::vector<uint32_t> ids = hook_ids;
  if (ids.empty()) {
    for (const HookLocation& h : elf.hooks()) ids.push_back(h.id);
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());

  AttachReport report;
  report.binary_path = path;
  report.pid = pid;
  report.build_id = elf.build_id();
  report.has_semaphores = elf.semaphores().has_value();

  for (uint32_t id : ids) {
    const HookLocation* hook = elf.FindHook(id);
    if (hook == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("hook id ", id, " is not in the catalogue"));
    }
    HookAttachResult result;
    result.hook_id = id;
    result.symbol = hook->symbol;
    if (!hook->present) {
      result.state = HookAttachState::kMissingSymbol;
      report.hooks.push_back(std::move(result));
      continue;
    }
    result.func_offset = hook->file_offset;
    if (elf.semaphores()) {
      result.ref_ctr_offset = elf.semaphores()->SlotFileOffset(id).value_or(0);
    }

    bpf_uprobe_opts opts;
    memset(&opts, 0, sizeof(opts));
    opts.sz = sizeof(opts);
    opts.ref_ctr_offset = result.ref_ctr_offset;
    opts.bpf_cookie = id;
    opts.retprobe = false;
    errno = 0;
    bpf_link* link =
        bpf_program__attach_uprobe_opts(skel_->progs.resdb_trace_hook, pid,
                                        path.c_str(), hook->file_offset, &opts);
    if (link == nullptr) {
      int err = errno != 0 ? errno : EINVAL;
      result.state = HookAttachState::kAttachError;
      result.error = absl::StrFormat(
          "uprobe at %s+0x%x (ref_ctr 0x%x, pid %d): %s", path,
          hook->file_offset, result.ref_ctr_offset, pid, ErrnoText(err));
      report.hooks.push_back(std::move(result));
      continue;
    }
    attachments_.push_back(Attachment{path, pid, id, BpfLinkPtr(link)});
    result.state = HookAttachState::kAttached;
    report.hooks.push_back(std::move(result));
  }
  return report;
}

int BpfTracer::DetachBinary(const std::string& path, int pid) {
  auto it = std::remove_if(
      attachments_.begin(), attachments_.end(),
      [&](const Attachment& a) { return a.path == path && a.pid == pid; });
  int n = static_cast<int>(attachments_.end() - it);
  attachments_.erase(it, attachments_.end());
  return n;
}

void BpfTracer::DetachAll() { attachments_.clear(); }

size_t BpfTracer::attached_link_count() const { return attachments_.size(); }

int BpfTracer::thread_phase_map_fd() const {
  return bpf_map__fd(skel_->maps.thread_phase);
}

namespace {
// HandleSample's "budget spent": libbpf has consumed the record, stores the
// consumer position and returns this from ring_buffer__poll/__consume. No
// libbpf ring-buffer path returns -ECANCELED itself.
constexpr int kBudgetSpent = -ECANCELED;
}  // namespace

int BpfTracer::HandleSample(void* ctx, void* data, size_t size) {
  auto* self = static_cast<BpfTracer*>(ctx);
  const bool last = ++self->seen_ >= self->max_records_per_poll_;
  if (size != sizeof(resdb_trace_record)) {
    self->malformed_.fetch_add(1, std::memory_order_relaxed);
    return last ? kBudgetSpent : 0;
  }
  resdb_trace_record rec;
  // ring-buffer samples are 8-byte aligned, but a copy costs nothing here
  memcpy(&rec, data, sizeof(rec));
  self->consumed_.fetch_add(1, std::memory_order_relaxed);
  ++self->delivered_;
  if (self->callback_ != nullptr) (*self->callback_)(rec);
  return last ? kBudgetSpent : 0;
}

absl::StatusOr<int> BpfTracer::Poll(int timeout_ms,
                                    const RecordCallback& callback) {
  callback_ = &callback;
  delivered_ = 0;
  seen_ = 0;
  int err = ring_buffer__poll(rb_.get(), timeout_ms);
  if (err >= 0 || err == -EINTR) {
    // wakeups are batched: pick up whatever did not wake us
    err = ring_buffer__consume(rb_.get());
  }
  if (err == kBudgetSpent) err = 0;
  callback_ = nullptr;
  if (err < 0 && err != -EINTR) {
    return absl::InternalError(
        absl::StrCat("cannot read the ring buffer: ", ErrnoText(-err)));
  }
  return delivered_;
}

Counters BpfTracer::ReadCounters() const {
  Counters c;
  // consumer position before consumed_: the reader bumps consumed_ before it
  // advances the position, so a concurrent Poll can only make `emitted`
  // one record high, never low
  const auto* base = static_cast<const uint8_t*>(ring_positions_);
  const uint64_t cons = __atomic_load_n(reinterpret_cast<const uint64_t*>(base),
                                        __ATOMIC_ACQUIRE);
  c.consumed = consumed_.load(std::memory_order_acquire);
  const uint64_t prod = __atomic_load_n(
      reinterpret_cast<const uint64_t*>(base + page_bytes_), __ATOMIC_ACQUIRE);
  c.emitted = c.consumed + (prod - cons) / RESDB_TRACE_RINGBUF_SLOT_BYTES;
  c.malformed = malformed_.load(std::memory_order_relaxed);
  c.ringbuf_full_per_cpu.assign(num_cpus_, 0);
  std::vector<uint64_t> values(num_cpus_);
  for (uint32_t key = 0; key < RESDB_TRACE_CTR_COUNT; ++key) {
    // an unreadable counter reads as zero: the stats keep flowing
    absl::StatusOr<uint64_t> sum =
        SumPerCpu(skel_->maps.counters, key, &values);
    if (!sum.ok()) continue;
    switch (key) {
      case RESDB_TRACE_CTR_RINGBUF_FULL:
        c.ringbuf_full = *sum;
        c.ringbuf_full_per_cpu = values;
        break;
      case RESDB_TRACE_CTR_FILTERED:
        c.filtered = *sum;
        break;
    }
  }
  return c;
}

absl::Status BpfTracer::AddPid(uint32_t tgid) {
  uint8_t one = 1;
  if (int err = bpf_map__update_elem(skel_->maps.pid_filter, &tgid,
                                     sizeof(tgid), &one, sizeof(one), BPF_ANY);
      err != 0) {
    return absl::InternalError(absl::StrCat(
        "cannot add pid ", tgid, " to the allow-list: ", ErrnoText(-err)));
  }
  return absl::OkStatus();
}

absl::Status BpfTracer::RemovePid(uint32_t tgid) {
  if (int err =
          bpf_map__delete_elem(skel_->maps.pid_filter, &tgid, sizeof(tgid), 0);
      err != 0) {
    if (err == -ENOENT) {
      return absl::NotFoundError(
          absl::StrCat("pid ", tgid, " is not in the allow-list"));
    }
    return absl::InternalError(absl::StrCat(
        "cannot remove pid ", tgid, " from the allow-list: ", ErrnoText(-err)));
  }
  return absl::OkStatus();
}

}  // namespace resdb_trace::collector
