// SPDX-License-Identifier: (BSD-2-Clause OR GPL-2.0)
/*
 * One uprobe program serves every resdb_trace hook: the hook id arrives as
 * the attach cookie, the six argument registers are copied verbatim and the
 * collector decodes them by id. Nothing here reads user memory.
 */
/* vmlinux.h must come first: the libbpf headers use its types */
/* clang-format off */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
/* clang-format on */

#include "bpf/common.bpf.h"
#include "bpf/trace_record.h"

/* libbpf 1.1's bpf_tracing.h stops at the fifth argument */
#ifndef PT_REGS_PARM6
#if defined(__TARGET_ARCH_x86)
#define PT_REGS_PARM6(x) (__PT_REGS_CAST(x)->r9)
#else
#error "PT_REGS_PARM6 is only defined for x86_64 here"
#endif
#endif

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* set by the loader before load; bytes of unread data that force a wakeup */
const volatile __u64 wakeup_bytes = 0;
/* set by the loader: consult pid_filter only when true */
const volatile bool filter_pids = false;
/*
 * set by the loader only while the cpu profiler runs: the thread_phase
 * update is the costliest step of a hit (an lru hash update, ~150-200 ns)
 * and nothing else reads the map
 */
const volatile bool track_phase = false;

/*
 * the record layout this object writes; BpfTracer refuses to load an object
 * whose value differs from the RESDB_TRACE_RECORD_VERSION it decodes
 */
const volatile __u32 record_version = RESDB_TRACE_RECORD_VERSION;

/*
 * never read: makes clang emit the record's BTF, which a test compares with
 * the collector's view of trace_record.h (rodata, so no extra map)
 */
struct resdb_trace_record *const volatile record_btf_anchor = 0;

/* the loader sets the size with bpf_map__set_max_entries before load */
struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 256 * 1024);
} rb SEC(".maps");

/* per-cpu so hot paths never contend; the collector sums them */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, RESDB_TRACE_CTR_COUNT);
  __type(key, __u32);
  __type(value, __u64);
} counters SEC(".maps");

/* allow-list of tgids, used only when filter_pids is set */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024);
  __type(key, __u32);
  __type(value, __u8);
} pid_filter SEC(".maps");

SEC("uprobe")
int resdb_trace_hook(struct pt_regs *ctx) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u32 tgid = pid_tgid >> 32;
  __u32 tid = (__u32)pid_tgid;
  __u64 now = bpf_ktime_get_ns();
  __u32 hook_id = (__u32)bpf_get_attach_cookie(ctx);
  struct resdb_trace_thread_phase phase = {};
  struct resdb_trace_record *rec;
  __u64 flags = BPF_RB_NO_WAKEUP;

  if (filter_pids && !bpf_map_lookup_elem(&pid_filter, &tgid)) {
    count(&counters, RESDB_TRACE_CTR_FILTERED);
    return 0;
  }

  /* the phase is kept even when the ring buffer is full */
  if (track_phase) {
    phase.hook_id = hook_id;
    phase.seq = PT_REGS_PARM2(ctx);
    phase.since_ns = now;
    bpf_map_update_elem(&thread_phase, &tid, &phase, BPF_ANY);
  }

  rec = bpf_ringbuf_reserve(&rb, sizeof(*rec), 0);
  if (!rec) {
    count(&counters, RESDB_TRACE_CTR_RINGBUF_FULL);
    return 0;
  }
  rec->ktime_ns = now;
  rec->pid = tgid;
  rec->tid = tid;
  rec->cpu = bpf_get_smp_processor_id();
  rec->hook_id = hook_id;
  rec->args[0] = PT_REGS_PARM1(ctx);
  rec->args[1] = PT_REGS_PARM2(ctx);
  rec->args[2] = PT_REGS_PARM3(ctx);
  rec->args[3] = PT_REGS_PARM4(ctx);
  rec->args[4] = PT_REGS_PARM5(ctx);
  rec->args[5] = PT_REGS_PARM6(ctx);

  /* batch wakeups: wake the reader only once enough data is waiting */
  if (bpf_ringbuf_query(&rb, BPF_RB_AVAIL_DATA) >= wakeup_bytes)
    flags = BPF_RB_FORCE_WAKEUP;
  /*
   * no "emitted" counter: the collector derives it from the ring's own
   * positions (records consumed + still unread), which saves a map lookup
   */
  bpf_ringbuf_submit(rec, flags);
  return 0;
}
