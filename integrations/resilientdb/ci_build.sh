#!/usr/bin/env bash
# CI step: builds ResilientDB rc3 (../shared/resilientdb/) with
# resdb_trace.patch, offline, into a fixed OUT, and prints one line with the
# time it took. Exits non-zero with the reason (and build.sh's log) on failure.
#
# Usage: ci_build.sh [OUT]   (default ~/.cache/resdb_trace/resilientdb-out/rc3)
# Env: RESDB_SHARED_DIR (the snapshots' folder), RESDB_TRACE_CACHE (caches),
#      RESDB_BUILD_JOBS (Bazel --jobs, default 2).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
shared=${RESDB_SHARED_DIR:-$(dirname "$root")/shared/resilientdb}
snapshot=$shared/resilientdb-v1.12.0-incubating-rc3-ee21e870.tar.gz
out=${1:-${HOME}/.cache/resdb_trace/resilientdb-out/rc3}

if [[ ! -f $snapshot ]]; then
  echo "resilientdb ci build: FAILED: no snapshot at $snapshot (set RESDB_SHARED_DIR)" >&2
  exit 1
fi
start=$(date +%s)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if "$here/build.sh" --jobs "${RESDB_BUILD_JOBS:-2}" "$snapshot" "$out" >"$log" 2>&1; then
  echo "resilientdb ci build: rc3 + resdb_trace.patch built in $(($(date +%s) - start)) s -> $out"
else
  rc=$?
  cat "$log" >&2
  echo "resilientdb ci build: FAILED after $(($(date +%s) - start)) s (build.sh exit $rc)" >&2
  exit 1
fi
