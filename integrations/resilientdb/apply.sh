#!/usr/bin/env bash
# Adds the resdb_trace hooks to an Apache ResilientDB checkout.
#
#   integrations/resilientdb/apply.sh /path/to/incubator-resilientdb [/path/to/resdb_trace]
#
# Checks which commit the checkout is at, applies resdb_trace.patch (or notes
# that it is already applied), points the WORKSPACE's local_repository at the
# resdb_trace checkout (default: the one this script lives in) and prints the
# next steps. Changes nothing when the patch does not apply.
set -euo pipefail

usage() {
  echo "usage: $0 /path/to/incubator-resilientdb [/path/to/resdb_trace]" >&2
  exit 2
}
die() {
  echo "apply.sh: $*" >&2
  exit 1
}

(($# == 1 || $# == 2)) || usage
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
patch=$here/resdb_trace.patch
resdb=$(cd "$1" 2>/dev/null && pwd) || die "$1: no such directory"
trace=$(cd "${2:-$here/../..}" 2>/dev/null && pwd) ||
  die "${2:-$here/../..}: no such directory"

command -v git >/dev/null || die "git is needed (git apply)"
[[ $trace != *\"* ]] || die "$trace: a path with a double quote cannot go into WORKSPACE"
[[ -f $resdb/platform/consensus/ordering/pbft/commitment.cpp &&
  -f $resdb/service/kv/BUILD ]] ||
  die "$resdb does not look like an incubator-resilientdb checkout"
[[ -f $trace/include/resdb_trace/hooks.h && -f $trace/WORKSPACE ]] ||
  die "$trace does not look like a resdb_trace checkout"

base=$(sed -n 's/^Base: .* \([0-9a-f]\{40\}\)$/\1/p' "$patch")
[[ -n $base ]] || die "no 'Base:' line in $patch"

# 1. The commit.
if head=$(git -C "$resdb" rev-parse --verify -q HEAD 2>/dev/null); then
  if [[ $head == "$base" ]]; then
    echo "ResilientDB at $base: the commit the patch was made against"
  elif git -C "$resdb" merge-base --is-ancestor "$base" HEAD 2>/dev/null; then
    echo "ResilientDB at $head, newer than $base (the patch's base): trying it"
  else
    echo "ResilientDB at $head; the patch was made against $base: trying it"
  fi
else
  echo "$resdb is not a git checkout; cannot check its commit (base: $base)"
fi

# 2. The patch.
if git -C "$resdb" apply --check "$patch" 2>/dev/null; then
  git -C "$resdb" apply "$patch"
  echo "applied $(grep -c '^diff --git' "$patch") files from resdb_trace.patch"
elif grep -q '"resdb_trace/hooks.h"' \
  "$resdb/platform/consensus/ordering/pbft/commitment.cpp"; then
  echo "the patch is already applied"
else
  git -C "$resdb" apply --check "$patch" || true
  die "resdb_trace.patch does not apply here (nothing changed). It was made
against $base: check that commit out, or use 'git apply -3' and resolve."
fi

# 3. The dependency: local_repository(name = "resdb_trace", path = ...).
workspace=$resdb/WORKSPACE
grep -q '^    name = "resdb_trace",$' "$workspace" ||
  die "no resdb_trace repository in $workspace"
trace_sed=$(printf '%s' "$trace" | sed 's/[&|\\]/\\&/g')
sed -i "/^    name = \"resdb_trace\",\$/,/^)/ s|^    path = \".*\",\$|    path = \"$trace_sed\",|" \
  "$workspace"
grep -qF "    path = \"$trace\"," "$workspace" ||
  die "could not set the resdb_trace path in $workspace"
echo "WORKSPACE: @resdb_trace -> $trace"

cat <<EOF

Next:
  cd $resdb
  bazel build //service/kv:kv_service        # Bazel $(cat "$resdb/.bazelversion" 2>/dev/null || echo "as ResilientDB pins it")
  readelf --dyn-syms -W bazel-bin/service/kv/kv_service | grep -c resdb_trace_   # hooks exported
  # start the replicas as usual (e.g. service/tools/kv/server_tools/start_kv_service.sh), then:
  sudo resdb-trace-collector --binary $resdb/bazel-bin/service/kv/kv_service &
  resdb-trace watch
See $here/README.md.
EOF
