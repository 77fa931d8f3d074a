#!/usr/bin/env bash
# `bash scripts/demo.sh --resilientdb`: the demo's story on real Apache
# ResilientDB. Builds rc3 + resdb_trace.patch offline
# (integrations/resilientdb/ci_build.sh) and the collector, starts the
# collector on the real kv_service (--binary, --profile), brings up 4
# replicas + a proxy (integrations/resilientdb/cluster.sh) under load from
# ResilientDB's own KV client, kills the primary half-way (a real view
# change), and shows `resdb-trace top`, one request's timeline across the
# replicas, the view-change episode, a CPU profile of a backup (replica 2)
# and the collector's counters. Needs root (eBPF).
#
#   bash scripts/demo.sh --resilientdb [--count N] [--keep]
#     --count N   KV sets+gets per load phase (default 40; two phases)
#     --keep      keep the collector running at the end (the cluster is stopped)
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=40 KEEP=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --resilientdb) shift ;;
    --count) COUNT=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "demo.sh --resilientdb: unknown option $1" >&2; exit 2 ;;
  esac
done
source scripts/bazel_flags.sh
bash scripts/setup.sh

echo "== build: ResilientDB rc3 + resdb_trace.patch (offline; cold: tens of minutes, warm: seconds)"
integrations/resilientdb/ci_build.sh
out=${HOME}/.cache/resdb_trace/resilientdb-out/rc3
echo "== build: collector and CLI (Bazel, offline)"
bazel_quiet build "${RESDB_TRACE_BAZEL_FLAGS[@]}" --jobs=2 \
  //collector:resdb-trace-collector //clients/cli:resdb-trace
bin=$(bazel info "${RESDB_TRACE_BAZEL_FLAGS[@]}" bazel-bin 2>/dev/null)
work=$(mktemp -d /tmp/resdb-trace-demo-rdb.XXXXXX)
sock="unix://$work/collector.sock"
cli=("$bin/clients/cli/resdb-trace" --listen "$sock")
cluster=(integrations/resilientdb/cluster.sh --out "$out" --dir "$work/cluster" --port-base 21000)
collector_pid="" top_pid=""
cleanup() {
  [[ -n $top_pid ]] && kill -INT "$top_pid" 2>/dev/null
  "${cluster[@]}" stop >/dev/null 2>&1 || true   # SIGKILL: kv_service ignores SIGTERM
  if [[ $KEEP == 0 && -n $collector_pid ]]; then
    kill -INT "$collector_pid" 2>/dev/null && wait "$collector_pid" 2>/dev/null
  fi
  return 0
}
trap cleanup EXIT

"$bin/collector/resdb-trace-collector" --binary "$out/kv_service" --listen "$sock" \
  --ready-file "$work/ready" --timeline-idle-ms 2000 --profile \
  --http-listen 127.0.0.1:8088 2>"$work/collector.err" &
collector_pid=$!
for _ in $(seq 1 300); do [[ -f $work/ready ]] && break; sleep 0.1; done
[[ -f $work/ready ]] || { cat "$work/collector.err" >&2; echo "demo: the collector did not start" >&2; exit 1; }
grep -E "hooks attached" "$work/collector.err" || true
echo "== web view: http://127.0.0.1:8088/ (while the demo runs, or after it with --keep)"

echo "== cluster: 4 kv_service replicas + proxy on 127.0.0.1:21001-21005 (keys from ResilientDB's tools)"
"${cluster[@]}" start
# Live view while the load runs (redraws in a terminal; a summary at the end).
"${cli[@]}" top --interval-ms 1000 &
top_pid=$!
# ResLens while the load runs: 5 s of replica 2's CPU, by PBFT phase.
"${cli[@]}" profile --replica 2 --seconds 5 -o "$work/replica2.svg" \
  -o "$work/replica2.md" -o "$work/replica2.pb.gz" >/dev/null 2>"$work/profile.err" &
profile_pid=$!
echo "== load: $COUNT sets + $COUNT gets with ResilientDB's kv_service_tools"
"${cluster[@]}" load "$COUNT" a || true
wait "$profile_pid" || true
echo "== the primary (node1) is killed (SIGKILL); the backups change view (timeout 10 s)"
kill -KILL "$(awk '$1 == "node1" { print $2 }' "$work/cluster/pids")"
after=$(( COUNT / 4 > 0 ? COUNT / 4 : 1 ))
echo "== load: $after sets + $after gets through the view change (the first ones wait for the new primary)"
"${cluster[@]}" load "$after" b ||
  echo "(a request the proxy sent to the dead primary times out after 30 s: expected during the view change)"
sleep 2.5  # let the last timelines close (idle timeout 2 s)
kill -INT "$top_pid" 2>/dev/null
wait "$top_pid" || true
top_pid=""

# A seq the collector still holds, in the old view (all 4 replicas took part).
seq=$("${cli[@]}" timelines --limit 4096 | awk '$1 == "seq" && $4 == 1 && $5 == "COMPLETE" { s[n++] = $2 } END { if (n) print s[int(n / 2)] }')
echo
echo "== one request through PBFT on every replica: resdb-trace timeline $seq"
[[ -n $seq ]] && { "${cli[@]}" timeline "$seq" || true; echo "(in the browser: http://127.0.0.1:8088/timeline/$seq)"; }
echo
echo "== view changes: resdb-trace viewchanges"
"${cli[@]}" viewchanges
echo
echo "== newest timelines (the new view first): resdb-trace timelines --limit 5"
"${cli[@]}" timelines --limit 5 || true
echo
echo "== CPU profile of replica 2, a backup (resdb-trace profile --replica 2 --seconds 5 -o ...)"
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
  echo "collector still running (pid $collector_pid): ${cli[*]} timeline SEQ | timelines | viewchanges"
  echo "web view: http://127.0.0.1:8088/ — this request: http://127.0.0.1:8088/timeline/$seq"
fi
