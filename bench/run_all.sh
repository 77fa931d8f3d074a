#!/usr/bin/env bash
# Every benchmark of issue #7 in one run, side by side, as ratios; writes the
# markdown table to bench/out/<date-time>/results.md (and prints it).
#
#   bench/run_all.sh            full run (about 25 minutes on 2 vCPUs)
#   bench/run_all.sh --quick    one repetition, short runs (a few minutes)
#   bench/run_all.sh --sections 1,3 [--reps N] [--no-build]
#
# Sections: 1 attached cost per hook hit (floor, ours, the seed's shape),
# 2 lossless throughput (ours, bare libbpf reader, the seed's bpftrace
# pipeline), 3 collector CPU per event and RSS, 4 hook -> subscriber latency
# and batching, 5 detached cost, 6 the demo cluster (off, attached, and
# attached + 99 Hz profiling when the collector has a --profile flag);
# 6b (only when asked for: --sections 6b) the CPU cost of 99 Hz profiling.
# Needs root (BPF) and bpftrace (scripts/setup.sh installs it). Builds with
# -c opt first. bench/driver.py does the measuring; bench/RESULTS.md explains
# a run.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bazel_flags.sh

build=1
driver_args=()
while (($#)); do
  case $1 in
    --no-build) build=0; shift ;;
    --quick) driver_args+=(--quick --reps 1); shift ;;
    --reps|--sections|--out) driver_args+=("$1" "$2"); shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "run_all.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

if [[ $(id -u) -ne 0 ]]; then
  echo "run_all.sh: run as root (the benchmarks load BPF programs)" >&2
  exit 1
fi
command -v bpftrace >/dev/null || { echo "run_all.sh: bpftrace missing (bash scripts/setup.sh)" >&2; exit 1; }

if ((build)); then
  bazel build "${RESDB_TRACE_BAZEL_FLAGS[@]}" --jobs=2 -c opt \
    //bench/... //collector:resdb-trace-collector //demo:replica //demo:client
fi
bin_dir=$(bazel info "${RESDB_TRACE_BAZEL_FLAGS[@]}" -c opt bazel-bin 2>/dev/null)
out=bench/out/$(date +%Y%m%d-%H%M%S)
exec python3 bench/driver.py all --bin-dir "$bin_dir" --out "$out" "${driver_args[@]}"
