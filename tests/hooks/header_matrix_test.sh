#!/usr/bin/env bash
# Compiles hooks.h in every language mode we promise (C11; C++11..C++23) with
# gcc and clang, -Wall -Wextra -Werror -pedantic, then links objects from
# different compilers into one program, so the COMDAT hook copies must merge.
#
# Usage (from BUILD): header_matrix_test.sh <path of resdb_trace/hooks.h>
#                                           <path of header_probe.c>
set -uo pipefail

hooks_h=$1
probe=$2
include_dir=$(cd "$(dirname "$hooks_h")/.." && pwd)
[[ -f $include_dir/resdb_trace/catalog.h ]] || {
  echo "FAIL: catalog.h not next to $hooks_h"
  exit 1
}
out=${TEST_TMPDIR:-$(mktemp -d)}/header_matrix
mkdir -p "$out"

warn=(-Wall -Wextra -Werror -pedantic)
failures=0
compile() { # <label> <compiler> <flags...>
  local label=$1 cc=$2
  shift 2
  if "$cc" "${warn[@]}" -I"$include_dir" "$@" -c -o "$out/$label.o" 2>"$out/$label.log"; then
    echo "ok    $label"
  else
    echo "FAIL  $label: $cc $*"
    sed 's/^/      /' "$out/$label.log"
    failures=$((failures + 1))
  fi
}

for cc in gcc clang; do
  command -v "$cc" >/dev/null || { echo "FAIL: $cc not found"; exit 1; }
  for std in c11 c17; do
    compile "$cc-$std" "$cc" -x c -std=$std -O2 "$probe"
  done
done
for std in c++11 c++14 c++17 c++20 c++23; do
  compile "g++-$std" g++ -x c++ -std=$std -O2 "$probe"
done
# clang 14 spells C++23 as c++2b.
for std in c++11 c++14 c++17 c++20 c++2b; do
  compile "clang++-$std" clang++ -x c++ -std=$std -O2 "$probe"
done

# One program from four compilers' objects: the hooks and the semaphore table
# are defined in each object's COMDAT groups and must merge into one copy.
compile link-main gcc -x c -std=c11 -O2 -DPROBE_MAIN -DPROBE_FN=probe_gcc "$probe"
compile link-gxx g++ -x c++ -std=c++17 -O2 -DPROBE_FN=probe_gxx "$probe"
compile link-clangxx clang++ -x c++ -std=c++2b -O0 -DPROBE_FN=probe_clangxx "$probe"
compile link-clang clang -x c -std=c11 -O2 -DPROBE_FN=probe_clang "$probe"
if g++ -o "$out/linked" "$out"/link-{main,gxx,clangxx,clang}.o 2>"$out/link.log"; then
  if "$out/linked"; then
    echo "ok    link+run"
  else
    echo "FAIL  link+run: the linked program found the hooks or the table inconsistent"
    failures=$((failures + 1))
  fi
  count=$(nm "$out/linked" | grep -c ' resdb_trace_prepare_received$' || true)
  if [[ $count != 1 ]]; then
    echo "FAIL  link: $count copies of resdb_trace_prepare_received"
    failures=$((failures + 1))
  fi
else
  echo "FAIL  link:"
  sed 's/^/      /' "$out/link.log"
  failures=$((failures + 1))
fi

if ((failures)); then
  echo "header_matrix: $failures failure(s)"
  exit 1
fi
echo "header_matrix: PASS"
