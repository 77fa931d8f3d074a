// A traced process for the BPF tests, driven line by line over stdin:
//   fire <id> <n> <base>  calls hook <id> n times; argument k of call i is
//                         HookTargetArg(id, k, base + i); prints "done <tid>"
//   gated <n> <base>      same through the gated wrapper of
//                         pre_prepare_received (calls only while traced)
//   sem <id>              prints resdb_trace_semaphores[id]
//   quit                  exits
// It prints "ready <pid>" once it can take commands.
#include <sys/syscall.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "resdb_trace/hooks.h"
#include "tests/bpf/hook_target_args.h"

namespace {

void Fire(uint32_t id, uint64_t n, uint64_t base) {
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t a[6];
    for (uint32_t k = 0; k < 6; ++k) a[k] = HookTargetArg(id, k, base + i);
    switch (id) {
#define HOOK_TARGET_CALL_RESDB_TRACE_ABI_V1(name) \
  resdb_trace_##name(a[0], a[1], a[2], a[3], a[4], a[5])
#define HOOK_TARGET_CALL_RESDB_TRACE_ABI_COMPAT(name) \
  resdb_trace_##name(a[0], a[1], a[2], a[3], static_cast<int64_t>(a[4]))
#define HOOK_TARGET_CALL_RESDB_TRACE_ABI_DISPATCH(name)       \
  resdb_trace_##name(a[0], a[1], static_cast<uint32_t>(a[2]), \
                     static_cast<uint32_t>(a[3]), a[4])
#define HOOK_TARGET_CASE(id, name, Name, abi, type, event, where, seq_arg, \
                         aux_arg)                                          \
  case id:                                                                 \
    HOOK_TARGET_CALL_##abi(name);                                          \
    break;
      RESDB_TRACE_HOOKS(HOOK_TARGET_CASE)
#undef HOOK_TARGET_CASE
      default:
        break;
    }
  }
}

void Gated(uint64_t n, uint64_t base) {
  const uint32_t id = RESDB_TRACE_ID_pre_prepare_received;
  for (uint64_t i = 0; i < n; ++i) {
    // meta is packed by the wrapper: type | sender << 32 | self << 48
    ResdbTracePrePrepareReceived(
        HookTargetArg(id, 0, base + i), HookTargetArg(id, 1, base + i),
        RESDB_TRACE_TYPE_PRE_PREPARE, 2, 3, HookTargetArg(id, 3, base + i),
        HookTargetArg(id, 4, base + i), HookTargetArg(id, 5, base + i));
  }
}

}  // namespace

int main() {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  std::printf("ready %d\n", static_cast<int>(getpid()));
  char line[256];
  while (std::fgets(line, sizeof(line), stdin) != nullptr) {
    unsigned id = 0;
    uint64_t n = 0;
    uint64_t base = 0;
    if (std::sscanf(line, "fire %u %" SCNu64 " %" SCNu64, &id, &n, &base) ==
        3) {
      Fire(id, n, base);
      std::printf("done %ld\n", static_cast<long>(syscall(SYS_gettid)));
    } else if (std::sscanf(line, "gated %" SCNu64 " %" SCNu64, &n, &base) ==
               2) {
      Gated(n, base);
      std::printf("done %ld\n", static_cast<long>(syscall(SYS_gettid)));
    } else if (std::sscanf(line, "sem %u", &id) == 1) {
      unsigned v = id < RESDB_TRACE_SEMAPHORE_SLOTS
                       ? static_cast<unsigned>(resdb_trace_semaphores[id])
                       : 0xffffu;
      std::printf("%u\n", v);
    } else if (std::strncmp(line, "quit", 4) == 0) {
      return 0;
    } else {
      std::printf("error unknown command: %s", line);
    }
  }
  return 0;
}
