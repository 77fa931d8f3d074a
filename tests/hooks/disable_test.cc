// With RESDB_TRACE_DISABLE every gated call compiles to nothing (arguments
// are still type-checked but never evaluated), even while a slot is raised.
#include <cstdint>

#include "gtest/gtest.h"
#include "resdb_trace/hooks.h"

#if !defined(RESDB_TRACE_DISABLE)
#error "this test must be compiled with -DRESDB_TRACE_DISABLE"
#endif

namespace {

TEST(DisableTest, GatedCallsNeverEvaluateArguments) {
  resdb_trace_semaphores[RESDB_TRACE_ID_user] = 1;
  resdb_trace_semaphores[RESDB_TRACE_ID_prepare_received] = 1;
  int evaluated = 0;
  RESDB_TRACE_V1(user, ++evaluated, 1, 0, 0, 0, 0, 0, 0);
  RESDB_TRACE_V1(prepare_received, ++evaluated, 1, RESDB_TRACE_TYPE_PREPARE, 2,
                 1, 0, 0, 0);
  EXPECT_EQ(evaluated, 0);
  resdb_trace_semaphores[RESDB_TRACE_ID_user] = 0;
  resdb_trace_semaphores[RESDB_TRACE_ID_prepare_received] = 0;
}

TEST(DisableTest, WrappersAndRawHooksStillCompile) {
  ResdbTraceConsensusCommit(1, 2, RESDB_TRACE_TYPE_PREPARE, 3, 4);
  ResdbTracePbftPrepareRecv(1, 2, RESDB_TRACE_TYPE_PREPARE, 3, 1, 4);
  ResdbTracePrepareReceived(1, 2, RESDB_TRACE_TYPE_PREPARE, 3, 1, 4, 5, 6);
  // Direct calls (DeepObserve's style) are not gated and still link.
  resdb_trace_pbft_commit_state(1, 2, ResdbTracePackMeta(5, 0, 1), 4,
                                ResdbTraceEpochNs());
  resdb_trace_user(1, 2, 3, 4, 5, 6);
  // The is-enabled query itself keeps reading the table.
  EXPECT_FALSE(RESDB_TRACE_ENABLED(user));
  EXPECT_FALSE(ResdbTraceEnabled(RESDB_TRACE_ID_user));
}

}  // namespace
