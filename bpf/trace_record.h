/*
 * The record one hook hit produces in the ring buffer. Shared by the BPF
 * program (bpf/hooks.bpf.c) and the collector's decoder; plain C, fixed-width
 * types, explicit padding, checked by static_assert here and by a test against
 * the BTF of the built BPF object.
 */
#ifndef RESDB_TRACE_BPF_TRACE_RECORD_H_
#define RESDB_TRACE_BPF_TRACE_RECORD_H_

#ifdef __bpf__
/* vmlinux.h provides __u32/__u64 on the BPF side. */
#else
#include <linux/types.h>
#endif

/*
 * Bumped when the layout changes. hooks.bpf.c keeps the value it was built
 * with in .rodata (`record_version`) and BpfTracer refuses to load an object
 * whose value differs from the one the collector was built with; the records
 * themselves carry no version.
 */
#define RESDB_TRACE_RECORD_VERSION 1

/* Registers a hook passes (x86-64 SysV integer argument registers). */
#define RESDB_TRACE_RECORD_ARGS 6

struct resdb_trace_record {
  __u64 ktime_ns; /* bpf_ktime_get_ns() at the hit (CLOCK_MONOTONIC). */
  __u32 pid;      /* process id (tgid) of the caller. */
  __u32 tid;      /* thread id of the caller. */
  __u32 cpu;      /* CPU the hit ran on. */
  __u32 hook_id;  /* catalogue id, from the uprobe's attach cookie. */
  __u64 args[RESDB_TRACE_RECORD_ARGS]; /* rdi, rsi, rdx, rcx, r8, r9. */
};

#ifndef __bpf__
#ifdef __cplusplus
static_assert(sizeof(struct resdb_trace_record) == 72, "record layout");
static_assert(__builtin_offsetof(struct resdb_trace_record, args) == 24,
              "record layout");
#else
_Static_assert(sizeof(struct resdb_trace_record) == 72, "record layout");
#endif
#endif

/*
 * Value of the `thread_phase` LRU hash map (key: thread id) that hooks.bpf.c
 * writes on every hook hit while its `track_phase` rodata flag is set (the
 * collector sets it only when profiling) and profile.bpf.c reads to tag each
 * CPU sample with the consensus phase its thread is in. Both objects get the
 * map from bpf/common.bpf.h; the profiler loader reuses the hooks object's
 * map fd.
 */
struct resdb_trace_thread_phase {
  __u32 hook_id;  /* catalogue id of the last hook the thread hit. */
  __u32 pad;      /* explicit padding, always 0. */
  __u64 seq;      /* that hook's second argument (the sequence number). */
  __u64 since_ns; /* bpf_ktime_get_ns() of that hit (CLOCK_MONOTONIC). */
};

/* Entries of the thread_phase map; both BPF objects must agree. */
#define RESDB_TRACE_THREAD_PHASE_ENTRIES 16384

#ifndef __bpf__
#ifdef __cplusplus
static_assert(sizeof(struct resdb_trace_thread_phase) == 24, "phase layout");
#else
_Static_assert(sizeof(struct resdb_trace_thread_phase) == 24, "phase layout");
#endif
#endif

/*
 * Indices into the per-CPU counter array `counters` of hooks.bpf.c. Records
 * submitted are not counted per hit: the collector derives them from the
 * ring buffer's producer and consumer positions.
 */
enum resdb_trace_counter {
  RESDB_TRACE_CTR_UNUSED = 0,       /* was "emitted"; kept so indices hold */
  RESDB_TRACE_CTR_RINGBUF_FULL = 1, /* reserve failed: the record is lost */
  RESDB_TRACE_CTR_FILTERED = 2,     /* hit from a pid outside the allow-list */
  RESDB_TRACE_CTR_COUNT = 3,
};

/*
 * Bytes one record takes in the ring buffer: the kernel's 8-byte header
 * (BPF_RINGBUF_HDR_SZ) plus the record, rounded up to 8.
 */
#define RESDB_TRACE_RINGBUF_SLOT_BYTES \
  ((8 + sizeof(struct resdb_trace_record) + 7) / 8 * 8)

#endif /* RESDB_TRACE_BPF_TRACE_RECORD_H_ */
