#!/bin/bash
# resdb-trace-profile end to end (real eBPF, root): profiles profile_target
# for two seconds into all four formats and checks each with an independent
# reader: the pprof with the system protoc (--decode against our schema),
# the SVG with Python's XML parser, the folded lines by their grammar, the
# markdown by its sections. Then the error paths.
set -euo pipefail

CLI=tools/profiler/resdb-trace-profile
TARGET=tests/testdata/profile_target
PROTO=proto/pprof/profile.proto
OUT="$(mktemp -d)"
TPID=""
cleanup() {
  if [[ -n "${TPID}" ]]; then kill "${TPID}" 2>/dev/null || true; fi
  rm -rf "${OUT}"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

[[ "$(id -u)" == 0 ]] || fail "run as root: the profiler loads BPF programs"

"${TARGET}" 12 >"${OUT}/target.out" &
TPID=$!
for _ in $(seq 100); do
  grep -q "^ready ${TPID}$" "${OUT}/target.out" 2>/dev/null && break
  sleep 0.1
done
grep -q "^ready ${TPID}$" "${OUT}/target.out" || fail "target never ready"

# 499 Hz: enough samples for the share check below on a busy machine
"${CLI}" --pid "${TPID}" --seconds 2 --frequency 499 -o "${OUT}/p.svg" -o "${OUT}/p.pb.gz" \
  -o "${OUT}/p.folded" -o "${OUT}/p.md" 2>"${OUT}/cli.err" ||
  fail "the CLI failed: $(cat "${OUT}/cli.err")"
grep -q "samples from 1 process" "${OUT}/cli.err" ||
  fail "no sample summary on stderr: $(cat "${OUT}/cli.err")"
grep -q "sampling: 1/2 s" "${OUT}/cli.err" ||
  fail "no progress on stderr: $(cat "${OUT}/cli.err")"

# pprof: gzip, then the system protoc decodes it with our schema
gunzip -c "${OUT}/p.pb.gz" >"${OUT}/p.pb" || fail "pprof is not gzip"
protoc --decode=perftools.profiles.Profile -I proto "${PROTO}" \
  <"${OUT}/p.pb" >"${OUT}/p.txt" 2>"${OUT}/protoc.err" ||
  fail "protoc cannot decode the pprof: $(cat "${OUT}/protoc.err")"
grep -q 'string_table: "resdb_profile_target::BurnSeventy(unsigned long, unsigned long)"' \
  "${OUT}/p.txt" || fail "pprof lacks the demangled BurnSeventy"
grep -q 'string_table: "_ZN20resdb_profile_target11BurnSeventyEmm"' \
  "${OUT}/p.txt" || fail "pprof lacks the mangled BurnSeventy"
grep -q 'string_table: "cpu"' "${OUT}/p.txt" || fail "pprof lacks cpu type"
grep -q '^period: 2004008$' "${OUT}/p.txt" || fail "pprof period is not 1e9/499"
[[ "$(grep -c '^sample {' "${OUT}/p.txt")" -ge 2 ]] || fail "pprof has <2 samples"

# SVG: well-formed XML, one <g> per frame with a <title>
python3 - "${OUT}/p.svg" <<'PY' || fail "the SVG does not check out"
import sys
import xml.etree.ElementTree as ET
ns = {"s": "http://www.w3.org/2000/svg"}
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "{http://www.w3.org/2000/svg}svg", root.tag
frames = root.find("s:g[@id='frames']", ns)
assert frames is not None, "no frames group"
groups = frames.findall("s:g", ns)
assert len(groups) >= 3, len(groups)
titles = [g.find("s:title", ns).text for g in groups]
hot = [t for t in titles if "BurnSeventy" in t]
assert hot, titles
total = int(groups[0].get("data-w"))
seventy = sum(int(g.get("data-w")) for g in groups
              if "BurnSeventy" in g.get("data-l"))
share = 100.0 * seventy / total
assert total >= 100, total
assert 60 <= share <= 80, share
print("svg ok: %d frames, BurnSeventy %.1f%%" % (len(groups), share))
PY

# folded: "frames count" lines, root first, leaf last
awk '!/^[^ ].* [0-9]+$/ { bad = 1 } END { exit bad }' "${OUT}/p.folded" ||
  fail "malformed folded line"
grep -q 'resdb_profile_target::BurnSeventy(unsigned long, unsigned long) [0-9]*$' \
  "${OUT}/p.folded" || fail "no folded stack ends in BurnSeventy"

# markdown: the sections agents read
for section in "## Phase breakdown" "## Top functions by self time (flat)" \
  "## Top functions by cumulative time" "## Hottest paths"; do
  grep -qF "${section}" "${OUT}/p.md" || fail "markdown lacks '${section}'"
done
grep -q 'BurnSeventy' "${OUT}/p.md" || fail "markdown lacks BurnSeventy"

# errors: a pid that does not exist, an unknown format, no pid
set +e
"${CLI}" --pid 1073741824 --seconds 1 -o "${OUT}/x.svg" 2>"${OUT}/e1"
rc=$?
set -e
[[ ${rc} == 1 ]] || fail "nonexistent pid: exit ${rc}, want 1"
grep -q "1073741824" "${OUT}/e1" || fail "error does not name the pid: $(cat "${OUT}/e1")"
grep -q "does not exist" "${OUT}/e1" || fail "unclear error: $(cat "${OUT}/e1")"
set +e
"${CLI}" --pid "${TPID}" -o "${OUT}/x.txt" 2>"${OUT}/e2"
rc=$?
"${CLI}" --seconds 1 2>"${OUT}/e3"
rc3=$?
set -e
[[ ${rc} == 2 ]] && grep -q "unknown format" "${OUT}/e2" ||
  fail "unknown format: exit ${rc}: $(cat "${OUT}/e2")"
[[ ${rc3} == 2 ]] && grep -q -- "--pid" "${OUT}/e3" ||
  fail "missing pid: exit ${rc3}: $(cat "${OUT}/e3")"

echo "PASS"
