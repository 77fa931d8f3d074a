// SPDX-License-Identifier: (BSD-2-Clause OR GPL-2.0)
/*
 * The baseline pipeline's kernel side: one 72-byte record per
 * hit into a ring buffer, with the same wakeup batching as bpf/hooks.bpf.c,
 * and nothing else (no pid filter, no per-thread phase, no emitted counter).
 * bench/bare_reader.cc only counts what arrives; together they are the
 * cheapest lossless-accounting reader libbpf allows, the yardstick for the
 * collector's throughput.
 */
/* clang-format off */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
/* clang-format on */

/*
 * the same 72 bytes as struct resdb_trace_record (bpf/trace_record.h), so
 * the ring buffer carries exactly what the collector's does; declared here
 * because bpf/ exports only the cc_library, not the header file
 */
struct bare_record {
  __u64 ktime_ns;
  __u32 pid;
  __u32 tid;
  __u32 cpu;
  __u32 hook_id;
  __u64 args[6];
};

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* set by the loader before load; bytes of unread data that force a wakeup */
const volatile __u64 wakeup_bytes = 0;

/* the loader sets the size with bpf_map__set_max_entries before load */
struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 256 * 1024);
} rb SEC(".maps");

/* per-cpu so the count never contends; the reader sums it */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} drops SEC(".maps");

SEC("uprobe")
int bare_probe(struct pt_regs *ctx) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  struct bare_record *rec;
  __u64 flags = BPF_RB_NO_WAKEUP;
  __u32 zero = 0;

  rec = bpf_ringbuf_reserve(&rb, sizeof(*rec), 0);
  if (!rec) {
    __u64 *d = bpf_map_lookup_elem(&drops, &zero);

    if (d) *d += 1;
    return 0;
  }
  rec->ktime_ns = bpf_ktime_get_ns();
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
