#include "bench/targets/seed_hook.h"

// The seed writes `noinline`; gcc -O2 then calls a `.constprop` clone from a
// caller in the same file and a probe on the real name never fires. `noipa`
// (and this file of its own) keeps every call on the named symbol, which is
// what the seed means.
extern "C" __attribute__((noipa)) void seed_pbft_commit_state(
    uint64_t req_ptr, uint64_t seq, uint64_t meta, uint64_t proxy_id,
    int64_t epoch_ns) {
  asm volatile(""
               :
               : "r"(req_ptr), "r"(seq), "r"(meta), "r"(proxy_id), "r"(epoch_ns)
               : "memory");
}
