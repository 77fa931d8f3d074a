#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine (as root):
#   installs the packages, builds everything with Bazel, runs every test
#   (BPF tests included: they need root and run, never skip), builds the
#   consumer workspace, runs the benchmark smoke mode, and ends with one line
#   `N passed, N failed`.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
source scripts/bazel_flags.sh

bash scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }

log=$(mktemp -d)/bazel-test.log
# exclusive tests (BPF, cluster) run alone; the rest two at a time.
bazel test "${RESDB_TRACE_BAZEL_FLAGS[@]}" --keep_going --jobs=2 \
  --local_test_jobs=2 --test_output=errors --test_summary=short //... 2>&1 | tee "$log"
bazel_rc=${PIPESTATUS[0]}

extra_pass=0
extra_fail=0
for check in tests/consumer/run.sh bench/smoke.sh; do
  [[ -x $check ]] || continue
  if "$check"; then extra_pass=$((extra_pass + 1)); else extra_fail=$((extra_fail + 1)); echo "FAILED: $check"; fi
done

python3 scripts/count_tests.py "$log" "$root/bazel-testlogs" "$extra_pass" "$extra_fail" "$bazel_rc"
