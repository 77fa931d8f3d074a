// DeepObserve's hook shape (the seed), for side-by-side comparisons only:
// an ordinary C function whose body is an empty asm that "uses" the
// arguments, so its first instruction is whatever the compiler emits (at -O2
// a plain `ret`), not a nop5 the kernel can turn into a trampoline call.
#ifndef RESDB_TRACE_BENCH_TARGETS_SEED_HOOK_H_
#define RESDB_TRACE_BENCH_TARGETS_SEED_HOOK_H_

#include <cstdint>

extern "C" void seed_pbft_commit_state(uint64_t req_ptr, uint64_t seq,
                                       uint64_t meta, uint64_t proxy_id,
                                       int64_t epoch_ns);

#endif  // RESDB_TRACE_BENCH_TARGETS_SEED_HOOK_H_
