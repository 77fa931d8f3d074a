/*
 * Types the CPU profiler (bpf/profile.bpf.c) shares with its loader
 * (collector/profile/cpu_sampler.cc): the key of the in-kernel sample count
 * map and the indices of the per-CPU loss counters. Plain C, fixed-width
 * types, explicit padding, checked by static_assert here and by a test
 * against the BTF of the built BPF object.
 */
#ifndef RESDB_TRACE_BPF_PROFILE_RECORD_H_
#define RESDB_TRACE_BPF_PROFILE_RECORD_H_

#ifdef __bpf__
/* vmlinux.h provides __u32/__s32 on the BPF side. */
#else
#include <linux/types.h>
#endif

/* Deepest stack bpf_get_stackid records (the kernel's PERF_MAX_STACK_DEPTH). */
#define RESDB_PROFILE_MAX_STACK_DEPTH 127

/*
 * One aggregation bucket: samples with the same process, thread, stacks and
 * phase share one counter (value: __u64 sample count).
 */
struct resdb_profile_key {
  __u32 tgid;            /* process id of the sampled task. */
  __u32 tid;             /* thread id, or 0 when per-thread keys are off. */
  __s32 user_stack_id;   /* id in the stack map, or -errno of the lookup. */
  __s32 kernel_stack_id; /* id in the stack map, or -errno of the lookup. */
  __u32 hook_id;         /* the thread's phase: its last hook, 0 = none. */
  __u32 pad;             /* explicit padding, always 0. */
};

#ifndef __bpf__
#ifdef __cplusplus
static_assert(sizeof(struct resdb_profile_key) == 24, "profile key layout");
static_assert(__builtin_offsetof(struct resdb_profile_key, hook_id) == 16,
              "profile key layout");
#else
_Static_assert(sizeof(struct resdb_profile_key) == 24, "profile key layout");
#endif
#endif

/*
 * Indices into the per-CPU counter array `profile_counters`. Every sample of
 * an allow-listed process is counted in exactly one of SAMPLES and
 * COUNTS_FULL; the stack counters describe SAMPLES only.
 */
enum resdb_profile_counter {
  /* samples counted in the count map (what the collector drains) */
  RESDB_PROFILE_CTR_SAMPLES = 0,
  /* of those, the user stack was not stored: bucket collision (-EEXIST) or
     stack map full (-ENOMEM); the collector shows a marker instead */
  RESDB_PROFILE_CTR_USER_STACK_LOST = 1,
  /* the same for the kernel stack of a sample taken in kernel mode */
  RESDB_PROFILE_CTR_KERNEL_STACK_LOST = 2,
  /* of those, no user stack at all (-EFAULT: e.g. a task exiting) */
  RESDB_PROFILE_CTR_USER_STACK_EMPTY = 3,
  /* samples lost: the count map was full; only this counter has them */
  RESDB_PROFILE_CTR_COUNTS_FULL = 4,
  RESDB_PROFILE_CTR_COUNT = 5,
};

#endif /* RESDB_TRACE_BPF_PROFILE_RECORD_H_ */
