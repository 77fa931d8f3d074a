// The binary tests/hooks:binary_inspection_test strips and inspects: a PIE
// that links //:resdb_trace and calls a few hooks, like a replica would.
#include <cstdint>
#include <cstdio>

#include "resdb_trace/hooks.h"

int main(int argc, char** argv) {
  (void)argv;
  const uint64_t seq = static_cast<uint64_t>(argc);
  const uint64_t digest = ResdbTraceDigestPrefix("probe-digest", 12);
  ResdbTraceRequestReceived(0, seq, RESDB_TRACE_TYPE_NEW_TXNS, 0, 1, 7, 0,
                            digest);
  RESDB_TRACE_V1(prepare_received, 0, seq, RESDB_TRACE_TYPE_PREPARE, 2, 1, 7, 0,
                 digest);
  ResdbTraceConsensusCommit(0, seq, RESDB_TRACE_TYPE_COMMIT, 2, 7);
  resdb_trace_pbft_commit_state(
      0, seq, ResdbTracePackMeta(RESDB_TRACE_TYPE_COMMIT, 0, 1), 7,
      ResdbTraceEpochNs());
  resdb_trace_committed(
      0, seq, ResdbTracePackMeta(RESDB_TRACE_TYPE_COMMIT, 0, 1), 7, 0, digest);
  std::printf("pie_probe: %s\n",
              RESDB_TRACE_ENABLED(committed) ? "attached" : "detached");
  return 0;
}
