/*
 * resdb_trace hook catalogue: the one source of truth.
 *
 * Every hook is one row of RESDB_TRACE_HOOKS. The hook functions, their ids,
 * the is-enabled semaphores, the inline wrappers, the collector's one C++ view
 * (lib/catalogue.h), the docs table (docs/hooks.md) and the proto check
 * (tests/proto/catalog_match_test.cc) all expand it.
 *
 * Row: X(id, name, Name, abi, msg_type, event, where, seq_arg, aux_arg)
 *   id        stable numeric id, the uprobe's attach cookie. Append only; never
 *             reuse or renumber (retired ids stay listed in docs/hooks.md).
 *   name      symbol suffix: the hook is `resdb_trace_<name>`.
 *   Name      CamelCase for the gated wrapper `ResdbTrace<Name>`.
 *   abi       RESDB_TRACE_ABI_* (argument convention, see below).
 *   msg_type  ResilientDB Request::Type this hook reports (meta's type field
 *             carries the actual value; this is the usual one, 0 = varies).
 *   event     the resdb_trace.v1.EventType the hook decodes into, as a bare
 *             token that C++ pastes onto EVENT_TYPE_ (so this header needs
 *             no proto). Expansions must use it only with ## or #: an
 *             application macro of the same name would otherwise replace it.
 *   where     where ResilientDB calls it (file: function).
 *   seq_arg   what the second argument (`seq`) means for this hook.
 *   aux_arg   what the sixth argument (`aux`) means (v1 hooks only).
 *
 * Argument conventions (x86-64 SysV: all in registers, so one BPF program
 * reads every hook the same way and the decoder interprets by id):
 *   RESDB_TRACE_ABI_COMPAT   (u64 req_ptr, u64 seq, u64 meta, u64 proxy_id,
 *                             i64 epoch_ns)      DeepObserve's, bit for bit.
 *   RESDB_TRACE_ABI_DISPATCH (u64 req_ptr, u64 seq, u32 type, u32 sender_id,
 *                             u64 proxy_id)      DeepObserve's
 *                                                consensus_commit.
 *   RESDB_TRACE_ABI_V1       (u64 req_ptr, u64 seq, u64 meta, u64 proxy_id,
 *                             u64 view, u64 aux) ours: view and a digest
 *                             prefix (or count) ride in registers 5 and 6,
 *                             so the BPF side never reads user memory. No
 *                             caller clock read: the kernel stamps every hit.
 *
 * This header depends on nothing and is valid C11 and C++11..C++23.
 */
#ifndef RESDB_TRACE_CATALOG_H_
#define RESDB_TRACE_CATALOG_H_

#define RESDB_TRACE_ABI_COMPAT 1
#define RESDB_TRACE_ABI_DISPATCH 2
#define RESDB_TRACE_ABI_V1 3

/* ResilientDB Request::Type values (platform/proto/resdb.proto). */
#define RESDB_TRACE_TYPE_NONE 0
#define RESDB_TRACE_TYPE_HEART_BEAT 1
#define RESDB_TRACE_TYPE_CLIENT_REQUEST 2
#define RESDB_TRACE_TYPE_PRE_PREPARE 3
#define RESDB_TRACE_TYPE_PREPARE 4
#define RESDB_TRACE_TYPE_COMMIT 5
#define RESDB_TRACE_TYPE_CLIENT_CERT 6
#define RESDB_TRACE_TYPE_RESPONSE 7
#define RESDB_TRACE_TYPE_RECOVERY_DATA 8
#define RESDB_TRACE_TYPE_RECOVERY_DATA_RESP 9
#define RESDB_TRACE_TYPE_CHECKPOINT 10
#define RESDB_TRACE_TYPE_QUERY 11
#define RESDB_TRACE_TYPE_REPLICA_STATE 12
#define RESDB_TRACE_TYPE_NEW_TXNS 14
#define RESDB_TRACE_TYPE_GEO_REQUEST 15
#define RESDB_TRACE_TYPE_VIEWCHANGE 16
#define RESDB_TRACE_TYPE_NEWVIEW 17
#define RESDB_TRACE_TYPE_CUSTOM_QUERY 18
#define RESDB_TRACE_TYPE_CUSTOM_CONSENSUS 19
#define RESDB_TRACE_TYPE_STATUS_SYNC 20

/* clang-format off */
#define RESDB_TRACE_HOOKS(X)                                                   \
  /* DeepObserve-compatible hooks (ResilientDB branch demo-final). */          \
  X(1, consensus_commit, ConsensusCommit, RESDB_TRACE_ABI_DISPATCH,            \
    0, CONSENSUS_DISPATCH,                                                     \
    "consensus_manager_pbft.cpp: ConsensusCommit, entry (every message)",      \
    "request seq (0 before assignment)", "-")                                  \
  X(2, pbft_request, PbftRequest, RESDB_TRACE_ABI_COMPAT,                      \
    RESDB_TRACE_TYPE_NEW_TXNS, REQUEST_RECEIVED,                               \
    "commitment.cpp: ProcessNewRequest, after the seq is assigned",            \
    "assigned seq", "-")                                                       \
  X(3, pbft_pre_prepare, PbftPrePrepare, RESDB_TRACE_ABI_COMPAT,               \
    RESDB_TRACE_TYPE_PRE_PREPARE, PRE_PREPARE_RECEIVED,                        \
    "commitment.cpp: ProcessProposeMsg, after checks",                         \
    "seq", "-")                                                                \
  X(4, pbft_prepare_recv, PbftPrepareRecv, RESDB_TRACE_ABI_COMPAT,             \
    RESDB_TRACE_TYPE_PREPARE, PREPARE_RECEIVED,                                \
    "commitment.cpp: ProcessPrepareMsg, entry",                                \
    "seq", "-")                                                                \
  X(5, pbft_prepare_state, PbftPrepareState, RESDB_TRACE_ABI_COMPAT,           \
    RESDB_TRACE_TYPE_PREPARE, PREPARED,                                        \
    "commitment.cpp: ProcessPrepareMsg, on STATE_CHANGED (2f+1 prepares)",     \
    "seq", "-")                                                                \
  X(6, pbft_commit_recv, PbftCommitRecv, RESDB_TRACE_ABI_COMPAT,               \
    RESDB_TRACE_TYPE_COMMIT, COMMIT_RECEIVED,                                  \
    "commitment.cpp: ProcessCommitMsg, entry",                                 \
    "seq", "-")                                                                \
  X(7, pbft_commit_state, PbftCommitState, RESDB_TRACE_ABI_COMPAT,             \
    RESDB_TRACE_TYPE_COMMIT, COMMITTED,                                        \
    "commitment.cpp: ProcessCommitMsg, on STATE_CHANGED (2f+1 commits)",       \
    "seq", "-")                                                                \
  X(8, pbft_execute_start, PbftExecuteStart, RESDB_TRACE_ABI_COMPAT,           \
    RESDB_TRACE_TYPE_COMMIT, EXECUTE_START,                                    \
    "transaction_executor.cpp: ExecuteMessage, before Execute",                \
    "seq", "-")                                                                \
  X(9, pbft_execute_end, PbftExecuteEnd, RESDB_TRACE_ABI_COMPAT,               \
    RESDB_TRACE_TYPE_COMMIT, EXECUTE_END,                                      \
    "transaction_executor.cpp: ExecuteMessage, after Execute",                 \
    "seq", "-")                                                                \
  /* resdb_trace v1 hooks: the whole PBFT life of a request. */                \
  X(10, client_batch_sent, ClientBatchSent, RESDB_TRACE_ABI_V1,                \
    RESDB_TRACE_TYPE_NEW_TXNS, CLIENT_BATCH_SENT,                              \
    "response_manager.cpp: DoBatch, before sending NEW_TXNS to the primary",   \
    "proxy-local batch id (local_id)", "batch digest prefix")                  \
  X(11, request_received, RequestReceived, RESDB_TRACE_ABI_V1,                 \
    RESDB_TRACE_TYPE_NEW_TXNS, REQUEST_RECEIVED,                               \
    "commitment.cpp: ProcessNewRequest, at the primary, seq assigned",         \
    "assigned seq", "batch digest prefix")                                     \
  X(12, pre_prepare_sent, PrePrepareSent, RESDB_TRACE_ABI_V1,                  \
    RESDB_TRACE_TYPE_PRE_PREPARE, PRE_PREPARE_SENT,                            \
    "commitment.cpp: ProcessNewRequest, at the pre-prepare BroadCast",         \
    "seq", "batch digest prefix")                                              \
  X(13, pre_prepare_received, PrePrepareReceived, RESDB_TRACE_ABI_V1,          \
    RESDB_TRACE_TYPE_PRE_PREPARE, PRE_PREPARE_RECEIVED,                        \
    "commitment.cpp: ProcessProposeMsg, after primary/signature/dup checks",   \
    "seq", "batch digest prefix")                                              \
  X(14, prepare_sent, PrepareSent, RESDB_TRACE_ABI_V1,                         \
    RESDB_TRACE_TYPE_PREPARE, PREPARE_SENT,                                    \
    "commitment.cpp: ProcessProposeMsg, on STATE_CHANGED (prepare broadcast)", \
    "seq", "batch digest prefix")                                              \
  X(15, prepare_received, PrepareReceived, RESDB_TRACE_ABI_V1,                 \
    RESDB_TRACE_TYPE_PREPARE, PREPARE_RECEIVED,                                \
    "commitment.cpp: ProcessPrepareMsg, entry",                                \
    "seq", "batch digest prefix")                                              \
  X(16, prepared, Prepared, RESDB_TRACE_ABI_V1,                                \
    RESDB_TRACE_TYPE_PREPARE, PREPARED,                                        \
    "commitment.cpp: ProcessPrepareMsg, on STATE_CHANGED (2f+1 prepares)",     \
    "seq", "batch digest prefix")                                              \
  X(17, commit_sent, CommitSent, RESDB_TRACE_ABI_V1,                           \
    RESDB_TRACE_TYPE_COMMIT, COMMIT_SENT,                                      \
    "commitment.cpp: ProcessPrepareMsg, at the commit BroadCast",              \
    "seq", "batch digest prefix")                                              \
  X(18, commit_received, CommitReceived, RESDB_TRACE_ABI_V1,                   \
    RESDB_TRACE_TYPE_COMMIT, COMMIT_RECEIVED,                                  \
    "commitment.cpp: ProcessCommitMsg, entry (before the message is moved)",   \
    "seq", "batch digest prefix")                                              \
  X(19, committed, Committed, RESDB_TRACE_ABI_V1,                              \
    RESDB_TRACE_TYPE_COMMIT, COMMITTED,                                        \
    "commitment.cpp: ProcessCommitMsg, on STATE_CHANGED (2f+1 commits)",       \
    "seq", "batch digest prefix")                                              \
  X(20, execute_start, ExecuteStart, RESDB_TRACE_ABI_V1,                       \
    RESDB_TRACE_TYPE_COMMIT, EXECUTE_START,                                    \
    "transaction_executor.cpp: ExecuteMessage, before Execute",                \
    "seq", "batch digest prefix")                                              \
  X(21, execute_end, ExecuteEnd, RESDB_TRACE_ABI_V1,                           \
    RESDB_TRACE_TYPE_COMMIT, EXECUTE_END,                                      \
    "transaction_executor.cpp: ExecuteMessage, after Execute",                 \
    "seq", "transactions executed in the batch")                               \
  X(22, reply_sent, ReplySent, RESDB_TRACE_ABI_V1,                             \
    RESDB_TRACE_TYPE_RESPONSE, REPLY_SENT,                                     \
    "commitment.cpp: PostProcessExecutedMsg, RESPONSE to the proxy",           \
    "seq", "batch digest prefix")                                              \
  X(23, reply_to_client, ReplyToClient, RESDB_TRACE_ABI_V1,                    \
    RESDB_TRACE_TYPE_RESPONSE, REPLY_TO_CLIENT,                                \
    "response_manager.cpp: SendResponseToClient, after f+1 matching replies",  \
    "seq", "matching replies counted")                                         \
  X(24, checkpoint_sent, CheckpointSent, RESDB_TRACE_ABI_V1,                   \
    RESDB_TRACE_TYPE_CHECKPOINT, CHECKPOINT_SENT,                              \
    "checkpoint_manager.cpp: BroadcastCheckPoint",                             \
    "checkpoint seq", "state digest prefix")                                   \
  X(25, checkpoint_received, CheckpointReceived, RESDB_TRACE_ABI_V1,           \
    RESDB_TRACE_TYPE_CHECKPOINT, CHECKPOINT_RECEIVED,                          \
    "checkpoint_manager.cpp: ProcessCheckPoint",                               \
    "checkpoint seq", "state digest prefix")                                   \
  X(26, checkpoint_stable, CheckpointStable, RESDB_TRACE_ABI_V1,               \
    RESDB_TRACE_TYPE_CHECKPOINT, CHECKPOINT_STABLE,                            \
    "checkpoint_manager.cpp: UpdateStableCheckPointStatus",                    \
    "stable checkpoint seq", "votes for it")                                   \
  X(27, view_change_started, ViewChangeStarted, RESDB_TRACE_ABI_V1,            \
    RESDB_TRACE_TYPE_VIEWCHANGE, VIEW_CHANGE_STARTED,                          \
    "viewchange_manager.cpp: SendViewChangeMsg (view = proposed new view)",    \
    "last stable checkpoint seq", "highest prepared seq")                      \
  X(28, view_change_received, ViewChangeReceived, RESDB_TRACE_ABI_V1,          \
    RESDB_TRACE_TYPE_VIEWCHANGE, VIEW_CHANGE_RECEIVED,                         \
    "viewchange_manager.cpp: ProcessViewChange (view = proposed new view)",    \
    "sender's stable checkpoint seq", "view-change votes for that view")       \
  X(29, new_view_sent, NewViewSent, RESDB_TRACE_ABI_V1,                        \
    RESDB_TRACE_TYPE_NEWVIEW, NEW_VIEW_SENT,                                   \
    "viewchange_manager.cpp: SendNewViewMsg, by the next primary",             \
    "highest seq carried over", "view-change votes included")                  \
  X(30, new_view_installed, NewViewInstalled, RESDB_TRACE_ABI_V1,              \
    RESDB_TRACE_TYPE_NEWVIEW, NEW_VIEW_INSTALLED,                              \
    "viewchange_manager.cpp: ProcessNewView, after SetCurrentViewAndNewPrimary",\
    "next seq", "new primary id")                                              \
  X(31, user, User, RESDB_TRACE_ABI_V1, 0, USER_EVENT,                         \
    "anywhere: a generic application hook",                                    \
    "user-defined", "user-defined")
/* clang-format on */

/* Hook ids as an enum: RESDB_TRACE_ID_<name>. */
enum resdb_trace_hook_id {
  RESDB_TRACE_ID_NONE = 0,
#define RESDB_TRACE_X_ID(id, name, Name, abi, type, event, where, seq_arg, \
                         aux_arg)                                          \
  RESDB_TRACE_ID_##name = id,
  RESDB_TRACE_HOOKS(RESDB_TRACE_X_ID)
#undef RESDB_TRACE_X_ID
      RESDB_TRACE_ID_END /* one past the largest id */
};

/* Slots in the semaphore table: index = hook id (slot 0 unused). */
#define RESDB_TRACE_SEMAPHORE_SLOTS 64

#endif /* RESDB_TRACE_CATALOG_H_ */
