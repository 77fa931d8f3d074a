#!/usr/bin/env bash
# Compiles each C++ file resdb_trace.patch changes, in a patched ResilientDB
# checkout, without Bazel: a quick check after re-basing the patch, when
# ResilientDB's own http_archive dependencies cannot be fetched.
#
#   integrations/resilientdb/check_compile.sh /path/to/patched/resilientdb [-I DIR]...
#
# Needs g++ and protoc with the protobuf headers, plus the headers of glog,
# boost, prometheus-cpp, nlohmann-json and crypto++ (Debian: libgoogle-glog-dev
# libboost-dev prometheus-cpp-dev nlohmann-json3-dev libcrypto++-dev, or
# those packages unpacked with `dpkg -x` and passed as -I DIR). Crow is not
# packaged; stats.h includes <crow.h> but uses none of it, so an empty
# stand-in is put on the include path. Versions differ from the ones
# ResilientDB pins (protobuf 3.10, glog 0.5): this checks that the hook calls
# compile in their real context, not that ResilientDB builds.
set -euo pipefail

(($# >= 1)) || {
  echo "usage: $0 /path/to/patched/resilientdb [-I DIR]..." >&2
  exit 2
}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
resdb=$(cd "$1" && pwd)
shift
trace_include=$(cd "$here/../../include" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/gen" "$work/stub" "$work/obj"
echo '#pragma once  // empty stand-in: stats.h uses no Crow type' >"$work/stub/crow.h"
(cd "$resdb" && find . -name '*.proto' -not -path './ecosystem/*' -not -path './.git/*' |
  sed 's|^\./||' | xargs protoc -I. --cpp_out="$work/gen")

status=0
while read -r f; do
  obj=$work/obj/$(basename "$f" .cpp).o
  if g++ -std=c++17 -O2 -Wall -c "$resdb/$f" -o "$obj" -I"$resdb" \
    -I"$work/gen" -I"$work/stub" -I"$trace_include" "$@" 2>"$work/log"; then
    hooks=$(objdump -dr "$obj" |
      { grep -oE 'R_X86_64_PLT32[[:space:]]+resdb_trace_[a-z_]+' || true; } |
      awk '{print $2}' | sort -u | sed 's/^resdb_trace_//' | paste -sd ' ')
    echo "ok   $f: calls $hooks"
  else
    echo "FAIL $f"
    grep -E 'error' "$work/log" | head -n 10
    status=1
  fi
done < <(sed -n 's|^diff --git a/\([^ ]*\.cpp\) b/.*|\1|p' "$here/resdb_trace.patch")
exit $status
