// A traced target for end-to-end tests: T threads call every v1 hook in turn
// with arguments derived from (thread, i), so a subscriber can check every
// field of every event. It waits until a tracer raised every v1 semaphore
// (so nothing is emitted before the probes are live), then prints
// "produced N" and exits.
//
//   hook_target THREADS PER_THREAD RATE_PER_SEC [--no-wait]
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s THREADS PER_THREAD RATE [--no-wait]\n",
                 argv[0]);
    return 2;
  }
  const int threads = std::atoi(argv[1]);
  const long per_thread = std::atol(argv[2]);
  const double rate = std::atof(argv[3]);
  const bool wait = !(argc > 4 && std::strcmp(argv[4], "--no-wait") == 0);
  const auto& hooks = V1Hooks();

  if (wait) {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(20);
    for (;;) {
      bool all = true;
      for (const Hook& h : hooks) all = all && ResdbTraceEnabled(h.id);
      if (all) break;
      if (std::chrono::steady_clock::now() > deadline) {
        std::fprintf(stderr, "hook_target: no tracer attached within 20 s\n");
        return 3;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }

  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      const double per_thread_rate = rate / threads;
      const auto start = std::chrono::steady_clock::now();
      for (long i = 0; i < per_thread; ++i) {
        const Hook& h = hooks[static_cast<size_t>(i) % hooks.size()];
        const uint64_t seq = (static_cast<uint64_t>(t) << 32) | uint64_t(i);
        h.fn(0xabc000 + t, seq,
             ResdbTracePackMeta(RESDB_TRACE_TYPE_PREPARE, t + 1, 7),
             uint64_t(i) * 3, uint64_t(t) + 1, ~uint64_t(i));
        if (rate > 0 && (i % 64) == 63) {
          const auto due =
              start + std::chrono::nanoseconds(static_cast<int64_t>(
                          (i + 1) * 1e9 / per_thread_rate));
          std::this_thread::sleep_until(due);
        }
      }
    });
  }
  for (auto& th : pool) th.join();
  std::printf("produced %ld\n", per_thread * threads);
  return 0;
}
