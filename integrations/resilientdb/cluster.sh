#!/usr/bin/env bash
# A local Apache ResilientDB KV cluster on 127.0.0.1: 4 kv_service replicas
# and 1 client proxy, with keys and certificates from ResilientDB's own tools,
# driven by ResilientDB's own KV client. The binaries come from build.sh.
#
# Usage: cluster.sh [--out OUT] [--dir DIR] [--port-base P] COMMAND
#   start        generate keys, certificates and configs (once per DIR), then
#                start the 5 processes (pids in DIR/pids); waits until a set
#                and a get through the proxy succeed
#   stop         SIGKILL every process in DIR/pids (kv_service ignores SIGTERM)
#   status       one line per process: alive or not, pid, listening ports
#   load N [P]   N sets (keys P0..P(N-1), default prefix "k") then N gets
#                with kv_service_tools; prints ok/failed counts and the time
#   set K V | get K   one request with kv_service_tools
#   pids         the 5 pids, one per line (for --pid or checks)
# Options:
#   --out OUT    build.sh's OUT (default ~/.cache/resdb_trace/resilientdb-out/rc3)
#   --dir DIR    state: keys, certs, configs, logs, pids
#                (default ${TMPDIR:-/tmp}/resdb_trace-cluster)
#   --port-base P  replica i listens on P+i and P+i+10000, the proxy on P+5
#                and P+10005 (default 20000)
# Replica and proxy logs: DIR/nodeI/log (glog to stderr). View change is on
# (timeout 10 s), ResView's HTTP endpoint (Crow, all interfaces) is off.
set -euo pipefail

out=${HOME}/.cache/resdb_trace/resilientdb-out/rc3
dir=${TMPDIR:-/tmp}/resdb_trace-cluster
port_base=20000
while (($#)); do
  case $1 in
    --out) out=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --port-base) port_base=$2; shift 2 ;;
    -h | --help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) break ;;
  esac
done
(($#)) || { echo "usage: cluster.sh [--out OUT] [--dir DIR] [--port-base P] start|stop|status|load N|set K V|get K|pids" >&2; exit 2; }
cmd=$1
shift

die() { echo "cluster: $*" >&2; exit 1; }
replicas=(1 2 3 4)
proxy=5
nodes=("${replicas[@]}" "$proxy")
kv=$out/kv_service
tool=$out/kv_service_tools

# Running (a zombie, or a pid now another program's, is not).
alive() {
  [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null &&
    [[ $(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) != Z ]] &&
    [[ $(readlink "/proc/$1/exe" 2>/dev/null) == "$(realpath "$kv")" ]]
}
pid_of() { [[ ! -f $dir/pids ]] || awk -v n="node$1" '$1 == n { print $2 }' "$dir/pids"; }

# --- keys, certificates, configs (ResilientDB's tools) -----------------------
setup() {
  for b in kv_service kv_service_tools key_generator_tools certificate_tools; do
    [[ -x $out/$b ]] || die "$out/$b is missing: run integrations/resilientdb/build.sh first"
  done
  mkdir -p "$dir/cert"
  if [[ ! -f $dir/cert/admin.key.pri ]]; then
    "$out/key_generator_tools" "$dir/cert/admin" >"$dir/keys.log" 2>&1 ||
      die "key_generator_tools failed (see $dir/keys.log)"
  fi
  local i role
  for i in "${nodes[@]}"; do
    [[ -f $dir/cert/cert_$i.cert ]] && continue
    "$out/key_generator_tools" "$dir/cert/node$i" >>"$dir/keys.log" 2>&1 ||
      die "key_generator_tools failed (see $dir/keys.log)"
    role=replica
    ((i == proxy)) && role=client
    "$out/certificate_tools" "$dir/cert/" "$dir/cert/admin.key.pri" "$dir/cert/admin.key.pub" \
      "$dir/cert/node$i.key.pub" "$i" 127.0.0.1 "$((port_base + i))" "$role" >>"$dir/keys.log" 2>&1 ||
      die "certificate_tools failed (see $dir/keys.log)"
    [[ -f $dir/cert/cert_$i.cert ]] || die "certificate_tools wrote no $dir/cert/cert_$i.cert"
  done
  # ResConfigData (platform/proto/replica_info.proto), as JSON.
  {
    echo '{'
    echo '  "region": [{'
    echo '    "replica_info": ['
    for i in "${replicas[@]}"; do
      printf '      {"id": %d, "ip": "127.0.0.1", "port": %d}%s\n' "$i" "$((port_base + i))" \
        "$( ((i < ${replicas[-1]})) && echo ,)"
    done
    echo '    ],'
    echo '    "region_id": 1'
    echo '  }],'
    echo '  "self_region_id": 1,'
    echo '  "enable_viewchange": true,'
    echo '  "view_change_timeout_ms": 10000,'
    echo '  "require_txn_validation": true,'
    echo '  "enable_resview": false,'
    echo '  "enable_faulty_switch": false'
    echo '}'
  } >"$dir/server.config"
  # The client side: where the proxy is (as service/tools/config/interface).
  printf '{"replica_info": [{"id": %d, "ip": "127.0.0.1", "port": %d}]}\n' \
    "$proxy" "$((port_base + proxy))" >"$dir/client.config"
}

# Starts node $1 in the background; appends "nodeI PID" to DIR/pids.
launch() {
  local i=$1
  mkdir -p "$dir/node$i"
  # cwd = the node's folder: the storage path (<port>_db/) is relative.
  (cd "$dir/node$i" && exec setsid "$kv" "$dir/server.config" "$dir/cert/node$i.key.pri" \
    "$dir/cert/cert_$i.cert" </dev/null >>log 2>&1) &
  disown $!
  echo "node$i $!" >>"$dir/pids"
}

start() {
  local i pid try
  for i in "${nodes[@]}"; do
    alive "$(pid_of "$i")" && die "node$i is already running (cluster.sh --dir $dir stop)"
  done
  setup
  : >"$dir/pids"
  rm -f "$dir"/node*/log
  for i in "${nodes[@]}"; do
    launch "$i"
  done
  # ResilientDB (rc3 and master) starts accepting in ServiceNetwork's
  # constructor before it sets global_stats_; a peer's message in that window
  # crashes the process in Stats::ServerCall (null). Restart such a node.
  for try in 1 2 3; do
    sleep 2
    local dead=()
    for i in "${nodes[@]}"; do
      alive "$(pid_of "$i")" || dead+=("$i")
    done
    ((${#dead[@]} == 0)) && break
    ((try == 3)) && die "node${dead[0]} keeps exiting at start; its log: $dir/node${dead[0]}/log"
    for i in "${dead[@]}"; do
      echo "cluster: node$i died at start (ResilientDB's startup race, see cluster.sh); restarting it"
      sed -i "/^node$i /d" "$dir/pids"
      launch "$i"
    done
  done
  # Ready when a write and a read go through the proxy.
  local t
  for t in $(seq 1 30); do
    if request set resdb_trace_ready 1 | grep -q 'ret = 0' &&
      request get resdb_trace_ready | grep -q 'value = 1'; then
      echo "cluster: 4 replicas + proxy on 127.0.0.1:$((port_base + 1))-$((port_base + proxy)), ready ($dir)"
      return 0
    fi
    sleep 1
  done
  die "no reply through the proxy after 30 s; logs: $dir/node*/log"
}

stop() {
  local n pid
  [[ -f $dir/pids ]] || { echo "cluster: nothing started in $dir"; return 0; }
  while read -r n pid; do
    if alive "$pid"; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done <"$dir/pids"
  local t left
  for t in $(seq 1 50); do
    left=0
    while read -r n pid; do
      alive "$pid" && left=$((left + 1))
    done <"$dir/pids"
    ((left == 0)) && break
    sleep 0.1
  done
  ((left == 0)) || die "$left process(es) still alive 5 s after SIGKILL"
  rm -f "$dir/pids"
  echo "cluster: stopped"
}

status() {
  local i pid ports up=0
  for i in "${nodes[@]}"; do
    pid=$(pid_of "$i")
    if alive "$pid"; then
      up=$((up + 1))
      ports=$(ss -Htlnp 2>/dev/null | awk -v p="pid=$pid," 'index($0, p) { print $4 }' | sort | paste -sd ' ')
      echo "node$i $( ((i == proxy)) && echo proxy || echo replica) pid $pid alive; listening: ${ports:-?}"
    else
      echo "node$i $( ((i == proxy)) && echo proxy || echo replica) down${pid:+ (pid $pid)}"
    fi
  done
  ((up == ${#nodes[@]}))
}

# One request with ResilientDB's own client (old positional API).
request() {
  timeout 30 "$tool" "$dir/client.config" "$@" 2>>"$dir/client.log"
}

load() {
  local n=${1:?load N [PREFIX]} prefix=${2:-k} i ok_set=0 ok_get=0 start end
  [[ -f $dir/client.config ]] || die "no cluster in $dir (cluster.sh start)"
  alive "$(pid_of "$proxy")" || die "the proxy (node$proxy) is not running (cluster.sh status)"
  start=$(date +%s.%N)
  for ((i = 0; i < n; i++)); do
    request set "$prefix$i" "v$i" | grep -q 'ret = 0' && ok_set=$((ok_set + 1))
  done
  for ((i = 0; i < n; i++)); do
    request get "$prefix$i" | grep -qx "client get value = v$i" && ok_get=$((ok_get + 1))
  done
  end=$(date +%s.%N)
  printf 'cluster: %d/%d sets ok, %d/%d gets ok in %.1f s (client stderr: %s)\n' \
    "$ok_set" "$n" "$ok_get" "$n" "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')" "$dir/client.log"
  ((ok_set == n && ok_get == n))
}

case $cmd in
  start) start ;;
  stop) stop ;;
  status) status ;;
  load) load "$@" ;;
  set) request set "${1:?set K V}" "${2:?set K V}" ;;
  get) request get "${1:?get K}" ;;
  pids) [[ ! -f $dir/pids ]] || awk '{ print $2 }' "$dir/pids" ;;
  *) die "unknown command $cmd" ;;
esac
