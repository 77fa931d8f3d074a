// SPDX-License-Identifier: (BSD-2-Clause OR GPL-2.0)
/*
 * bpf/hooks.bpf.c taken apart, to measure what each step of its per-hit
 * work adds to the empty uprobe (bench/floor.bpf.c). Each program does one
 * step the way hooks.bpf.c does it; bench/attached_bench.cc attaches them one
 * at a time to the same nop5 hook. Keep them in step with hooks.bpf.c.
 */
/* clang-format off */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
/* clang-format on */

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* hooks.bpf.c's record: 72 bytes */
struct abl_record {
  __u64 ktime_ns;
  __u32 pid;
  __u32 tid;
  __u32 cpu;
  __u32 hook_id;
  __u64 args[6];
};

/* hooks.bpf.c's per-thread phase */
struct abl_phase {
  __u32 hook_id;
  __u32 pad;
  __u64 seq;
  __u64 since_ns;
};

/* set by the loader: bytes of unread data that force a wakeup */
const volatile __u64 wakeup_bytes = 0;

/* a global the ktime step stores into, so the call is not optimised away */
__u64 sink = 0;

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 16 * 1024 * 1024);
} rb SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 3);
  __type(key, __u32);
  __type(value, __u64);
} counters SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, __u32);
  __type(value, struct abl_phase);
} thread_phase SEC(".maps");

static __always_inline void count(__u32 idx) {
  __u64 *val = bpf_map_lookup_elem(&counters, &idx);

  if (val) *val += 1;
}

/* the kernel clock read every hit starts with */
SEC("uprobe")
int abl_ktime(struct pt_regs *ctx) {
  sink = bpf_ktime_get_ns();
  return 0;
}

/* the per-thread phase update (for the profiler), clock excluded */
SEC("uprobe")
int abl_phase(struct pt_regs *ctx) {
  __u32 tid = (__u32)bpf_get_current_pid_tgid();
  struct abl_phase phase = {};

  phase.hook_id = (__u32)bpf_get_attach_cookie(ctx);
  phase.seq = PT_REGS_PARM2(ctx);
  bpf_map_update_elem(&thread_phase, &tid, &phase, BPF_ANY);
  return 0;
}

/* the ring-buffer record: reserve, fill, query, submit; clock excluded */
SEC("uprobe")
int abl_record(struct pt_regs *ctx) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  struct abl_record *rec;
  __u64 flags = BPF_RB_NO_WAKEUP;

  rec = bpf_ringbuf_reserve(&rb, sizeof(*rec), 0);
  if (!rec) {
    count(1);
    return 0;
  }
  rec->ktime_ns = 0;
  rec->pid = pid_tgid >> 32;
  rec->tid = (__u32)pid_tgid;
  rec->cpu = bpf_get_smp_processor_id();
  rec->hook_id = (__u32)bpf_get_attach_cookie(ctx);
  rec->args[0] = PT_REGS_PARM1(ctx);
  rec->args[1] = PT_REGS_PARM2(ctx);
  rec->args[2] = PT_REGS_PARM3(ctx);
  rec->args[3] = PT_REGS_PARM4(ctx);
  rec->args[4] = PT_REGS_PARM5(ctx);
  rec->args[5] = __PT_REGS_CAST(ctx)->r9;
  if (bpf_ringbuf_query(&rb, BPF_RB_AVAIL_DATA) >= wakeup_bytes)
    flags = BPF_RB_FORCE_WAKEUP;
  bpf_ringbuf_submit(rec, flags);
  return 0;
}

/* the per-cpu "emitted" counter */
SEC("uprobe")
int abl_counter(struct pt_regs *ctx) {
  count(0);
  return 0;
}
