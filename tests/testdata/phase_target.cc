// A target for phase attribution: a worker thread passes a resdb_trace hook
// and then spins in a function of its own for that phase, round after
// round (prepare_received -> SpinPrepare, commit_received -> SpinCommit,
// execute_start -> SpinExecute, weights 2:3:5), while a second thread that
// never passes a hook spins in SpinNoPhase. The hooks are called directly
// (not gated), so they fire whenever a tracer has attached.
//
//   phase_target SECONDS
//
// Prints "ready <pid>", runs for SECONDS of wall time, prints "done".
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "resdb_trace/hooks.h"

namespace resdb_phase_target {

constexpr uint64_t kRoundsPerUnit = 16384;

// Each spin function has its own constants so none can be folded into
// another.
#define RESDB_PHASE_SPIN(Name, a, b, c)                              \
  __attribute__((noipa)) uint64_t Name(uint64_t units, uint64_t x) { \
    for (uint64_t i = 0; i < units * kRoundsPerUnit; ++i) {          \
      x ^= x << a;                                                   \
      x ^= x >> b;                                                   \
      x ^= x << c;                                                   \
    }                                                                \
    return x;                                                        \
  }

RESDB_PHASE_SPIN(SpinPrepare, 13, 7, 17)
RESDB_PHASE_SPIN(SpinCommit, 11, 9, 19)
RESDB_PHASE_SPIN(SpinExecute, 5, 15, 27)
RESDB_PHASE_SPIN(SpinNoPhase, 21, 35, 4)

#undef RESDB_PHASE_SPIN

using Clock = std::chrono::steady_clock;

Clock::time_point Deadline(double seconds) {
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(
                            std::chrono::duration<double>(seconds));
}

__attribute__((noipa)) uint64_t ConsensusLoop(double seconds) {
  const auto deadline = Deadline(seconds);
  uint64_t x = 0x9e3779b97f4a7c15ull;
  const uint64_t meta = ResdbTracePackMeta(RESDB_TRACE_TYPE_PREPARE, 1, 2);
  for (uint64_t seq = 1; Clock::now() < deadline; ++seq) {
    resdb_trace_prepare_received(0, seq, meta, 0, 0, 0);
    x = SpinPrepare(2, x);
    resdb_trace_commit_received(0, seq, meta, 0, 0, 0);
    x = SpinCommit(3, x);
    resdb_trace_execute_start(0, seq, meta, 0, 0, 0);
    x = SpinExecute(5, x);
  }
  return x;
}

__attribute__((noipa)) uint64_t IdleLoop(double seconds) {
  const auto deadline = Deadline(seconds);
  uint64_t x = 0x2545f4914f6cdd1dull;
  while (Clock::now() < deadline) x = SpinNoPhase(5, x);
  return x;
}

}  // namespace resdb_phase_target

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s SECONDS\n", argv[0]);
    return 2;
  }
  const double seconds = std::atof(argv[1]);
  std::atomic<int> started{0};
  uint64_t a = 0;
  uint64_t b = 0;
  std::thread consensus([&] {
    ++started;
    a = resdb_phase_target::ConsensusLoop(seconds);
  });
  std::thread idle([&] {
    ++started;
    b = resdb_phase_target::IdleLoop(seconds);
  });
  while (started < 2) std::this_thread::yield();
  std::printf("ready %d\n", static_cast<int>(getpid()));
  std::fflush(stdout);
  consensus.join();
  idle.join();
  std::printf("done %llx\n", static_cast<unsigned long long>(a ^ b));
  return 0;
}
