// rate_target: the traced process of the end-to-end benchmarks. THREADS
// threads call one hook in a loop, paced to RATE hits/s in total (0: as fast
// as they can), for SECONDS. It starts calling only once GO_FILE exists (the
// driver creates it when the tracer is attached and its consumer is ready),
// then prints one JSON line:
//   {"produced":N,"seconds":S,"rate":R}
//
//   rate_target --hook nop5|seed --threads T --rate R --seconds S
//               --go-file PATH
//
// Hooks: `nop5` is resdb_trace_prepare_received (the library's nop5 hook,
// called directly as DeepObserve's call sites do); `seed` is the seed's
// shape (bench/targets/seed_hook.cc) with its call site's clock read.
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "bench/targets/seed_hook.h"
#include "lib/flags/flags.h"
#include "resdb_trace/hooks.h"

namespace {

using Clock = std::chrono::steady_clock;

constexpr char kUsage[] =
    R"(rate_target: hits one hook at a given rate (bench/).

Usage: rate_target [--hook nop5|seed] [--threads N] [--rate R] [--seconds S]
                   [--go-file PATH]

  --hook nop5|seed  resdb_trace's hook or the seed's (default nop5)
  --threads N       threads hitting it (default 1)
  --rate R          hits per second per thread, 0 = unthrottled (default 0)
  --seconds S       how long (default 2)
  --go-file PATH    wait (up to 60 s) for PATH to exist before starting
  --version         print the version and exit
  -h, --help        print this text and exit
)";

using resdb_trace::flags::Die;

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

// One hook hit with arguments derived from (thread, index).
template <bool kSeed>
inline void Hit(uint64_t t, uint64_t i) {
  const uint64_t seq = (t << 40) | i;
  const uint64_t meta = ResdbTracePackMeta(RESDB_TRACE_TYPE_COMMIT,
                                           static_cast<uint32_t>(t + 1), 1);
  if (kSeed) {
    seed_pbft_commit_state(0xabc000 + t, seq, meta, 42, ResdbTraceEpochNs());
  } else {
    resdb_trace_prepare_received(0xabc000 + t, seq, meta, 42, 3, i);
  }
}

template <bool kSeed>
uint64_t Run(uint64_t t, double rate, Clock::time_point start,
             Clock::time_point end) {
  uint64_t i = 0;
  if (rate <= 0) {
    // unthrottled: check the clock every 256 hits only
    while (Clock::now() < end) {
      for (int k = 0; k < 256; ++k) Hit<kSeed>(t, i++);
    }
    return i;
  }
  const double ns_per_hit = 1e9 / rate;
  for (;;) {
    // bursts of 16, then sleep until the schedule says the next one is due;
    // a thread that falls behind (a busy host) stops at `end` all the same
    for (int k = 0; k < 16; ++k) Hit<kSeed>(t, i++);
    const auto due =
        start + std::chrono::nanoseconds(static_cast<int64_t>(i * ns_per_hit));
    if (due >= end || Clock::now() >= end) break;
    std::this_thread::sleep_until(due);
  }
  return i;
}

}  // namespace

int main(int argc, char** argv) {
  std::string hook = "nop5", go_file;
  int threads = 1;
  double rate = 0, seconds = 2;
  CLI::App app;
  resdb_trace::flags::Setup(&app, "rate_target", kUsage);
  app.add_option("--hook", hook);
  app.add_option("--threads", threads);
  app.add_option("--rate", rate);
  app.add_option("--seconds", seconds);
  app.add_option("--go-file", go_file);
  resdb_trace::flags::ParseOrExit(&app, argc, argv);
  if (hook != "nop5" && hook != "seed") Die("--hook must be nop5 or seed");
  if (threads < 1 || seconds <= 0) Die("need --threads >= 1, --seconds > 0");

  if (!go_file.empty()) {
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (!Exists(go_file)) {
      if (Clock::now() > deadline) Die("no go file within 60 s: " + go_file);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  const auto start = Clock::now() + std::chrono::milliseconds(2);
  const auto end =
      start + std::chrono::nanoseconds(static_cast<int64_t>(seconds * 1e9));
  std::vector<uint64_t> produced(threads, 0);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      std::this_thread::sleep_until(start);
      const double r = rate / threads;
      produced[t] = hook == "seed" ? Run<true>(t, r, start, end)
                                   : Run<false>(t, r, start, end);
    });
  }
  for (auto& th : pool) th.join();
  const double elapsed =
      std::chrono::duration<double>(Clock::now() - start).count();
  uint64_t total = 0;
  for (uint64_t p : produced) total += p;
  std::printf("{\"produced\":%llu,\"seconds\":%.4f,\"rate\":%.1f}\n",
              static_cast<unsigned long long>(total), elapsed, total / elapsed);
  return 0;
}
