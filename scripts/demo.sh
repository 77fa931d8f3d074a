#!/usr/bin/env bash
# The main job on the bundled demo: installs packages, builds, starts the
# collector, brings up the 4-replica demo PBFT cluster under client load,
# crashes its primary half-way (a real view change), and shows the live
# per-phase view (`resdb-trace top`), then one request's timeline across
# the replicas, the view-change episode, a CPU profile (flamegraph + summary)
# of replica 2 and the collector's counters.
# Needs root (eBPF).
#
#   bash scripts/demo.sh [--count N] [--rate R] [--no-fault] [--keep]
#     --count N   client requests (default 6000)
#     --rate R    requests/s, 0 = closed loop (default 1000)
#     --no-fault  no primary crash
#     --keep      keep the collector running at the end (prints how to query it)
#   bash scripts/demo.sh --resilientdb [--count N] [--keep]
#     the same story on real Apache ResilientDB (scripts/demo_resilientdb.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
for arg in "$@"; do
  [[ $arg == --resilientdb ]] && exec bash scripts/demo_resilientdb.sh "$@"
done
COUNT=6000 RATE=1000 FAULT=1 KEEP=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --count) COUNT=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --no-fault) FAULT=0; shift ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "demo.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
source scripts/bazel_flags.sh
bash scripts/setup.sh

echo "== build (Bazel, offline; the first build takes several minutes)"
bazel_quiet build "${RESDB_TRACE_BAZEL_FLAGS[@]}" --jobs=2 \
  //collector:resdb-trace-collector //clients/cli:resdb-trace \
  //demo:replica //demo:client
bin=$(bazel info "${RESDB_TRACE_BAZEL_FLAGS[@]}" bazel-bin 2>/dev/null)
work=$(mktemp -d /tmp/resdb-trace-demo.XXXXXX)
sock="unix://$work/collector.sock"
cli=("$bin/clients/cli/resdb-trace" --listen "$sock")
collector_pid="" cluster_pid=""
cleanup() {
  [[ -n $cluster_pid ]] && kill "$cluster_pid" 2>/dev/null
  if [[ $KEEP == 0 && -n $collector_pid ]]; then
    kill -INT "$collector_pid" 2>/dev/null && wait "$collector_pid" 2>/dev/null
  fi
  return 0
}
trap cleanup EXIT

"$bin/collector/resdb-trace-collector" --binary "$bin/demo/replica" \
  --binary "$bin/demo/client" --listen "$sock" --ready-file "$work/ready" \
  --timeline-idle-ms 2000 --profile --http-listen 127.0.0.1:8088 \
  2>"$work/collector.err" &
collector_pid=$!
for _ in $(seq 1 300); do [[ -f $work/ready ]] && break; sleep 0.1; done
[[ -f $work/ready ]] || { cat "$work/collector.err" >&2; echo "demo: the collector did not start" >&2; exit 1; }
grep -E "hooks attached" "$work/collector.err" || true
echo "== web view: http://127.0.0.1:8088/ (live timelines, per-request diagrams, view changes, flamegraphs; while the demo runs, or after it with --keep)"

fault=()
if [[ $FAULT == 1 ]]; then
  fault=(--fault "1:crash_primary_after=$((COUNT / 2))")
  echo "== cluster: 4 replicas, $COUNT requests at ${RATE}/s; the primary (r1) crashes after $((COUNT / 2))"
else
  echo "== cluster: 4 replicas, $COUNT requests at ${RATE}/s"
fi
demo/cluster.sh --bin_dir "$bin/demo" --count "$COUNT" --rate "$RATE" \
  --concurrency 16 --out "$work/cluster" --settle_s 1 "${fault[@]}" \
  >"$work/cluster.out" 2>&1 &
cluster_pid=$!

# Live view while the cluster runs (redraws in a terminal; a summary at the end).
"${cli[@]}" top --interval-ms 1000 &
top_pid=$!
# ResLens while the load runs: 5 s of replica 2's CPU, by PBFT phase.
sleep 1
"${cli[@]}" profile --replica 2 --seconds 5 -o "$work/replica2.svg" \
  -o "$work/replica2.md" -o "$work/replica2.pb.gz" >/dev/null 2>"$work/profile.err" || true
wait "$cluster_pid" && cluster_rc=0 || cluster_rc=$?
cluster_pid=""
sleep 2.5  # let the last timelines close (idle timeout 2 s)
kill -INT "$top_pid" 2>/dev/null
wait "$top_pid" || true
echo
echo "== cluster result (exit $cluster_rc)"
tail -n 6 "$work/cluster.out"

# A seq the collector still holds: it keeps the newest 4096 closed timelines.
seq=$(( COUNT > 4000 ? COUNT - 1000 : COUNT * 3 / 4 ))
echo
echo "== one request through PBFT on every replica: resdb-trace timeline $seq"
"${cli[@]}" timeline "$seq" || true
echo "(in the browser: http://127.0.0.1:8088/timeline/$seq)"
echo
echo "== view changes: resdb-trace viewchanges"
"${cli[@]}" viewchanges
echo
echo "== slowest recent timelines: resdb-trace timelines --slow 20 --limit 5"
"${cli[@]}" timelines --slow 20 --limit 5 || true
echo
echo "== CPU profile of replica 2 (resdb-trace profile --replica 2 --seconds 5 -o ...)"
if [[ -s $work/replica2.md ]]; then
  sed -n '/## Phase breakdown/,/## Top functions/p' "$work/replica2.md" | head -n 20
  echo "flamegraph: $work/replica2.svg  summary: $work/replica2.md  pprof: $work/replica2.pb.gz"
else
  cat "$work/profile.err"
fi
echo
echo "== collector counters: resdb-trace stats"
"${cli[@]}" stats
if [[ $KEEP == 1 ]]; then
  echo
  echo "collector still running (pid $collector_pid): ${cli[*]} timeline SEQ | top | watch"
  echo "web view: http://127.0.0.1:8088/ — this request: http://127.0.0.1:8088/timeline/$seq, view changes: http://127.0.0.1:8088/viewchanges, profile: http://127.0.0.1:8088/profile"
fi
exit "$cluster_rc"
