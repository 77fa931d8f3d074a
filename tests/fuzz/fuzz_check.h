// FUZZ_CHECK: an invariant of a fuzz target. A violation aborts, which both
// libFuzzer and the replay tests report as a failure with the input that
// caused it; unlike assert() it stays on in optimized builds.
#ifndef RESDB_TRACE_TESTS_FUZZ_FUZZ_CHECK_H_
#define RESDB_TRACE_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                               \
  do {                                                                 \
    if (!(cond)) {                                                     \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, \
                   __LINE__, #cond);                                   \
      std::abort();                                                    \
    }                                                                  \
  } while (0)

#endif  // RESDB_TRACE_TESTS_FUZZ_FUZZ_CHECK_H_
