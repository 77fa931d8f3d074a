#!/usr/bin/env bash
# Checks integrations/resilientdb/resdb_trace.patch offline, against Apache
# ResilientDB's release candidate v1.12.0-incubating-rc3 (ee21e870), unpacked
# from ../shared/resilientdb/ (beside the project's root; RESDB_SHARED_DIR
# overrides) into a temporary directory:
#   1. the snapshot is the expected one (sha256) and the patch names its base
#      commit (master ce65a1ed, which the patch was made against);
#   2. every file the patch touches is in the snapshot and mentions no hook
#      before;
#   3. `git apply --check`, then `git apply`, in a fresh git repository, and
#      `patch --fuzz=0` (what build.sh uses) too;
#   4. every catalogue hook (include/resdb_trace/catalog.h, read through
#      :catalog_dump) that names a ResilientDB file is called in that file;
#      DeepObserve's compat hooks, which the patch replaces by v1 hooks, must
#      each have a called v1 hook at the same file and function;
#   5. each instrumented file includes resdb_trace/hooks.h and its cc_library
#      depends on @resdb_trace//:resdb_trace; the WORKSPACE declares
#      @resdb_trace; kv_service links with RESDB_TRACE_LINKOPTS, which
#      exports every hook;
#   6. apply.sh applies the patch, points the WORKSPACE at a resdb_trace
#      checkout, recognises an applied tree and leaves a tree it cannot patch
#      unchanged.
# Usage: resilientdb_patch_test.sh PATCH APPLY_SH CATALOG_DUMP EXPORTS_BZL HOOKS_H
set -uo pipefail

patch=$(realpath "$1")
apply_sh=$(realpath "$2")
catalog_dump=$3
exports_bzl=$4
hooks_h=$5
root=$(cd "$(dirname "$patch")/../.." && pwd)
shared=${RESDB_SHARED_DIR:-$(dirname "$root")/shared/resilientdb}
snapshot=$shared/resilientdb-v1.12.0-incubating-rc3-ee21e870.tar.gz
snapshot_sha256=e74f2fee2bb56bc607ed84e5986b51715378d579c4084c1a8672c0bf417bb74a
tmp=${TEST_TMPDIR:-$(mktemp -d)}
export HOME=$tmp GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
git=(git -c user.name=test -c user.email=test@localhost -c init.defaultBranch=main)

failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
die() {
  echo "FAIL: $*"
  exit 1
}

command -v git >/dev/null || die "git is not installed (the test runs git apply)"
[[ -f $snapshot ]] || die "no ResilientDB snapshot at $snapshot (the project expects
../shared/resilientdb/ beside its root; set RESDB_SHARED_DIR, e.g. with
bazel test --test_env=RESDB_SHARED_DIR=/path/to/shared/resilientdb)"

# Unpacks the snapshot to $1, as a git repo.
pristine=$tmp/pristine
mkdir -p "$pristine"
tar -xzf "$snapshot" -C "$pristine" || die "cannot unpack $snapshot"
[[ -d $pristine/resilientdb ]] || die "$snapshot does not unpack to resilientdb/"
make_tree() {
  local dir=$1
  cp -a "$pristine/resilientdb" "$dir"
  (cd "$dir" && "${git[@]}" init -q && "${git[@]}" add -A &&
    "${git[@]}" commit -qm pristine) || die "cannot create a git repo in $dir"
}

# --- 1. The snapshot and the commit. ----------------------------------------
sum=$(sha256sum "$snapshot" | cut -c1-64)
[[ $sum == "$snapshot_sha256" ]] ||
  fail "$snapshot has sha256 $sum, not $snapshot_sha256 (see $shared/README.md)"
base=$(sed -n 's/^Base: apache\/incubator-resilientdb master \([0-9a-f]\{40\}\)$/\1/p' "$patch")
[[ -n $base ]] || die "the patch has no 'Base: apache/incubator-resilientdb master <sha>' line"
echo "base commit: $base; checked against rc3 ee21e870 ($(basename "$snapshot"))"

# --- 2. The patched files exist and have no hook yet. -----------------------
tree=$tmp/patched
make_tree "$tree"
sed -n 's|^diff --git a/\([^ ]*\) b/.*|\1|p' "$patch" | sort >"$tmp/files"
[[ -s $tmp/files ]] || die "the patch changes no file"
while read -r f; do
  if [[ ! -f $tree/$f ]]; then
    fail "the patch changes $f, which rc3 does not have"
  elif grep -lE 'resdb_trace|ResdbTrace|RESDB_TRACE' "$tree/$f"; then
    fail "the pristine $f above already mentions resdb_trace"
  fi
done <"$tmp/files"
echo "files the patch changes: $(wc -l <"$tmp/files")"

# --- 3. git apply. ----------------------------------------------------------
(cd "$tree" && git apply --check "$patch") || die "git apply --check failed"
(cd "$tree" && git apply "$patch") || die "git apply failed"
(cd "$tree" && git apply --reverse --check "$patch") ||
  fail "the applied patch does not reverse cleanly"
echo "git apply: $(cd "$tree" && git diff --shortstat)"
# build.sh applies it with patch(1), without fuzz.
patchcopy=$tmp/patchcopy
cp -a "$pristine/resilientdb" "$patchcopy"
(cd "$patchcopy" && patch -p1 --forward --batch --fuzz=0 --silent <"$patch") ||
  fail "patch -p1 --fuzz=0 (build.sh) does not apply the patch"
diff -r -x .git "$tree" "$patchcopy" >/dev/null ||
  fail "patch(1) and git apply give different trees"

# --- 4. Every catalogue point. ----------------------------------------------
"$catalog_dump" >"$tmp/catalog.tsv" || die "catalog_dump failed"
[[ -s $tmp/catalog.tsv ]] || die "catalog_dump printed nothing"

# Prints the patched file named $1 (a basename), if the patch touches it.
patched_file() {
  (cd "$tree" && git diff --name-only) | awk -v b="$1" -F/ '$NF == b' | head -n 1
}
# True if $1 (a file) calls hook $2 (snake_case) / $3 (CamelCase).
calls_hook() {
  tr -s '[:space:]' ' ' <"$tree/$1" |
    grep -qE "RESDB_TRACE_V1\( ?$2 ?,|ResdbTrace$3 ?\(|resdb_trace_$2 ?\("
}

declare -A called_at # "file: function" -> v1 hooks called there
checked=0
while IFS=$'\t' read -r _ name Name abi where; do
  file=${where%%:*}
  if [[ $file != *.cpp || $where != *:* ]]; then
    echo "  $name: not a ResilientDB call point ($where)"
    continue
  fi
  func=${where#*: }
  func=${func%%[ ,(]*}
  [[ $abi == RESDB_TRACE_ABI_COMPAT ]] && continue # checked below
  path=$(patched_file "$file")
  if [[ -z $path ]]; then
    fail "$name: the patch does not touch $file ($where)"
  elif ! calls_hook "$path" "$name" "$Name"; then
    fail "$name: not called in $path ($where)"
  else
    called_at["$file: $func"]+=" $name"
    checked=$((checked + 1))
  fi
done <"$tmp/catalog.tsv"
while IFS=$'\t' read -r _ name Name abi where; do
  [[ $abi == RESDB_TRACE_ABI_COMPAT ]] || continue
  func=${where#*: }
  key="${where%%:*}: ${func%%[ ,(]*}"
  if [[ -n ${called_at[$key]:-} ]]; then
    echo "  $name (DeepObserve compat, not called): $key calls${called_at[$key]}"
  else
    fail "$name (DeepObserve compat): no hook called at $key instead"
  fi
done <"$tmp/catalog.tsv"
echo "hooks called where the catalogue says: $checked"

# --- 5. Include, Bazel deps, WORKSPACE, linkopts. ---------------------------
# True if a rule block in BUILD file $1 contains both strings $2 and $3.
rule_has() {
  awk -v a="$2" -v b="$3" '
    /^[A-Za-z_]+\(/ { block = "" }
    { block = block $0 "\n" }
    /^\)/ { if (index(block, a) && index(block, b)) found = 1 }
    END { exit !found }' "$1"
}
names=$(cut -f2 "$tmp/catalog.tsv" | paste -sd '|')
Names=$(cut -f3 "$tmp/catalog.tsv" | paste -sd '|')
call_re="RESDB_TRACE_V1\\( ?($names) ?,|ResdbTrace($Names) ?\\(|resdb_trace_($names) ?\\("
instrumented=0
while read -r f; do
  [[ $f == *.cpp ]] || continue
  calls=$(tr -s '[:space:]' ' ' <"$tree/$f" | grep -oE "$call_re" | wc -l)
  ((calls > 0)) || { fail "$f: touched but calls no hook"; continue; }
  instrumented=$((instrumented + 1))
  grep -q '^#include "resdb_trace/hooks.h"$' "$tree/$f" ||
    fail "$f: calls hooks without #include \"resdb_trace/hooks.h\""
  rule_has "$tree/$(dirname "$f")/BUILD" "srcs = [\"$(basename "$f")\"]" \
    '"@resdb_trace//:resdb_trace"' ||
    fail "$f: its cc_library in $(dirname "$f")/BUILD lacks \"@resdb_trace//:resdb_trace\""
  echo "  $f: $calls hook calls"
done < <(cd "$tree" && git diff --name-only)

awk '/^(local_repository|http_archive|git_repository)\(/ { block = "" }
     { block = block $0 "\n" }
     /^\)/ { if (index(block, "name = \"resdb_trace\"")) found = 1 }
     END { exit !found }' "$tree/WORKSPACE" ||
  fail "WORKSPACE declares no @resdb_trace repository"

kv=$tree/service/kv/BUILD
grep -qF 'load("@resdb_trace//include:resdb_trace/exports.bzl", "RESDB_TRACE_LINKOPTS")' "$kv" ||
  fail "service/kv/BUILD does not load RESDB_TRACE_LINKOPTS from @resdb_trace"
rule_has "$kv" 'name = "kv_service"' 'linkopts = RESDB_TRACE_LINKOPTS' ||
  fail "kv_service does not link with RESDB_TRACE_LINKOPTS"
# The loaded label is include/resdb_trace/exports.bzl of this repository.
[[ $exports_bzl == */include/resdb_trace/exports.bzl || $exports_bzl == include/resdb_trace/exports.bzl ]] ||
  fail "exports.bzl is not at include/resdb_trace/exports.bzl ($exports_bzl)"
grep -q '^RESDB_TRACE_LINKOPTS = .*-Wl,--export-dynamic-symbol=.*RESDB_TRACE_EXPORTED_SYMBOLS' "$exports_bzl" ||
  fail "exports.bzl does not define RESDB_TRACE_LINKOPTS from RESDB_TRACE_EXPORTED_SYMBOLS"
for sym in $(cut -f2 "$tmp/catalog.tsv" | sed 's/^/resdb_trace_/') resdb_trace_semaphores; do
  grep -qF "\"$sym\"," "$exports_bzl" || fail "exports.bzl does not export $sym"
done
echo "instrumented files: $instrumented; WORKSPACE, deps and linkopts checked"

# --- 6. apply.sh. -----------------------------------------------------------
fake_trace=$tmp/resdb_trace_checkout
mkdir -p "$fake_trace/include/resdb_trace"
cp "$hooks_h" "$fake_trace/include/resdb_trace/hooks.h"
touch "$fake_trace/WORKSPACE"

viaapply=$tmp/via_apply
make_tree "$viaapply"
"$apply_sh" "$viaapply" "$fake_trace" >"$tmp/apply1.log" 2>&1 ||
  fail "apply.sh failed: $(cat "$tmp/apply1.log")"
grep -q "^applied " "$tmp/apply1.log" || fail "apply.sh did not report applying"
grep -qF "    path = \"$fake_trace\"," "$viaapply/WORKSPACE" ||
  fail "apply.sh did not point @resdb_trace at $fake_trace"
sed -i "s|    path = \"$fake_trace\",|    path = \"../resdb_trace\",|" "$viaapply/WORKSPACE"
diff -r -x .git "$tree" "$viaapply" >/dev/null ||
  fail "apply.sh and git apply give different trees"
"$apply_sh" "$viaapply" "$fake_trace" >"$tmp/apply2.log" 2>&1 ||
  fail "apply.sh on an applied tree failed: $(cat "$tmp/apply2.log")"
grep -q "already applied" "$tmp/apply2.log" ||
  fail "apply.sh did not recognise an applied tree"

drifted=$tmp/drifted
make_tree "$drifted"
sed -i 's/global_stats_->RecordStateTime("request");/global_stats_->RecordStateTime("req");/' \
  "$drifted/platform/consensus/ordering/pbft/commitment.cpp"
(cd "$drifted" && "${git[@]}" commit -qam drift)
if "$apply_sh" "$drifted" "$fake_trace" >"$tmp/apply3.log" 2>&1; then
  fail "apply.sh succeeded on a tree the patch does not fit"
fi
[[ -z $(cd "$drifted" && git status --porcelain) ]] ||
  fail "apply.sh changed a tree it could not patch"
echo "apply.sh: applies, re-runs, refuses a drifted tree"

if ((failures > 0)); then
  echo "resilientdb_patch_test: $failures failure(s)"
  exit 1
fi
echo "resilientdb_patch_test: PASS"
