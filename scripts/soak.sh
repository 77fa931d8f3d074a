#!/usr/bin/env bash
# Soak: the traced demo cluster + a rate_target process at ~100 k events/s
# through the collector to two gRPC subscribers for SECONDS (default 600);
# checks that every produced event is delivered or counted as dropped, and
# that the collector's RSS, live heap and open fds stay flat (scripts/soak.py). CI runs
# `scripts/soak.sh --seconds 60`. As root, after scripts/setup.sh. Ends with
# one line `N passed, N failed`.
#
#   scripts/soak.sh [--seconds S] [--rate EVENTS_PER_S] [--demo-rate REQ_PER_S]
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/bazel_flags.sh

if [[ $(id -u) -ne 0 ]]; then
  echo "soak: run as root (the collector loads BPF programs)" >&2
  echo "0 passed, 1 failed"
  exit 1
fi
if ! bazel build "${RESDB_TRACE_BAZEL_FLAGS[@]}" --jobs=2 \
  //collector:resdb-trace-collector //clients/cli:resdb-trace \
  //bench:rate_target //bench:subscriber //demo:replica //demo:client \
  >/tmp/resdb-trace-soak-build.log 2>&1; then
  tail -20 /tmp/resdb-trace-soak-build.log
  echo "soak: build failed"
  echo "0 passed, 1 failed"
  exit 1
fi
bin_dir=$(bazel info "${RESDB_TRACE_BAZEL_FLAGS[@]}" bazel-bin 2>/dev/null)
log=$(mktemp /tmp/resdb-trace-soak.XXXXXX.log)
python3 scripts/soak.py --bin-dir "$bin_dir" "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
# soak.py ends with its own count line, unless it could not run at all.
tail -1 "$log" | grep -qE '^[0-9]+ passed, [0-9]+ failed$' || echo "0 passed, 1 failed"
rm -f "$log"
exit "$rc"
