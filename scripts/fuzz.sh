#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (--config=fuzz: ASan
# and UBSan on) and runs each for SECONDS (default 30), one after the other,
# starting from a temporary copy of its checked-in corpus and regressions
# (the checked-in files never change). Fails if any target crashes, leaks,
# times out or trips a sanitizer; prints one summary line per target and
# ends with one line `N passed, N failed` (one count per target).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     e.g. scripts/fuzz.sh 600 decoder_fuzz
#
# A crash leaves its input in the printed folder; reproduce it with
#   bazel-fuzz-bin/tests/fuzz/TARGET CRASH_FILE
# then fix the bug and copy the input to tests/fuzz/regressions/<corpus>/
# (the replay tests in `bazel test //tests/fuzz/...` keep it fixed).
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/bazel_flags.sh

seconds=${1:-30}
shift $(($# > 0 ? 1 : 0))
if ! [[ $seconds =~ ^[0-9]+$ ]] || ((seconds == 0)); then
  echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2
  exit 2
fi

if ! compgen -G "/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a" >/dev/null; then
  echo "fuzz: libFuzzer is missing: apt-get install clang libclang-rt-dev" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

targets=("$@")
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(bazel query "${RESDB_TRACE_BAZEL_FLAGS[@]}" \
    'attr(tags, "\bfuzz\b", kind(cc_binary, //tests/fuzz:all))' 2>/dev/null |
    sed 's|^//tests/fuzz:||')
fi
if ((${#targets[@]} == 0)); then
  echo "fuzz: no fuzz targets found in //tests/fuzz" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

work=$(mktemp -d /tmp/resdb-trace-fuzz.XXXXXX)
echo "fuzz: building ${targets[*]} with --config=fuzz (log: $work/build.log)"
if ! bazel build "${RESDB_TRACE_BAZEL_FLAGS[@]}" --config=fuzz --jobs=2 \
  "${targets[@]/#///tests/fuzz:}" >"$work/build.log" 2>&1; then
  grep -v "Cannot export local symbol" "$work/build.log" | tail -40
  echo "fuzz: build failed"
  echo "0 passed, 1 failed"
  exit 1
fi

failed=0
summary=()
for t in "${targets[@]}"; do
  corpus=${t%_fuzz}
  dir=$work/$t
  mkdir -p "$dir/corpus" "$dir/artifacts"
  for src in tests/fuzz/corpus/$corpus tests/fuzz/regressions/$corpus; do
    [[ -d $src ]] && cp "$src"/* "$dir/corpus/" 2>/dev/null
  done
  seeds=$(ls "$dir/corpus" | wc -l)
  flags=()
  case $t in
    # Its inputs reach tens of thousands of coverage features (generated
    # protobuf code included); libFuzzer's entropic schedule then spends most
    # of the time re-weighting them: 3x fewer executions. -max_len: the
    # per-replica, per-view, per-proxy and per-seq caps take thousands of
    # events to reach (4 KiB, the default, holds ~100).
    timeline_builder_fuzz) flags=(-entropic=0 -max_len=262144) ;;
  esac
  echo "fuzz: $t for ${seconds}s from $seeds inputs"
  # -timeout: one input running longer than 10 s is a hang, and a failure.
  bazel-fuzz-bin/tests/fuzz/$t -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 "${flags[@]}" \
    -artifact_prefix="$dir/artifacts/" "$dir/corpus" >"$dir/log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$dir/log" | tail -1 | cut -d' ' -f2)
  units=$(ls "$dir/corpus" | wc -l)
  crash=$(ls "$dir/artifacts" 2>/dev/null | head -1)
  if ((rc == 0)) && [[ -z $crash ]]; then
    result=ok
  else
    result="FAILED (exit $rc)"
    failed=$((failed + 1))
    grep -E "ERROR|FUZZ_CHECK|runtime error|SUMMARY|^    #[0-9] " "$dir/log" | head -30
    [[ -n $crash ]] && echo "fuzz: $t crash input: $dir/artifacts/$crash"
    echo "fuzz: $t full log: $dir/log"
  fi
  summary+=("$(printf '%-24s %6ss %12s %9s %6s %6s  %s' "$t" "$seconds" \
    "${execs:-?}" "${rate:-?}" "${cov:-?}" "$units" "$result")")
done

echo
printf '%-24s %7s %12s %9s %6s %6s  %s\n' target time execs "exec/s" cov corpus result
printf '%s\n' "${summary[@]}"
if ((failed > 0)); then
  echo "fuzz: $failed of ${#targets[@]} targets failed; inputs and logs in $work"
  echo "$((${#targets[@]} - failed)) passed, $failed failed"
  exit 1
fi
rm -rf "$work"
echo "fuzz: ${#targets[@]} targets, no crash"
echo "${#targets[@]} passed, 0 failed"
