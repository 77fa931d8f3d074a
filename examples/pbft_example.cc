// A tiny instrumented program: one replica's view of a request through PBFT,
// reported at the same points ResilientDB's commitment.cpp reports them.
//
//   bazel run //examples:pbft_example -- 1000
//
// Run it under `resdb-trace-collector --binary $(bazel info bazel-bin)/...`
// to see the events; detached, the hooks cost a load and a branch each.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "resdb_trace/hooks.h"

namespace {

constexpr uint32_t kSelf = 1;     // this replica's id
constexpr uint32_t kPrimary = 1;  // replica 1 leads view 0
constexpr uint64_t kView = 0;
constexpr int kReplicas = 4;  // n = 3f + 1, f = 1

void RunOneRequest(uint64_t seq) {
  char digest[32];
  std::memset(digest, 0, sizeof(digest));
  std::snprintf(digest, sizeof(digest), "batch-%llu",
                static_cast<unsigned long long>(seq));
  const uint64_t d = ResdbTraceDigestPrefix(digest, sizeof(digest));
  const uint64_t proxy = 42;
  const uint64_t req = reinterpret_cast<uint64_t>(&digest);

  ResdbTraceRequestReceived(req, seq, RESDB_TRACE_TYPE_NEW_TXNS, proxy, kSelf,
                            proxy, kView, d);
  ResdbTracePrePrepareSent(req, seq, RESDB_TRACE_TYPE_PRE_PREPARE, kSelf, kSelf,
                           proxy, kView, d);
  for (uint32_t r = 1; r <= kReplicas; ++r) {
    RESDB_TRACE_V1(prepare_received, req, seq, RESDB_TRACE_TYPE_PREPARE, r,
                   kSelf, proxy, kView, d);
  }
  ResdbTracePrepared(req, seq, RESDB_TRACE_TYPE_PREPARE, 0, kSelf, proxy, kView,
                     d);
  for (uint32_t r = 1; r <= kReplicas; ++r) {
    RESDB_TRACE_V1(commit_received, req, seq, RESDB_TRACE_TYPE_COMMIT, r, kSelf,
                   proxy, kView, d);
  }
  ResdbTraceCommitted(req, seq, RESDB_TRACE_TYPE_COMMIT, 0, kSelf, proxy, kView,
                      d);
  ResdbTraceExecuteStart(req, seq, RESDB_TRACE_TYPE_COMMIT, 0, kSelf, proxy,
                         kView, d);
  ResdbTraceExecuteEnd(req, seq, RESDB_TRACE_TYPE_COMMIT, 0, kSelf, proxy,
                       kView, /*transactions=*/1);
  ResdbTraceReplySent(req, seq, RESDB_TRACE_TYPE_RESPONSE, kSelf, kSelf, proxy,
                      kView, d);
  // DeepObserve's call shape keeps working unchanged.
  resdb_trace_pbft_commit_state(
      req, seq, ResdbTracePackMeta(RESDB_TRACE_TYPE_COMMIT, 0, kSelf), proxy,
      ResdbTraceEpochNs());
}

}  // namespace

int main(int argc, char** argv) {
  const long requests = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 10;
  for (long seq = 1; seq <= requests; ++seq) {
    RunOneRequest(static_cast<uint64_t>(seq));
  }
  std::printf("replica %u (primary %u): %ld requests, tracing %s\n", kSelf,
              kPrimary, requests,
              RESDB_TRACE_ENABLED(prepare_received) ? "attached" : "detached");
  return 0;
}
