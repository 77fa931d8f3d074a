# Sourced by the scripts: flags every Bazel invocation of ours shares.
# The disk cache lives outside the clone so fresh clones (and CI) reuse it.
RESDB_TRACE_BAZEL_FLAGS=(
  "--disk_cache=${HOME}/.cache/resdb_trace/bazel-disk"
)

# bazel_quiet CMD ARGS...: runs `bazel CMD ARGS...` with its output in a log
# file (Debian's Bazel 4.2.3 prints thousands of linux-sandbox debug lines),
# showing one progress line on a terminal. On failure it prints Bazel's
# errors and the log's path. Returns Bazel's exit code.
bazel_quiet() {
  local log rc=0 line start=$SECONDS
  log=$(mktemp "${TMPDIR:-/tmp}/resdb-trace-bazel.XXXXXX.log")
  bazel "$@" >"$log" 2>&1 &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    if [[ -t 1 ]]; then
      line=$(grep -aoE '^\[[0-9,]+ / [0-9,]+\][^;]*' "$log" | tail -n 1 | cut -c1-100)
      printf '\r\033[K  bazel %s: %s' "$1" "${line:-starting}"
    fi
    sleep 1
  done
  wait "$pid" || rc=$?
  [[ -t 1 ]] && printf '\r\033[K'
  if ((rc == 0)); then
    echo "  bazel $1: done in $((SECONDS - start)) s (log: $log)"
  else
    grep -aE '^(ERROR|FAIL)|error:|Error' "$log" | grep -v 'linux-sandbox' | head -n 40 >&2
    echo "  bazel $1 failed (exit $rc); full log: $log" >&2
  fi
  return "$rc"
}
