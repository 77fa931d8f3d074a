/* SPDX-License-Identifier: (BSD-2-Clause OR GPL-2.0) */
/*
 * BPF-only parts both programs share (hooks.bpf.c, profile.bpf.c), in the
 * style of bcc's libbpf-tools *.bpf.h. Include after vmlinux.h and
 * <bpf/bpf_helpers.h>.
 */
#ifndef RESDB_TRACE_BPF_COMMON_BPF_H_
#define RESDB_TRACE_BPF_COMMON_BPF_H_

#include "bpf/trace_record.h"

/*
 * the last hook each thread passed (struct in trace_record.h): hooks.bpf.c
 * writes it, profile.bpf.c tags cpu samples with it. the loader makes both
 * objects use one map (bpf_map__reuse_fd), which needs identical
 * definitions: hence one, here. lru: threads come and go, stale entries must
 * age out on their own
 */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, RESDB_TRACE_THREAD_PHASE_ENTRIES);
  __type(key, __u32);
  __type(value, struct resdb_trace_thread_phase);
} thread_phase SEC(".maps");

/*
 * bumps slot `idx` of the BPF_MAP_TYPE_PERCPU_ARRAY `counters`: the slot is
 * this cpu's and nothing else runs on it meanwhile, so a plain add is enough
 */
static __always_inline void count(void *counters, __u32 idx) {
  __u64 *val = bpf_map_lookup_elem(counters, &idx);

  if (val) *val += 1;
}

#endif /* RESDB_TRACE_BPF_COMMON_BPF_H_ */
