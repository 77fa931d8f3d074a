// A hostile traced process for limits_test: T threads call every v1 hook in
// turn, unpaced, with the arguments a buggy or malicious replica controls
// chosen to reach every per-id, per-view, per-proxy and per-seq structure of
// the collector's timeline builder:
//   - replica ids (meta's self): 4093 distinct ones, so the builder's
//     replica cap and the missing-vote bound are what keep it small;
//   - views: increasing with every call (view-change episodes and the
//     view -> primary map see a new view each time);
//   - proxies: a new proxy id with every call;
//   - seqs: every third call reports seq 42 (many events for one
//     consensus instance), the others a new seq every 16 calls;
//   - senders and digests: derived from the call number.
// Two copies of it claim the same replica ids, as an impostor would. It
// waits until a tracer raised every v1 semaphore, then prints "produced N".
//
//   hook_flood_target THREADS PER_THREAD
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "resdb_trace/hooks.h"

namespace {

using HookFn = void (*)(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t,
                        uint64_t);

struct Hook {
  int id;
  HookFn fn;
};

const std::vector<Hook>& V1Hooks() {
  static const std::vector<Hook> hooks = {
#define RESDB_TRACE_X_V1_RESDB_TRACE_ABI_V1(id, name) {id, &resdb_trace_##name},
#define RESDB_TRACE_X_V1_RESDB_TRACE_ABI_COMPAT(id, name)
#define RESDB_TRACE_X_V1_RESDB_TRACE_ABI_DISPATCH(id, name)
#define X(id, name, Name, abi, type, event, where, seq_arg, aux_arg) \
  RESDB_TRACE_X_V1_##abi(id, name)
      RESDB_TRACE_HOOKS(X)
#undef X
  };
  return hooks;
}

constexpr uint64_t kDistinctReplicaIds = 4093;
constexpr uint64_t kHotSeq = 42;

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s THREADS PER_THREAD\n", argv[0]);
    return 2;
  }
  const int threads = std::atoi(argv[1]);
  const long per_thread = std::atol(argv[2]);
  const auto& hooks = V1Hooks();

  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (;;) {
    bool all = true;
    for (const Hook& h : hooks) all = all && ResdbTraceEnabled(h.id);
    if (all) break;
    if (std::chrono::steady_clock::now() > deadline) {
      std::fprintf(stderr, "hook_flood_target: no tracer within 20 s\n");
      return 3;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }

  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (long i = 0; i < per_thread; ++i) {
        const uint64_t n = static_cast<uint64_t>(i) * threads + t;
        const Hook& h = hooks[n % hooks.size()];
        const uint64_t seq = n % 3 == 0 ? kHotSeq : 1000 + n / 16;
        const uint32_t self =
            1 + static_cast<uint32_t>(n % kDistinctReplicaIds);
        const uint32_t sender = 1 + static_cast<uint32_t>((n * 31) % 65535);
        h.fn(0xf100d000 + n, seq,
             ResdbTracePackMeta(RESDB_TRACE_TYPE_PREPARE, sender, self),
             /*proxy_id=*/n, /*view=*/n, /*aux=*/n * 0x9e3779b97f4a7c15ull);
      }
    });
  }
  for (auto& th : pool) th.join();
  std::printf("produced %ld\n", per_thread * threads);
  return 0;
}
