#!/usr/bin/env bash
# The sanitizer suites (as root, after scripts/setup.sh):
#   ASan+UBSan (--config=asan-ubsan) over every test that needs no BPF:
#     //tests/collector/... //tests/proto/... //tests/hooks/... //tests/fuzz/...
#     and the web API and MCP unit tests
#     (the fuzz replay tests run every corpus and crash-regression input)
#   TSan (--config=tsan) over the concurrent parts: the event hub and the
#     timeline builder / runner (//tests/collector/hub/... and timeline/...),
#     the web API and the MCP server and HTTP transport.
# With --with-bpf, ASan+UBSan also runs //tests/bpf/... and //tests/e2e/...
# (real eBPF: root, exclusive). Ends with one line `N passed, N failed`,
# counted like scripts/test.sh counts (scripts/count_tests.py).
#
#   scripts/sanitize.sh [--with-bpf]
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
source scripts/bazel_flags.sh

asan_targets=(//tests/collector/... //tests/proto/... //tests/hooks/... //tests/fuzz/...
  //tests/collector/serve/web:web_api_test //tests/clients/mcp:mcp_server_test //tests/clients/mcp:http_transport_test //tests/clients/mcp:kv_client_test)
tsan_targets=(//tests/collector/hub/... //tests/collector/timeline/...
  //tests/collector/serve/web:web_api_test //tests/clients/mcp:mcp_server_test //tests/clients/mcp:http_transport_test)
for arg in "$@"; do
  case $arg in
    --with-bpf) asan_targets+=(//tests/bpf/... //tests/e2e/...) ;;
    *)
      echo "usage: scripts/sanitize.sh [--with-bpf]" >&2
      exit 2
      ;;
  esac
done

logs=$(mktemp -d /tmp/resdb-trace-sanitize.XXXXXX)
total_pass=0
total_fail=0
start=$SECONDS

# run CONFIG TARGET...: bazel test under CONFIG, then counts its results.
run() {
  local config=$1
  shift
  local log=$logs/$config.log t0=$SECONDS
  echo "sanitize: --config=$config $* (log: $log)"
  bazel test "${RESDB_TRACE_BAZEL_FLAGS[@]}" --config="$config" --keep_going \
    --jobs=2 --local_test_jobs=2 --test_output=errors --test_summary=short \
    "$@" >"$log" 2>&1
  local rc=$?
  local testlogs
  testlogs=$(bazel info "${RESDB_TRACE_BAZEL_FLAGS[@]}" --config="$config" \
    bazel-testlogs 2>/dev/null)
  local counts
  counts=$(python3 scripts/count_tests.py "$log" "$testlogs" 0 0 "$rc")
  grep -v "passed, .* failed$" <<<"$counts"
  local line
  line=$(tail -1 <<<"$counts")
  echo "sanitize: --config=$config: $line ($((SECONDS - t0)) s)"
  if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    total_pass=$((total_pass + BASH_REMATCH[1]))
    total_fail=$((total_fail + BASH_REMATCH[2]))
  else
    total_fail=$((total_fail + 1))
  fi
}

run asan-ubsan "${asan_targets[@]}"
run tsan "${tsan_targets[@]}"

echo "sanitize: $((SECONDS - start)) s in all; logs in $logs"
echo "$total_pass passed, $total_fail failed"
((total_fail == 0))
