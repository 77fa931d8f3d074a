#!/bin/sh
# Bazel's --workspace_status_command (.bazelrc): the git commit that
# //lib:version stamps into every binary's --version. A STABLE_ key, so a
# build re-links only when the commit changes; outside a git checkout it says
# so instead of failing the build.
commit=$(git rev-parse --short=12 HEAD 2>/dev/null) || commit=""
echo "STABLE_RESDB_TRACE_COMMIT ${commit:-unknown commit}"
