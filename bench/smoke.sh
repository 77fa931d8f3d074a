#!/usr/bin/env bash
# Quick benchmark check for CI (scripts/test.sh runs it): real eBPF, well
# under 2 minutes, and it fails only on gross regressions, never on noise:
#   - a hook hit with the collector attached costs more than 3x the empty
#     uprobe floor (median of 3 interleaved runs; about 1.4x here);
#   - any event neither delivered to the gRPC subscriber nor reported lost
#     (in the attached benchmark and in two pipeline runs, one overloaded);
#   - the floor probe or the pipeline delivering nothing at all.
# Uses the default build configuration, which scripts/test.sh has just built;
# bench/run_all.sh is the full, -c opt measurement.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bazel_flags.sh

if [[ $(id -u) -ne 0 ]]; then
  echo "smoke: run as root (the benchmarks load BPF programs)" >&2
  exit 1
fi
bazel build "${RESDB_TRACE_BAZEL_FLAGS[@]}" --jobs=2 \
  //bench:attached_bench //bench:rate_target //bench:subscriber \
  //collector:resdb-trace-collector >/dev/null 2>&1 ||
  { echo "smoke: FAIL: build failed"; exit 1; }
bin_dir=$(bazel info "${RESDB_TRACE_BAZEL_FLAGS[@]}" bazel-bin 2>/dev/null)
exec python3 bench/driver.py smoke --bin-dir "$bin_dir"
