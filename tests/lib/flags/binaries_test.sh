#!/bin/bash
# Every binary built on lib/flags keeps the same command-line contract:
# --help prints its usage on stdout and exits 0 (and the usage names every
# flag: lib/flags complains on stderr otherwise), --version prints the
# release in VERSION and exits 0, --flag=value and --flag value both parse,
# and an unknown flag or a bad value exits 2 with one line naming the flag.
#
# Usage (from BUILD): binaries_test.sh VERSION_FILE BINARY...
set -uo pipefail

version_file=$1
shift
want_version=$(tr -d ' \n' <"${version_file}")
out=$(mktemp -d)
trap 'rm -rf "${out}"' EXIT
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# run NAME ARGS...: runs a binary, leaves rc, stdout and stderr behind.
run() {
  "$@" >"${out}/stdout" 2>"${out}/stderr" </dev/null
  rc=$?
}

expect_help() {
  local what="$*"
  run "$@"
  [[ ${rc} == 0 ]] || fail "${what}: exit ${rc}, want 0: $(cat "${out}/stderr")"
  grep -q "Usage" "${out}/stdout" || fail "${what}: no usage on stdout"
  [[ ! -s "${out}/stderr" ]] || fail "${what}: stderr: $(cat "${out}/stderr")"
}

expect_usage_error() {  # FLAG_IN_MESSAGE CMD...
  local flag=$1
  shift
  local what="$*"
  run "$@"
  [[ ${rc} == 2 ]] || fail "${what}: exit ${rc}, want 2"
  [[ $(wc -l <"${out}/stderr") == 1 ]] ||
    fail "${what}: want one line on stderr, got: $(cat "${out}/stderr")"
  grep -qF -- "${flag}" "${out}/stderr" ||
    fail "${what}: the error does not name ${flag}: $(cat "${out}/stderr")"
}

cli=""
for bin in "$@"; do
  name=$(basename "${bin}")
  [[ ${name} == resdb-trace ]] && cli=${bin}
  expect_help "${bin}" --help
  run "${bin}" --version
  [[ ${rc} == 0 ]] || fail "${name} --version: exit ${rc}"
  grep -q "^${name} ${want_version} (" "${out}/stdout" ||
    fail "${name} --version: '$(cat "${out}/stdout")' lacks '${name} ${want_version} ('"
  expect_usage_error "--no-such-flag" "${bin}" --no-such-flag
  expect_usage_error "--no-such-flag" "${bin}" --no-such-flag=1
done

[[ -n ${cli} ]] || fail "resdb-trace is not among the binaries"
for cmd in watch stats timeline timelines viewchanges top profile mcp; do
  expect_help "${cli}" "${cmd}" --help
  expect_usage_error "--no-such-flag" "${cli}" "${cmd}" --no-such-flag
done
# Both value spellings reach the command: it fails later, dialling a socket
# that does not exist (exit 1, not a usage error).
nowhere="unix://${out}/none.sock"
for args in "--width=30 7" "--width 30 7"; do
  # shellcheck disable=SC2086
  run "${cli}" --listen="${nowhere}" timeline ${args}
  [[ ${rc} == 1 ]] && grep -q "^resdb-trace: timeline: " "${out}/stderr" ||
    fail "timeline ${args}: exit ${rc}: $(cat "${out}/stderr")"
done
# Global flags after the command; a bad value names its flag.
run "${cli}" timelines --limit=3 --listen "${nowhere}"
[[ ${rc} == 1 ]] || fail "timelines --limit=3 --listen X: exit ${rc}: $(cat "${out}/stderr")"
expect_usage_error "--width" "${cli}" timeline --width=5 7
expect_usage_error "--interval-ms" "${cli}" top --interval-ms=x
expect_usage_error "--seconds" "${cli}" profile --seconds=0 -o x.svg

if ((failures > 0)); then
  echo "${failures} failure(s)" >&2
  exit 1
fi
echo "PASS: $# binaries"
