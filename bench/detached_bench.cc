// What a hook costs while no tracer is attached (the steady state of a
// production replica), against the two baselines that bound it:
//   - an empty loop iteration: a gated site should cost about nothing more
//     (one load of its semaphore slot and a predicted-not-taken branch);
//   - a plain out-of-line call with the same arguments: a direct hook call
//     (DeepObserve's style, no gating) should cost no more than that, since
//     the hook body is `nop5; ret`.
//
//   bazel run -c opt --disk_cache=$HOME/.cache/resdb_trace/bazel-disk \
//     //bench:detached_bench -- --benchmark_repetitions=5 \
//     --benchmark_report_aggregates_only=true
//
// Every case runs the same loop scaffolding: a changing seq (so nothing is
// hoisted or folded) and DoNotOptimize on it. Results: bench/RESULTS.md.
#include <cstdint>

#include "benchmark/benchmark.h"
#include "resdb_trace/hooks.h"

namespace {

constexpr uint32_t kSelf = 1;
constexpr uint64_t kProxy = 42;
constexpr uint64_t kView = 3;

// Baseline for a direct hook call: an empty function the compiler may not
// inline, clone or analyse (noipa), with the v1 hook's six arguments.
__attribute__((noipa)) void PlainCall(uint64_t req_ptr, uint64_t seq,
                                      uint64_t meta, uint64_t proxy_id,
                                      uint64_t view, uint64_t aux) {
  (void)req_ptr;
  (void)seq;
  (void)meta;
  (void)proxy_id;
  (void)view;
  (void)aux;
}

// The request pointer the sites report. Not &seq: taking seq's address would
// keep it in memory and add a store-to-load chain to every iteration.
int g_request;
uint64_t Req() { return reinterpret_cast<uint64_t>(&g_request); }

// Keeps the benchmarks honest: every one of them measures the detached
// state, which a leftover raised slot would silently change.
bool Detached(benchmark::State& state) {
  if (ResdbTraceEnabled(RESDB_TRACE_ID_prepare_received) ||
      ResdbTraceEnabled(RESDB_TRACE_ID_pbft_prepare_recv)) {
    state.SkipWithError("a tracer is attached: results would not be detached");
    return false;
  }
  return true;
}

void BM_EmptyLoop(benchmark::State& state) {
  uint64_t seq = 0;
  for (auto _ : state) {
    ++seq;
    benchmark::DoNotOptimize(seq);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_EmptyLoop);

void BM_PlainNoinlineCall(benchmark::State& state) {
  uint64_t seq = 0;
  const uint64_t req = Req();
  for (auto _ : state) {
    ++seq;
    PlainCall(req, seq,
              ResdbTracePackMeta(RESDB_TRACE_TYPE_PREPARE,
                                 static_cast<uint32_t>(seq & 3), kSelf),
              kProxy, kView, seq ^ 0x5a5a);
    benchmark::DoNotOptimize(seq);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_PlainNoinlineCall);

void BM_GatedWrapperDetached(benchmark::State& state) {
  if (!Detached(state)) return;
  uint64_t seq = 0;
  const uint64_t req = Req();
  for (auto _ : state) {
    ++seq;
    ResdbTracePrepareReceived(req, seq, RESDB_TRACE_TYPE_PREPARE,
                              static_cast<uint32_t>(seq & 3), kSelf, kProxy,
                              kView, seq ^ 0x5a5a);
    benchmark::DoNotOptimize(seq);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_GatedWrapperDetached);

void BM_GatedMacroDetached(benchmark::State& state) {
  if (!Detached(state)) return;
  uint64_t seq = 0;
  const uint64_t req = Req();
  for (auto _ : state) {
    ++seq;
    RESDB_TRACE_V1(prepare_received, req, seq, RESDB_TRACE_TYPE_PREPARE,
                   seq & 3, kSelf, kProxy, kView, seq ^ 0x5a5a);
    benchmark::DoNotOptimize(seq);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_GatedMacroDetached);

void BM_DirectHookPackedMeta(benchmark::State& state) {
  if (!Detached(state)) return;
  uint64_t seq = 0;
  const uint64_t req = Req();
  for (auto _ : state) {
    ++seq;
    resdb_trace_prepare_received(
        req, seq,
        ResdbTracePackMeta(RESDB_TRACE_TYPE_PREPARE,
                           static_cast<uint32_t>(seq & 3), kSelf),
        kProxy, kView, seq ^ 0x5a5a);
    benchmark::DoNotOptimize(seq);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_DirectHookPackedMeta);

// DeepObserve's call shape: an ungated direct call that reads the wall clock
// at every site, traced or not.
void BM_DeepObserveShape(benchmark::State& state) {
  if (!Detached(state)) return;
  uint64_t seq = 0;
  const uint64_t req = Req();
  for (auto _ : state) {
    ++seq;
    resdb_trace_pbft_prepare_recv(
        req, seq,
        ResdbTracePackMeta(RESDB_TRACE_TYPE_PREPARE,
                           static_cast<uint32_t>(seq & 3), kSelf),
        kProxy, ResdbTraceEpochNs());
    benchmark::DoNotOptimize(seq);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_DeepObserveShape);

}  // namespace

BENCHMARK_MAIN();
