#include "collector/timeline/stage.h"

namespace resdb_trace::collector {
namespace {

// Fields 1..6 have the same names in every stage message except the
// view-change ones (new_view) and ClientBatchSent (local_id for seq).
template <typename M>
StageFields Common(v1::EventType type, const M& m) {
  StageFields f;
  f.type = type;
  if (m.has_view()) f.view = m.view();
  f.seq = m.seq();
  f.sender = m.sender();
  f.proxy_id = m.proxy_id();
  return f;
}

template <typename M>
StageFields WithDigest(v1::EventType type, const M& m) {
  StageFields f = Common(type, m);
  if (m.has_digest_prefix()) f.digest = m.digest_prefix();
  return f;
}

template <typename M>
StageFields ViewChange(v1::EventType type, const M& m) {
  StageFields f;
  f.type = type;
  if (m.has_new_view()) f.view = m.new_view();
  f.sender = m.sender();
  f.proxy_id = m.proxy_id();
  return f;
}

}  // namespace

std::optional<StageFields> ExtractStage(const v1::Event& e) {
  switch (e.event_case()) {
    case v1::Event::kClientBatchSent: {
      const auto& m = e.client_batch_sent();
      StageFields f;
      f.type = v1::EVENT_TYPE_CLIENT_BATCH_SENT;
      if (m.has_view()) f.view = m.view();
      f.seq = m.local_id();
      f.sender = m.sender();
      f.proxy_id = m.proxy_id();
      if (m.has_digest_prefix()) f.digest = m.digest_prefix();
      return f;
    }
    case v1::Event::kRequestReceived:
      return WithDigest(v1::EVENT_TYPE_REQUEST_RECEIVED, e.request_received());
    case v1::Event::kPrePrepareSent:
      return WithDigest(v1::EVENT_TYPE_PRE_PREPARE_SENT, e.pre_prepare_sent());
    case v1::Event::kPrePrepareReceived:
      return WithDigest(v1::EVENT_TYPE_PRE_PREPARE_RECEIVED,
                        e.pre_prepare_received());
    case v1::Event::kPrepareSent:
      return WithDigest(v1::EVENT_TYPE_PREPARE_SENT, e.prepare_sent());
    case v1::Event::kPrepareReceived:
      return WithDigest(v1::EVENT_TYPE_PREPARE_RECEIVED, e.prepare_received());
    case v1::Event::kPrepared:
      return WithDigest(v1::EVENT_TYPE_PREPARED, e.prepared());
    case v1::Event::kCommitSent:
      return WithDigest(v1::EVENT_TYPE_COMMIT_SENT, e.commit_sent());
    case v1::Event::kCommitReceived:
      return WithDigest(v1::EVENT_TYPE_COMMIT_RECEIVED, e.commit_received());
    case v1::Event::kCommitted:
      return WithDigest(v1::EVENT_TYPE_COMMITTED, e.committed());
    case v1::Event::kExecuteStart:
      return WithDigest(v1::EVENT_TYPE_EXECUTE_START, e.execute_start());
    case v1::Event::kExecuteEnd: {
      StageFields f = Common(v1::EVENT_TYPE_EXECUTE_END, e.execute_end());
      f.aux = e.execute_end().txn_count();
      return f;
    }
    case v1::Event::kReplySent:
      return WithDigest(v1::EVENT_TYPE_REPLY_SENT, e.reply_sent());
    case v1::Event::kReplyToClient: {
      StageFields f =
          Common(v1::EVENT_TYPE_REPLY_TO_CLIENT, e.reply_to_client());
      f.aux = e.reply_to_client().matching_replies();
      return f;
    }
    case v1::Event::kCheckpointSent: {
      StageFields f =
          Common(v1::EVENT_TYPE_CHECKPOINT_SENT, e.checkpoint_sent());
      if (e.checkpoint_sent().has_state_digest_prefix())
        f.digest = e.checkpoint_sent().state_digest_prefix();
      return f;
    }
    case v1::Event::kCheckpointReceived: {
      const auto& m = e.checkpoint_received();
      StageFields f = Common(v1::EVENT_TYPE_CHECKPOINT_RECEIVED, m);
      if (m.has_state_digest_prefix()) f.digest = m.state_digest_prefix();
      return f;
    }
    case v1::Event::kCheckpointStable: {
      StageFields f =
          Common(v1::EVENT_TYPE_CHECKPOINT_STABLE, e.checkpoint_stable());
      f.aux = e.checkpoint_stable().votes();
      return f;
    }
    case v1::Event::kViewChangeStarted: {
      const auto& m = e.view_change_started();
      StageFields f = ViewChange(v1::EVENT_TYPE_VIEW_CHANGE_STARTED, m);
      f.seq = m.stable_checkpoint_seq();
      f.aux = m.max_prepared_seq();
      return f;
    }
    case v1::Event::kViewChangeReceived: {
      const auto& m = e.view_change_received();
      StageFields f = ViewChange(v1::EVENT_TYPE_VIEW_CHANGE_RECEIVED, m);
      f.seq = m.stable_checkpoint_seq();
      f.aux = m.votes();
      return f;
    }
    case v1::Event::kNewViewSent: {
      const auto& m = e.new_view_sent();
      StageFields f = ViewChange(v1::EVENT_TYPE_NEW_VIEW_SENT, m);
      f.seq = m.max_seq();
      f.aux = m.votes();
      return f;
    }
    case v1::Event::kNewViewInstalled: {
      const auto& m = e.new_view_installed();
      StageFields f = ViewChange(v1::EVENT_TYPE_NEW_VIEW_INSTALLED, m);
      f.seq = m.next_seq();
      f.aux = m.new_primary();
      return f;
    }
    case v1::Event::kUserEvent: {
      StageFields f = Common(v1::EVENT_TYPE_USER_EVENT, e.user_event());
      f.aux = e.user_event().aux();
      return f;
    }
    default:
      return std::nullopt;
  }
}

}  // namespace resdb_trace::collector
