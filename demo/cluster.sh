#!/usr/bin/env bash
# Runs the resdb_trace demo PBFT cluster: n replicas + one client on
# 127.0.0.1, optional faults, then stops everything and checks safety.
#
#   bazel run //demo:cluster -- --count 1000 --fault 1:crash_primary_after=100
#   demo/cluster.sh --n 4 --count 200 --out /tmp/run1   (after bazel build)
#
# Options (defaults in brackets):
#   --n N [4]  --count N [200]  --concurrency N [8]  --rate R [0 = closed loop]
#   --checkpoint_interval K [50]  --view_change_timeout_ms MS [500]
#   --batch_size B [1]  --client_timeout_ms MS [500]  --deadline_s S [50]
#   --fault ID:SPEC   replica ID gets --fault=SPEC (repeatable), e.g.
#                     1:crash_primary_after=50  4:silent  1:stall_primary_after=50
#                     2:slow_link=3:20
#   --base_port P [random free]  --out DIR [mktemp]  --settle_s S [3]
#   --bin_dir DIR     where `replica` and `client` are (found automatically)
#   --json            client prints a JSON summary line
# Output in DIR: replica_<i>.log (seq digest txns view), replica_<i>.log.status,
# replica_<i>.err, client.out. Exit status: the client's (0 = all requests
# completed), or 3 if replica logs disagree on any seq.
set -uo pipefail

N=4 COUNT=200 CONC=8 RATE=0 CKPT=50 VCTO=500 BATCH=1 CTO=500 DEADLINE=50
BASE_PORT="" OUT="" SETTLE=3 BIN_DIR="" JSON=""
declare -A FAULT=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --n) N=$2; shift 2 ;;
    --count) COUNT=$2; shift 2 ;;
    --concurrency) CONC=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --checkpoint_interval) CKPT=$2; shift 2 ;;
    --view_change_timeout_ms) VCTO=$2; shift 2 ;;
    --batch_size) BATCH=$2; shift 2 ;;
    --client_timeout_ms) CTO=$2; shift 2 ;;
    --deadline_s) DEADLINE=$2; shift 2 ;;
    --fault) id=${2%%:*}; spec=${2#*:}
             FAULT[$id]="${FAULT[$id]:+${FAULT[$id]},}$spec"; shift 2 ;;
    --base_port) BASE_PORT=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --settle_s) SETTLE=$2; shift 2 ;;
    --bin_dir) BIN_DIR=$2; shift 2 ;;
    --json) JSON=--json; shift ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "cluster.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

if [[ -z "$BIN_DIR" ]]; then
  here=$(dirname "$0")
  for d in "${RUNFILES_DIR:-/nonexistent}/resdb_trace/demo" "$0.runfiles/resdb_trace/demo" \
           "$here" "$PWD/demo" "$here/../bazel-bin/demo"; do
    if [[ -x "$d/replica" && -x "$d/client" ]]; then BIN_DIR=$d; break; fi
  done
fi
[[ -x "$BIN_DIR/replica" ]] || { echo "cluster.sh: replica binary not found (--bin_dir)" >&2; exit 2; }
[[ -n "$OUT" ]] || OUT=$(mktemp -d /tmp/resdb_demo.XXXXXX)
mkdir -p "$OUT"
rm -f "$OUT"/replica_*.log "$OUT"/replica_*.log.status "$OUT"/replica_*.err "$OUT"/client.out "$OUT"/client.err

PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for _ in $(seq 1 30); do
    local alive=0
    for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [[ $alive == 0 ]] && break
    sleep 0.1
  done
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  PIDS=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_replicas() {
  local i
  for i in $(seq 1 "$N"); do
    "$BIN_DIR/replica" --id="$i" --n="$N" --base_port="$BASE_PORT" \
      --checkpoint_interval="$CKPT" --view_change_timeout_ms="$VCTO" \
      --batch_size="$BATCH" --fault="${FAULT[$i]:-none}" \
      --log_file="$OUT/replica_$i.log" 2>"$OUT/replica_$i.err" &
    PIDS+=($!)
  done
}

fixed_port=$BASE_PORT
for attempt in 1 2 3 4 5; do
  if [[ -z "$fixed_port" ]]; then
    while true; do
      BASE_PORT=$(( 20000 + (RANDOM * 32768 + RANDOM) % 38000 ))
      ok=1
      for i in $(seq 1 "$N"); do port_free $((BASE_PORT + i)) || { ok=0; break; }; done
      [[ $ok == 1 ]] && break
    done
  fi
  start_replicas
  sleep 0.3
  dead=0
  for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null || dead=1; done
  [[ $dead == 0 ]] && break
  echo "cluster.sh: a replica failed to start on base port $BASE_PORT; retrying" >&2
  cleanup
  [[ -n "$fixed_port" || $attempt == 5 ]] && { cat "$OUT"/replica_*.err >&2; exit 2; }
done
echo "cluster.sh: $N replicas on 127.0.0.1:$((BASE_PORT + 1))..$((BASE_PORT + N)), out=$OUT" \
     "faults: $(for k in "${!FAULT[@]}"; do printf '%s:%s ' "$k" "${FAULT[$k]}"; done)"

"$BIN_DIR/client" --replicas="$N" --base_port="$BASE_PORT" --count="$COUNT" \
  --concurrency="$CONC" --rate="$RATE" --request_timeout_ms="$CTO" \
  --deadline_s="$DEADLINE" $JSON >"$OUT/client.out" 2>"$OUT/client.err" &
CLIENT=$!
PIDS+=($CLIENT)
wait "$CLIENT"
client_rc=$?
cat "$OUT/client.out"

# Let live replicas catch up (same number of executed seqs), then stop them.
lines() { [[ -f "$1" ]] && wc -l <"$1" || echo 0; }
end=$((SECONDS + SETTLE))
while (( SECONDS < end )); do
  counts=()
  for i in $(seq 1 "$N"); do
    kill -0 "${PIDS[$((i - 1))]}" 2>/dev/null && counts+=("$(lines "$OUT/replica_$i.log")")
  done
  [[ $(printf '%s\n' "${counts[@]}" | sort -u | wc -l) -le 1 ]] && break
  sleep 0.1
done
cleanup

# Safety: no two replicas executed different digests at the same seq, and
# every replica executed a gap-free prefix 1..m.
check_rc=0
awk '
  FNR == 1 { expect = 1 }
  { if ($1 != expect) { printf "GAP %s: seq %s, expected %d\n", FILENAME, $1, expect; bad = 1 }
    expect = $1 + 1
    if (($1) in d && d[$1] != $2) { printf "CONFLICT seq %s: %s vs %s (%s)\n", $1, d[$1], $2, FILENAME; bad = 1 }
    d[$1] = $2 }
  END { exit bad }' $(for i in $(seq 1 "$N"); do [[ -f "$OUT/replica_$i.log" ]] && echo "$OUT/replica_$i.log"; done) \
  | head -20; [[ ${PIPESTATUS[0]} == 0 ]] || check_rc=3
for i in $(seq 1 "$N"); do
  printf 'replica %d: executed %s seqs; %s\n' "$i" "$(lines "$OUT/replica_$i.log")" \
    "$(cat "$OUT/replica_$i.log.status" 2>/dev/null || echo 'no status')"
done
if [[ $check_rc != 0 ]]; then
  echo "cluster.sh: SAFETY CHECK FAILED" >&2
  exit $check_rc
fi
echo "cluster.sh: safety check passed (logs agree on every common seq)"
exit $client_rc
