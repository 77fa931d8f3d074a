#!/usr/bin/env bash
# The main job on the bundled demo: installs packages, builds, starts the
# collector on the instrumented example replica, runs it, and shows the live
# event stream and the collector's stats. Needs root (eBPF).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bazel_flags.sh
bash scripts/setup.sh

bazel build "${RESDB_TRACE_BAZEL_FLAGS[@]}" \
  //collector:resdb-trace-collector //collector/cli:resdb-trace \
  //examples:pbft_example
bin=$(bazel info "${RESDB_TRACE_BAZEL_FLAGS[@]}" bazel-bin 2>/dev/null)
work=$(mktemp -d)
sock="unix://$work/collector.sock"
collector_pid=""
cleanup() {
  [[ -n $collector_pid ]] && kill -INT "$collector_pid" 2>/dev/null && wait "$collector_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

"$bin/collector/resdb-trace-collector" --binary "$bin/examples/pbft_example" \
  --listen "$sock" --ready-file "$work/ready" &
collector_pid=$!
for _ in $(seq 1 300); do [[ -f $work/ready ]] && break; sleep 0.1; done
[[ -f $work/ready ]] || { echo "demo: the collector did not start" >&2; exit 1; }

echo "== live events (prepared / committed / executed), 3 requests"
"$bin/collector/cli/resdb-trace" --listen "$sock" watch \
  --types prepared,committed,execute_end --seconds 3 &
watch_pid=$!
sleep 0.5
"$bin/examples/pbft_example" 3
wait "$watch_pid" || true

echo "== 20000 more requests, then the collector's own counters"
"$bin/examples/pbft_example" 20000
sleep 0.5
"$bin/collector/cli/resdb-trace" --listen "$sock" stats
