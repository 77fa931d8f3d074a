// A CPU-bound target for the profiler tests: one worker thread alternates
// between two namespaced functions that burn a fixed number of identical
// iterations, 7 units in BurnSeventy for every 3 in BurnThirty, so they
// take 70% and 30% of its CPU however fast or loaded the machine is. Both
// are noipa: real frames, never inlined, cloned or merged.
//
//   profile_target SECONDS [DEPTH]
//
// Prints "ready <pid>" once the worker runs, burns for SECONDS (fractional
// allowed) of wall time, prints "done <checksum>" and exits. With DEPTH, the
// worker first recurses DEPTH frames deep (Descend), so its stacks are
// deeper than the kernel records.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace resdb_profile_target {

// Xorshift rounds per unit: about 20-40 us of CPU.
constexpr uint64_t kRoundsPerUnit = 16384;

__attribute__((noipa)) uint64_t BurnSeventy(uint64_t units, uint64_t x) {
  for (uint64_t i = 0; i < units * kRoundsPerUnit; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
  }
  return x;
}

// The same work as BurnSeventy, spelt with other constants so that no
// compiler or linker can fold the two functions into one.
__attribute__((noipa)) uint64_t BurnThirty(uint64_t units, uint64_t x) {
  for (uint64_t i = 0; i < units * kRoundsPerUnit; ++i) {
    x ^= x << 11;
    x ^= x >> 9;
    x ^= x << 19;
  }
  return x;
}

__attribute__((noipa)) uint64_t RunWorkload(double seconds) {
  const auto deadline =
      std::chrono::steady_clock::now() +
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::duration<double>(seconds));
  uint64_t x = 0x9e3779b97f4a7c15ull;
  while (std::chrono::steady_clock::now() < deadline) {
    x = BurnSeventy(7, x);
    x = BurnThirty(3, x);
  }
  return x;
}

// Recursion that no compiler can turn into a loop: the opaque asm keeps
// every frame.
__attribute__((noipa)) uint64_t Descend(int depth, double seconds) {
  if (depth <= 0) return RunWorkload(seconds);
  uint64_t r = Descend(depth - 1, seconds);
  asm volatile("" : "+r"(r));
  return r + static_cast<uint64_t>(depth);
}

}  // namespace resdb_profile_target

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s SECONDS\n", argv[0]);
    return 2;
  }
  const double seconds = std::atof(argv[1]);
  const int depth = argc > 2 ? std::atoi(argv[2]) : 0;
  std::atomic<bool> started{false};
  uint64_t result = 0;
  std::thread worker([&] {
    started = true;
    result = resdb_profile_target::Descend(depth, seconds);
  });
  while (!started) std::this_thread::yield();
  std::printf("ready %d\n", static_cast<int>(getpid()));
  std::fflush(stdout);
  worker.join();
  std::printf("done %llx\n", static_cast<unsigned long long>(result));
  return 0;
}
