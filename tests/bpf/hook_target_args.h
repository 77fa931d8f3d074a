// The argument values hook_target passes, shared with the tests that check
// them: every (hook, argument, call) triple gets a distinct value.
#ifndef RESDB_TRACE_TESTS_BPF_HOOK_TARGET_ARGS_H_
#define RESDB_TRACE_TESTS_BPF_HOOK_TARGET_ARGS_H_

#include <cstdint>

// Argument `k` (0..5) of call number `i` to hook `id`. Bits 32..47 stay zero
// so the u32 arguments of dispatch hooks keep the low word intact.
inline uint64_t HookTargetArg(uint32_t id, uint32_t k, uint64_t i) {
  return (uint64_t{id} << 56) | (uint64_t{k} << 48) | (i & 0xffffffffu);
}

#endif  // RESDB_TRACE_TESTS_BPF_HOOK_TARGET_ARGS_H_
