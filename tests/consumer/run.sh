#!/usr/bin/env bash
# Builds tests/consumer as its own Bazel workspace that pulls resdb_trace in
# with local_repository (as ResilientDB would), runs the program, and checks
# that a stripped copy still exports every catalogue hook and the semaphore
# table in .dynsym. Prints one line: `consumer: PASS` or `consumer: FAIL <why>`.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here" || exit 1

disk_cache=${HOME}/.cache/resdb_trace/bazel-disk
work=$(mktemp -d)
# This workspace has its own Bazel server: stop it so it holds no memory.
cleanup() {
  bazel shutdown >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "consumer: FAIL $*"
  exit 1
}

if ! bazel build --disk_cache="$disk_cache" //:consumer >"$work/build.log" 2>&1; then
  tail -n 30 "$work/build.log" >&2
  fail "bazel build //:consumer in tests/consumer failed"
fi
bin=$(bazel info bazel-bin 2>/dev/null)/consumer
[[ -x $bin ]] || fail "no binary at $bin"

out=$("$bin") || fail "consumer exited with status $?"
[[ $out == *"tracing detached"* ]] || fail "unexpected output: $out"

readelf -h "$bin" | grep -q 'Type:[[:space:]]*DYN' || fail "consumer is not a PIE"

strip -o "$work/consumer.stripped" "$bin" || fail "strip failed"
readelf --dyn-syms -W "$work/consumer.stripped" >"$work/dynsym.txt" ||
  fail "readelf --dyn-syms failed"
# Columns: Num Value Size Type Bind Vis Ndx Name.
"$bin" --list >"$work/hooks.txt" || fail "consumer --list failed"
count=0
while read -r hook; do
  awk -v n="$hook" '$8 == n && $3 == 6 && $4 == "FUNC" && $7 != "UND" { f = 1 }
                    END { exit !f }' "$work/dynsym.txt" ||
    fail "$hook is not an exported 6-byte FUNC in the stripped binary"
  count=$((count + 1))
done <"$work/hooks.txt"
((count > 0)) || fail "consumer --list printed no hooks"
awk '$8 == "resdb_trace_semaphores" && $3 == 128 && $4 == "OBJECT" && $7 != "UND" { f = 1 }
     END { exit !f }' "$work/dynsym.txt" ||
  fail "resdb_trace_semaphores is not an exported 128-byte OBJECT"

echo "consumer: PASS"
