#!/usr/bin/env bash
# Fails when the generated catalogue table in docs/hooks.md differs from what
# tools/gen_hooks_doc prints (i.e. catalog.h changed and the docs did not).
#
# Usage (from BUILD): docs_test.sh <gen_hooks_doc binary> <docs/hooks.md>
set -uo pipefail

gen=$1
doc=$2
out=${TEST_TMPDIR:-$(mktemp -d)}
begin='<!-- BEGIN GENERATED CATALOGUE -->'
end='<!-- END GENERATED CATALOGUE -->'

"$gen" >"$out/expected.md" || { echo "docs_test: FAIL gen_hooks_doc failed"; exit 1; }
# The generated part of the doc, markers included.
sed -n "/^$begin\$/,/^$end\$/p" "$doc" >"$out/actual.md"
if [[ ! -s $out/actual.md ]]; then
  echo "docs_test: FAIL $doc lacks the lines '$begin' ... '$end'"
  exit 1
fi
if ! diff -u "$out/actual.md" "$out/expected.md"; then
  echo
  echo "docs_test: FAIL docs/hooks.md is out of date with include/resdb_trace/catalog.h."
  echo "Regenerate it with:"
  echo "  bazel run --disk_cache=\$HOME/.cache/resdb_trace/bazel-disk //tools:gen_hooks_doc -- --update docs/hooks.md"
  exit 1
fi
echo "docs_test: PASS"
