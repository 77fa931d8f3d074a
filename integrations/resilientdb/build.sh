#!/usr/bin/env bash
# Builds Apache ResilientDB offline with Bazel 4.2.3 and Debian 12's libraries,
# with resdb_trace.patch applied, and copies the binaries into OUT.
#
# Usage: build.sh [--no-patch] [--jobs N] SRC OUT
#   SRC  a ResilientDB tree: a directory, or a .tar.gz that unpacks to one
#        directory (the snapshots in ../shared/resilientdb/)
#   OUT  where kv_service, kv_service_tools, key_generator_tools and
#        certificate_tools are copied (created if missing)
#   --no-patch  build SRC as it is (e.g. DeepObserve's demo-final)
#   --jobs N    Bazel --jobs (default 2)
#
# SRC itself is never modified. The patched copy lives in a persistent build
# directory keyed by SRC's sha256 and the patch's, so a rerun with the same
# inputs is an incremental Bazel build:
#   ${RESDB_TRACE_CACHE:-~/.cache/resdb_trace}/resilientdb-build/<key>/src
# with its Bazel output base next to it, and a shared disk cache in
#   ${RESDB_TRACE_CACHE:-~/.cache/resdb_trace}/resilientdb-disk
# Crow and eEVM come from ${RESDB_SHARED_DIR:-<checkout>/../shared/resilientdb}.
# What the offline build changes, and why: README.md ("Offline build").
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
patch_file=$here/resdb_trace.patch
offline=$here/offline
shared=${RESDB_SHARED_DIR:-$(dirname "$root")/shared/resilientdb}
cache=${RESDB_TRACE_CACHE:-${HOME}/.cache/resdb_trace}
targets=(
  //service/kv:kv_service
  //service/tools/kv/api_tools:kv_service_tools
  //tools:key_generator_tools
  //tools:certificate_tools
)

use_patch=1
jobs=2
args=()
while (($#)); do
  case $1 in
    --no-patch) use_patch=0 ;;
    --jobs) jobs=${2:?--jobs needs a number}; shift ;;
    --jobs=*) jobs=${1#--jobs=} ;;
    -h | --help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "build.sh: unknown option $1" >&2; exit 2 ;;
    *) args+=("$1") ;;
  esac
  shift
done
if ((${#args[@]} != 2)); then
  echo "usage: build.sh [--no-patch] [--jobs N] SRC OUT" >&2
  exit 2
fi
src=$(realpath "${args[0]}")
out=$(realpath -m "${args[1]}")

step() { echo "resilientdb: $*"; }
die() { echo "resilientdb: $*" >&2; exit 1; }

[[ -e $src ]] || die "no such source: $src"
for f in crow-v1.0+5-edf12f69.tar.gz eEVM-118a9355.tar.gz; do
  [[ -f $shared/$f ]] ||
    die "$shared/$f is missing (Crow and eEVM sources; set RESDB_SHARED_DIR to the folder with ResilientDB's snapshots)"
done
command -v bazel >/dev/null || die "bazel is not installed (scripts/setup.sh installs Debian's bazel-bootstrap)"
command -v protoc >/dev/null || die "protoc is not installed (scripts/setup.sh)"

# --- The key: what is built from what. ---------------------------------------
if [[ -f $src ]]; then
  src_hash=$(sha256sum "$src" | cut -c1-64)
elif [[ -d $src ]]; then
  # Content of every file except VCS metadata and Bazel's output symlinks.
  src_hash=$(cd "$src" && find . \( -name .git -o -name 'bazel-*' \) -prune -o -type f -print0 |
    LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-64)
else
  die "$src is neither a file nor a directory"
fi
if ((use_patch)); then
  patch_hash=$(sha256sum "$patch_file" | cut -c1-64)
else
  patch_hash=nopatch
fi
key=${src_hash:0:16}-${patch_hash:0:16}
build=$cache/resilientdb-build/$key
mkdir -p "$build" "$cache/resilientdb-disk"
exec 9>"$build/lock"
flock 9 || die "cannot lock $build"
log=$build/bazel.log
: >"$log"

# --- 1. The source tree (once per key). --------------------------------------
tree=$build/src
if [[ -f $build/src.ready ]]; then
  step "source: reusing $tree"
else
  step "source: copying $(basename "$src") into $tree"
  rm -rf "$tree" "$build/src.tmp"
  mkdir -p "$build/src.tmp"
  if [[ -f $src ]]; then
    tar -xzf "$src" -C "$build/src.tmp" || die "cannot unpack $src"
    top=("$build/src.tmp"/*)
    ((${#top[@]} == 1)) && [[ -d ${top[0]} ]] || die "$src does not unpack to one directory"
    mv "${top[0]}" "$tree"
    rmdir "$build/src.tmp"
  else
    (cd "$src" && tar -cf - --exclude=.git --exclude='./bazel-*' .) | tar -xf - -C "$build/src.tmp"
    mv "$build/src.tmp" "$tree"
  fi
  [[ -f $tree/WORKSPACE && -d $tree/platform/consensus ]] || die "$src is not a ResilientDB tree"
  if ((use_patch)); then
    step "patch: applying $(basename "$patch_file")"
    (cd "$tree" && patch -p1 --forward --batch --fuzz=0 --silent <"$patch_file") >>"$log" 2>&1 ||
      die "resdb_trace.patch does not apply to $src (see $log)"
  else
    step "patch: not applied (--no-patch)"
  fi
  # ResilientDB's WORKSPACE (patched or not) downloads; keep it for reference.
  mv "$tree/WORKSPACE" "$tree/WORKSPACE.resilientdb"
  touch "$build/src.ready"
fi

# --- 2. The offline overlay (every run: cheap, and follows this checkout). ----
step "overlay: offline WORKSPACE, Debian libraries, stand-in rules"
rm -rf "$tree/resdb_trace_offline.new"
cp -r "$offline" "$tree/resdb_trace_offline.new"
rm -f "$tree/resdb_trace_offline.new/WORKSPACE.in"
# BUILD.offline / WORKSPACE.offline here, so that resdb_trace's own Bazel
# does not take offline/ for packages; BUILD / WORKSPACE in the tree.
find "$tree/resdb_trace_offline.new" -name '*.offline' -print0 |
  while IFS= read -r -d '' f; do mv "$f" "${f%.offline}"; done
if diff -r "$tree/resdb_trace_offline.new" "$tree/resdb_trace_offline" >/dev/null 2>&1; then
  rm -rf "$tree/resdb_trace_offline.new"
else
  rm -rf "$tree/resdb_trace_offline"
  mv "$tree/resdb_trace_offline.new" "$tree/resdb_trace_offline"
fi
sed -e "s|@RESDB_TRACE@|$root|g" -e "s|@SHARED@|$shared|g" \
  "$offline/WORKSPACE.in" >"$tree/WORKSPACE.new"
cmp -s "$tree/WORKSPACE.new" "$tree/WORKSPACE" 2>/dev/null &&
  rm "$tree/WORKSPACE.new" || mv "$tree/WORKSPACE.new" "$tree/WORKSPACE"
# .bazelversion says 6.0.0; Debian's bazel wrapper would refuse it. The
# wrapper takes USE_BAZEL_VERSION first, so the tree stays as it is.
export USE_BAZEL_VERSION=4

# --- 3. Bazel. ---------------------------------------------------------------
flags=(
  --jobs="$jobs"
  --disk_cache="$cache/resilientdb-disk"
  --repository_cache="$cache/resilientdb-repos"
  # Frame pointers everywhere, so profiles unwind to the thread start.
  --copt=-fno-omit-frame-pointer --copt=-mno-omit-leaf-frame-pointer
  --strip=never
  # Debian's /etc/bazel/bazelrc sets --sandbox_debug: thousands of lines.
  --nosandbox_debug
  --noshow_progress --color=no --curses=no
)
# Same startup options on every call, or Bazel restarts its server.
# 9>&-: the server outlives this script and must not inherit the lock.
rdb_bazel() {
  (cd "$tree" && bazel --output_base="$build/output_base" --max_idle_secs=600 "$@" 9>&-)
}
step "bazel: building ${#targets[@]} targets (ResilientDB's .bazelrc + frame pointers; log: $log)"
start=$(date +%s)
if ! rdb_bazel build "${flags[@]}" "${targets[@]}" >>"$log" 2>&1; then
  echo "resilientdb: bazel build failed after $(($(date +%s) - start)) s; first errors:" >&2
  grep -E '^ERROR:|error:' "$log" | head -n 8 | sed 's/^/  /' >&2
  die "full log: $log"
fi
secs=$(($(date +%s) - start))

# --- 4. The binaries. --------------------------------------------------------
mkdir -p "$out"
bin=$(rdb_bazel info "${flags[@]}" bazel-bin 2>>"$log")
for t in "${targets[@]}"; do
  rel=${t#//}
  f=$bin/${rel/://}
  [[ -x $f ]] || die "$t built, but $f is missing"
  install -m 0755 "$f" "$out/$(basename "$f").new"
  mv -f "$out/$(basename "$f").new" "$out/$(basename "$f")"
done
{
  echo "source: $src"
  echo "source_sha256: $src_hash"
  echo "patch: $( ((use_patch)) && echo "$patch_file ($patch_hash)" || echo none)"
  echo "resdb_trace: $root"
  echo "bazel: $(dpkg-query -W -f='bazel-bootstrap ${Version}' bazel-bootstrap 2>/dev/null || echo unknown)"
  echo "bazelrc: $(grep -h '^build' "$tree/.bazelrc" 2>/dev/null | paste -sd ';')"
  echo "flags: ${flags[*]}"
  echo "build_dir: $build"
} >"$out/BUILD_INFO"
step "done in ${secs} s: $(cd "$out" && ls kv_service kv_service_tools key_generator_tools certificate_tools | paste -sd ' ') in $out"
