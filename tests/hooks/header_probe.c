/* Compiled by header_matrix_test.sh as C11 and as C++11..C++23 with
 * -Wall -Wextra -Werror -pedantic: every public name of hooks.h is used.
 * PROBE_FN names this object's function; with PROBE_MAIN the object also
 * holds main(), which calls the functions of the other objects linked with
 * it (each carries its own COMDAT copy of every hook and of the table). */
#include "resdb_trace/hooks.h"

#if defined(__cplusplus)
#define PROBE_EXTERN extern "C"
#else
#define PROBE_EXTERN
#endif

#ifndef PROBE_FN
#define PROBE_FN probe_main
#endif

PROBE_EXTERN int PROBE_FN(int n);

PROBE_EXTERN int PROBE_FN(int n) {
  const char digest[] = "0123456789abcdef";
  const uint64_t d = ResdbTraceDigestPrefix(digest, sizeof(digest) - 1);
  const uint64_t meta = ResdbTracePackMeta(RESDB_TRACE_TYPE_PREPARE, 2, 1);
  const uint64_t seq = (uint64_t)n;
  int failures = 0;

  ResdbTraceRequestReceived(0, seq, RESDB_TRACE_TYPE_NEW_TXNS, 0, 1, 7, 0, d);
  ResdbTracePbftPrepareRecv(0, seq, RESDB_TRACE_TYPE_PREPARE, 2, 1, 7);
  ResdbTraceConsensusCommit(0, seq, RESDB_TRACE_TYPE_PREPARE, 2, 7);
  RESDB_TRACE_V1(prepare_received, 0, seq, RESDB_TRACE_TYPE_PREPARE, 2, 1, 7, 0,
                 d);
  resdb_trace_pbft_commit_state(0, seq, meta, 7, ResdbTraceEpochNs());
  resdb_trace_consensus_commit(0, seq, RESDB_TRACE_TYPE_COMMIT, 2, 7);
  resdb_trace_user(0, seq, meta, 7, 0, d);

  if (ResdbTraceMetaType(meta) != RESDB_TRACE_TYPE_PREPARE) ++failures;
  if (ResdbTraceMetaSender(meta) != 2) ++failures;
  if (ResdbTraceMetaSelf(meta) != 1) ++failures;
  if (RESDB_TRACE_ENABLED(user)) ++failures;
  if (ResdbTraceEnabled(RESDB_TRACE_ID_user)) ++failures;
  if (RESDB_TRACE_ID_END <= RESDB_TRACE_ID_user) ++failures;
  return failures;
}

#if defined(PROBE_MAIN)
PROBE_EXTERN int probe_gxx(int n);
PROBE_EXTERN int probe_clangxx(int n);
PROBE_EXTERN int probe_clang(int n);

int main(void) {
  int failures = PROBE_FN(1) + probe_gxx(2) + probe_clangxx(3) + probe_clang(4);
  /* One table for the whole program: a slot raised here is seen by every
   * object's wrappers (the COMDAT copies were merged into one). */
  resdb_trace_semaphores[RESDB_TRACE_ID_user] = 1;
  if (!ResdbTraceEnabled(RESDB_TRACE_ID_user)) ++failures;
  /* probe_clangxx now sees both is-enabled checks true: two "failures". */
  if (probe_clangxx(5) != 2) ++failures;
  return failures;
}
#endif
