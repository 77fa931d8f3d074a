"""Symbols //:resdb_trace exports into .dynsym (one per catalogue hook).

Bazel 4 links with gold, whose --export-dynamic-symbol takes exact names,
and its cc_library has no additional_linker_inputs for a --dynamic-list
file; so the names are listed here. tests/hooks:binary_inspection_test
fails if this list and include/resdb_trace/catalog.h ever disagree.
"""

RESDB_TRACE_EXPORTED_SYMBOLS = [
    "resdb_trace_consensus_commit",
    "resdb_trace_pbft_request",
    "resdb_trace_pbft_pre_prepare",
    "resdb_trace_pbft_prepare_recv",
    "resdb_trace_pbft_prepare_state",
    "resdb_trace_pbft_commit_recv",
    "resdb_trace_pbft_commit_state",
    "resdb_trace_pbft_execute_start",
    "resdb_trace_pbft_execute_end",
    "resdb_trace_client_batch_sent",
    "resdb_trace_request_received",
    "resdb_trace_pre_prepare_sent",
    "resdb_trace_pre_prepare_received",
    "resdb_trace_prepare_sent",
    "resdb_trace_prepare_received",
    "resdb_trace_prepared",
    "resdb_trace_commit_sent",
    "resdb_trace_commit_received",
    "resdb_trace_committed",
    "resdb_trace_execute_start",
    "resdb_trace_execute_end",
    "resdb_trace_reply_sent",
    "resdb_trace_reply_to_client",
    "resdb_trace_checkpoint_sent",
    "resdb_trace_checkpoint_received",
    "resdb_trace_checkpoint_stable",
    "resdb_trace_view_change_started",
    "resdb_trace_view_change_received",
    "resdb_trace_new_view_sent",
    "resdb_trace_new_view_installed",
    "resdb_trace_user",
    "resdb_trace_semaphores",
]

RESDB_TRACE_LINKOPTS = ["-Wl,--export-dynamic-symbol=" + s for s in RESDB_TRACE_EXPORTED_SYMBOLS]
