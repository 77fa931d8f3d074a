# Sourced by the scripts: flags every Bazel invocation of ours shares.
# The disk cache lives outside the clone so fresh clones (and CI) reuse it.
RESDB_TRACE_BAZEL_FLAGS=(
  "--disk_cache=${HOME}/.cache/resdb_trace/bazel-disk"
)
