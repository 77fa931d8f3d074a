// A program outside the resdb_trace workspace that reports PBFT points the
// way ResilientDB does. `consumer --list` prints the hook symbols the binary
// must export (from the catalogue it was compiled against), one per line.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "resdb_trace/hooks.h"

namespace {

void ReportOneRequest(uint64_t seq) {
  const std::string digest = "digest-" + std::to_string(seq);
  const uint64_t d = ResdbTraceDigestPrefix(digest.data(), digest.size());
  const uint64_t req = reinterpret_cast<uint64_t>(&digest);
  ResdbTraceRequestReceived(req, seq, RESDB_TRACE_TYPE_NEW_TXNS, 0, 1, 9, 0, d);
  RESDB_TRACE_V1(prepare_received, req, seq, RESDB_TRACE_TYPE_PREPARE, 2, 1, 9,
                 0, d);
  ResdbTraceCommitted(req, seq, RESDB_TRACE_TYPE_COMMIT, 0, 1, 9, 0, d);
  ResdbTraceConsensusCommit(req, seq, RESDB_TRACE_TYPE_COMMIT, 2, 9);
  // DeepObserve's direct call shape.
  resdb_trace_pbft_execute_end(
      req, seq, ResdbTracePackMeta(RESDB_TRACE_TYPE_COMMIT, 0, 1), 9,
      ResdbTraceEpochNs());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--list") == 0) {
#define X(id, name, Name, abi, type, event, where, seq_arg, aux_arg) \
  std::printf("resdb_trace_%s\n", #name);
    RESDB_TRACE_HOOKS(X)
#undef X
    return 0;
  }
  for (uint64_t seq = 1; seq <= 100; ++seq) ReportOneRequest(seq);
  std::printf("consumer: 100 requests reported, tracing %s\n",
              RESDB_TRACE_ENABLED(committed) ? "attached" : "detached");
  return 0;
}
