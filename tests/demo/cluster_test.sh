#!/usr/bin/env bash
# End-to-end tests of the demo PBFT cluster: real replica and client
# processes on 127.0.0.1 (random free base port), driven by demo/cluster.sh.
#   cluster_test.sh normal|crash_primary|silent|checkpoint|stall_primary
set -uo pipefail

SCENARIO=${1:?scenario}
HERE=$(cd "$(dirname "$0")" && pwd)
CLUSTER=""
for c in "${TEST_SRCDIR:-/nonexistent}/${TEST_WORKSPACE:-resdb_trace}/demo/cluster.sh" \
         "$PWD/demo/cluster.sh" "$HERE/../../demo/cluster.sh"; do
  [[ -x "$c" ]] && { CLUSTER=$c; break; }
done
[[ -n "$CLUSTER" ]] || { echo "cluster.sh not found"; exit 1; }
OUT=${TEST_TMPDIR:-$(mktemp -d)}/$SCENARIO
mkdir -p "$OUT"

fail() {
  echo "FAIL [$SCENARIO]: $*"
  for f in "$OUT"/*.err; do echo "--- $f"; tail -n 15 "$f"; done
  exit 1
}
run() {
  echo "+ cluster.sh $*"
  timeout 55 "$CLUSTER" --out "$OUT" --deadline_s 40 "$@"
  RC=$?
  echo "cluster.sh exit $RC"
}
status() {  # status <replica> <key>
  grep -o "\b$2=[^ ]*" "$OUT/replica_$1.log.status" 2>/dev/null | cut -d= -f2
}
executed() { wc -l <"$OUT/replica_$1.log"; }
same_logs() {  # identical (seq, digest) sequences on every listed replica
  local ref
  ref=$(cut -d' ' -f1,2 "$OUT/replica_$1.log" | md5sum)
  for r in "$@"; do
    [[ $(cut -d' ' -f1,2 "$OUT/replica_$r.log" | md5sum) == "$ref" ]] ||
      fail "replica $r's executed log differs from replica $1's"
  done
}

case "$SCENARIO" in
  normal)
    run --count 200
    [[ $RC == 0 ]] || fail "client did not complete all 200 requests (rc $RC)"
    grep -q "completed 200/200" "$OUT/client.out" || fail "client summary"
    same_logs 1 2 3 4
    [[ $(executed 1) == 200 ]] || fail "expected 200 executed seqs, got $(executed 1)"
    for r in 1 2 3 4; do [[ $(status $r view) == 0 ]] || fail "replica $r left view 0"; done
    # The hooks stay visible in .dynsym (what the tracer attaches to).
    if command -v nm >/dev/null; then
      BIN=$(dirname "$CLUSTER")/replica
      SYMS=$(nm -D "$BIN")
      for h in resdb_trace_consensus_commit resdb_trace_prepared resdb_trace_committed \
               resdb_trace_view_change_started resdb_trace_semaphores; do
        grep -q " $h\$" <<<"$SYMS" || fail "$h not exported by the replica"
      done
    fi
    ;;
  crash_primary)
    run --count 200 --fault 1:crash_primary_after=50 --view_change_timeout_ms 400 \
        --client_timeout_ms 400
    [[ $RC == 0 ]] || fail "client did not complete after the primary crashed (rc $RC)"
    [[ $(status 1 exit) == crashed ]] || fail "replica 1 did not crash"
    [[ $(executed 1) -ge 50 ]] || fail "replica 1 executed only $(executed 1) seqs"
    for r in 2 3 4; do
      [[ $(status $r view) == 1 ]] || fail "replica $r is in view $(status $r view), want 1"
    done
    same_logs 2 3 4
    # cluster.sh already failed (rc 3) if replica 1's prefix disagreed.
    grep -q "view change -> 1" "$OUT/replica_2.err" || fail "no view change logged"
    grep -q "NEWVIEW 1" "$OUT/replica_2.err" || fail "replica 2 sent no NEWVIEW"
    ;;
  silent)
    run --count 200 --fault 4:silent
    [[ $RC == 0 ]] || fail "client did not complete with a silent backup (rc $RC)"
    same_logs 1 2 3 4
    for r in 1 2 3 4; do [[ $(status $r view) == 0 ]] || fail "unexpected view change"; done
    ;;
  checkpoint)
    run --count 200 --checkpoint_interval 20
    [[ $RC == 0 ]] || fail "client did not complete (rc $RC)"
    for r in 1 2 3 4; do
      s=$(status $r stable_checkpoint)
      [[ -n "$s" && $s -ge 180 && $((s % 20)) == 0 ]] ||
        fail "replica $r stable checkpoint '$s', want a multiple of 20 >= 180"
    done
    same_logs 1 2 3 4
    ;;
  stall_primary)
    run --count 200 --fault 1:stall_primary_after=30 --view_change_timeout_ms 400 \
        --client_timeout_ms 400
    [[ $RC == 0 ]] || fail "client did not complete after the primary stalled (rc $RC)"
    [[ $(status 1 stalled) == 1 ]] || fail "replica 1 did not stall"
    for r in 2 3 4; do [[ $(status $r view) == 1 ]] || fail "replica $r not in view 1"; done
    same_logs 2 3 4
    ;;
  *) echo "unknown scenario $SCENARIO"; exit 2 ;;
esac
echo "PASS [$SCENARIO]"
