// SPDX-License-Identifier: (BSD-2-Clause OR GPL-2.0)
/*
 * CPU profiler: one perf-event program, attached by the loader to a
 * software cpu-clock event on every online CPU. A sample of an allow-listed
 * process records its user and kernel stacks in a stack-trace map and bumps
 * a counter keyed by {tgid, tid, stacks, phase}; the collector drains the
 * counts every interval. Nothing here reads user memory.
 *
 * Two generations of (count map, stack map) alternate: the program writes
 * the one `active_slot` names, the collector flips the slot and drains the
 * other at leisure, so no count or stack id is read while it changes and a
 * stack id never outlives the counts that refer to it.
 *
 * The phase is the last resdb_trace hook the sampled thread passed, read
 * from the `thread_phase` map (common.bpf.h) that hooks.bpf.c writes; the
 * loader swaps in the hooks object's map fd before load (bpf_map__reuse_fd),
 * or shrinks this one to one entry when profiling standalone: then the map
 * stays empty and every sample has phase 0 ("none").
 */
/* vmlinux.h must come first: the libbpf headers use its types */
/* clang-format off */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
/* clang-format on */

#include "bpf/common.bpf.h"
#include "bpf/profile_record.h"
#include "bpf/trace_record.h"

#define EFAULT 14
#define ENOMEM 12
#define EEXIST 17

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* set by the loader: key samples by thread (tid) as well as by process */
const volatile bool per_thread = true;
/* set by the loader: a phase older than this is "none"; 0 = never stale */
const volatile __u64 phase_max_age_ns = 0;

/* the generation the program writes into; flipped by the collector */
__u32 active_slot = 0;

/*
 * never read: makes clang emit the key's BTF, which a test compares with the
 * collector's view of profile_record.h (rodata, so no extra map)
 */
struct resdb_profile_key *const volatile profile_key_btf_anchor = 0;

/* allow-list of tgids: only these processes are sampled */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024);
  __type(key, __u32);
  __type(value, __u8);
} tgids SEC(".maps");

/* the loader sizes both generations with bpf_map__set_max_entries */
struct count_map {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  __type(key, struct resdb_profile_key);
  __type(value, __u64);
};
struct count_map counts_0 SEC(".maps");
struct count_map counts_1 SEC(".maps");

struct stack_map {
  __uint(type, BPF_MAP_TYPE_STACK_TRACE);
  __uint(max_entries, 16384);
  __type(key, __u32);
  __uint(value_size, RESDB_PROFILE_MAX_STACK_DEPTH * sizeof(__u64));
};
struct stack_map stacks_0 SEC(".maps");
struct stack_map stacks_1 SEC(".maps");

/* per-cpu so samples on different cpus never contend; the collector sums */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, RESDB_PROFILE_CTR_COUNT);
  __type(key, __u32);
  __type(value, __u64);
} profile_counters SEC(".maps");

static __always_inline __u32 phase_of(__u32 tid) {
  struct resdb_trace_thread_phase *phase;

  phase = bpf_map_lookup_elem(&thread_phase, &tid);
  if (!phase) return 0;
  if (phase_max_age_ns &&
      bpf_ktime_get_ns() - phase->since_ns > phase_max_age_ns)
    return 0;
  return phase->hook_id;
}

/* bumps the counter of the bucket `key`; false when the map is full */
static __always_inline bool add_sample(void *counts,
                                       struct resdb_profile_key *key) {
  __u64 one = 1;
  __u64 *val;
  long err;

  val = bpf_map_lookup_elem(counts, key);
  if (val) {
    __sync_fetch_and_add(val, 1);
    return true;
  }
  err = bpf_map_update_elem(counts, key, &one, BPF_NOEXIST);
  if (err == -EEXIST) {
    /* another cpu created the bucket between our lookup and update */
    val = bpf_map_lookup_elem(counts, key);
    if (!val) return false;
    __sync_fetch_and_add(val, 1);
    return true;
  }
  return err == 0;
}

static __always_inline int record(struct bpf_perf_event_data *ctx, void *stacks,
                                  void *counts, __u32 tgid, __u32 tid) {
  struct resdb_profile_key key = {};

  key.tgid = tgid;
  key.tid = per_thread ? tid : 0;
  key.user_stack_id = bpf_get_stackid(ctx, stacks, BPF_F_USER_STACK);
  key.kernel_stack_id = bpf_get_stackid(ctx, stacks, 0);
  key.hook_id = phase_of(tid);

  /*
   * every sample lands in exactly one of SAMPLES and COUNTS_FULL; the stack
   * counters describe counted samples only, so they match the markers the
   * collector puts in their place
   */
  if (!add_sample(counts, &key)) {
    count(&profile_counters, RESDB_PROFILE_CTR_COUNTS_FULL);
    return 0;
  }
  count(&profile_counters, RESDB_PROFILE_CTR_SAMPLES);
  if (key.user_stack_id == -EFAULT)
    count(&profile_counters, RESDB_PROFILE_CTR_USER_STACK_EMPTY);
  else if (key.user_stack_id < 0)
    count(&profile_counters, RESDB_PROFILE_CTR_USER_STACK_LOST);
  /* -EFAULT here only means the sample hit user mode: no kernel stack */
  if (key.kernel_stack_id < 0 && key.kernel_stack_id != -EFAULT)
    count(&profile_counters, RESDB_PROFILE_CTR_KERNEL_STACK_LOST);
  return 0;
}

SEC("perf_event")
int resdb_profile_sample(struct bpf_perf_event_data *ctx) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u32 tgid = pid_tgid >> 32;
  __u32 tid = (__u32)pid_tgid;

  if (!bpf_map_lookup_elem(&tgids, &tgid)) return 0;

  /* one call site per generation keeps every map argument a constant */
  if (active_slot & 1) return record(ctx, &stacks_1, &counts_1, tgid, tid);
  return record(ctx, &stacks_0, &counts_0, tgid, tid);
}
