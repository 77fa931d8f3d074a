#include "collector/decode/decoder.h"

#include <limits.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/catalogue.h"
#include "resdb_trace/catalog.h"

namespace resdb_trace::collector {
namespace {

// The registers of a record, named by ABI.
struct Args {
  uint64_t req_ptr;
  uint64_t seq;
  UnpackedMeta meta;  // DISPATCH: type and sender from their own registers
  uint64_t proxy_id;
  uint64_t view;     // V1 only
  uint64_t aux;      // V1 only
  int64_t epoch_ns;  // COMPAT only
};

Args ReadArgs(const resdb_trace_record& r, int abi) {
  Args a{};
  a.req_ptr = r.args[0];
  a.seq = r.args[1];
  switch (abi) {
    case RESDB_TRACE_ABI_DISPATCH:
      // u32 arguments: the upper halves of their registers are undefined.
      a.meta.type = static_cast<uint32_t>(r.args[2]);
      a.meta.sender = 0;
      a.meta.self = 0;
      a.proxy_id = r.args[4];
      break;
    case RESDB_TRACE_ABI_COMPAT:
      a.meta = UnpackMeta(r.args[2]);
      a.proxy_id = r.args[3];
      a.epoch_ns = static_cast<int64_t>(r.args[4]);
      break;
    default:  // RESDB_TRACE_ABI_V1
      a.meta = UnpackMeta(r.args[2]);
      a.proxy_id = r.args[3];
      a.view = r.args[4];
      a.aux = r.args[5];
      break;
  }
  return a;
}

v1::MessageType ToMessageType(uint32_t type) {
  // Open proto3 enum: values ResilientDB adds later pass through unchanged.
  return static_cast<v1::MessageType>(static_cast<int32_t>(type));
}

// Fields every PBFT stage message names the same way.
template <typename M>
M* Common(const Args& a, M* m) {
  m->set_sender(a.meta.sender);
  m->set_msg_type(ToMessageType(a.meta.type));
  m->set_request_ptr(a.req_ptr);
  m->set_proxy_id(a.proxy_id);
  return m;
}

// A v1 stage whose aux is the batch digest prefix.
template <typename M>
void V1DigestStage(const Args& a, M* m) {
  Common(a, m);
  m->set_view(a.view);
  m->set_seq(a.seq);
  m->set_digest_prefix(a.aux);
}

// A DeepObserve-compatible stage: no view or digest, the caller's clock.
template <typename M>
void CompatStage(const Args& a, M* m) {
  Common(a, m);
  m->set_seq(a.seq);
  m->set_caller_epoch_ns(a.epoch_ns);
}

// ProcessState's binary for the default DecoderOptions::binary_for_pid.
std::string ReadProcExe(uint32_t pid) {
  char buf[PATH_MAX];
  const std::string link = absl::StrCat("/proc/", pid, "/exe");
  const ssize_t n = readlink(link.c_str(), buf, sizeof(buf));
  if (n <= 0 || static_cast<size_t>(n) >= sizeof(buf)) return "";
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace

UnpackedMeta UnpackMeta(uint64_t meta) {
  return UnpackedMeta{static_cast<uint32_t>(meta & 0xffffffffu),
                      static_cast<uint16_t>((meta >> 32) & 0xffffu),
                      static_cast<uint16_t>(meta >> 48)};
}

std::optional<uint64_t> EventSeq(const v1::Event& e) {
  switch (e.event_case()) {
    case v1::Event::kRequestReceived:
      return e.request_received().seq();
    case v1::Event::kPrePrepareSent:
      return e.pre_prepare_sent().seq();
    case v1::Event::kPrePrepareReceived:
      return e.pre_prepare_received().seq();
    case v1::Event::kPrepareSent:
      return e.prepare_sent().seq();
    case v1::Event::kPrepareReceived:
      return e.prepare_received().seq();
    case v1::Event::kPrepared:
      return e.prepared().seq();
    case v1::Event::kCommitSent:
      return e.commit_sent().seq();
    case v1::Event::kCommitReceived:
      return e.commit_received().seq();
    case v1::Event::kCommitted:
      return e.committed().seq();
    case v1::Event::kExecuteStart:
      return e.execute_start().seq();
    case v1::Event::kExecuteEnd:
      return e.execute_end().seq();
    case v1::Event::kReplySent:
      return e.reply_sent().seq();
    case v1::Event::kReplyToClient:
      return e.reply_to_client().seq();
    case v1::Event::kCheckpointSent:
      return e.checkpoint_sent().seq();
    case v1::Event::kCheckpointReceived:
      return e.checkpoint_received().seq();
    case v1::Event::kCheckpointStable:
      return e.checkpoint_stable().seq();
    case v1::Event::kUserEvent:
      return e.user_event().seq();
    case v1::Event::kConsensusDispatch:
      return e.consensus_dispatch().seq();
    default:
      return std::nullopt;
  }
}

Decoder::Decoder(const MonotonicToWallClock* clock, DecoderOptions options)
    : clock_(clock), options_(std::move(options)) {
  if (!options_.binary_for_pid) options_.binary_for_pid = ReadProcExe;
}

DecoderStats Decoder::stats() const {
  DecoderStats s;
  s.records = records_.load(std::memory_order_relaxed);
  s.decoded = decoded_.load(std::memory_order_relaxed);
  s.wrong_size = wrong_size_.load(std::memory_order_relaxed);
  s.unknown_hook = unknown_hook_.load(std::memory_order_relaxed);
  s.malformed = s.wrong_size + s.unknown_hook;
  s.processes_seen = processes_seen_.load(std::memory_order_relaxed);
  return s;
}

absl::StatusOr<const catalogue::Hook*> Decoder::CountAndLookUp(
    const resdb_trace_record& record) {
  records_.fetch_add(1, std::memory_order_relaxed);
  const catalogue::Hook* hook = catalogue::FindHook(record.hook_id);
  if (hook == nullptr) {
    unknown_hook_.fetch_add(1, std::memory_order_relaxed);
    return catalogue::EventTypeForHook(record.hook_id).status();
  }
  return hook;
}

template <typename Out, typename NewEvent>
absl::Status Decoder::DecodeAppending(const resdb_trace_record& record,
                                      Out* out, NewEvent new_event) {
  absl::StatusOr<const catalogue::Hook*> hook = CountAndLookUp(record);
  if (!hook.ok()) return hook.status();
  const catalogue::Hook& info = **hook;
  const size_t before = out->size();
  bool is_new = false;
  const ProcessState process = Observe(record, info, &is_new);
  if (is_new && options_.emit_process_started) {
    v1::Event* started = new_event();
    FillEnvelope(record, process, started);
    started->set_type(v1::EVENT_TYPE_PROCESS_STARTED);
    v1::ProcessStarted* p = started->mutable_process_started();
    p->set_pid(record.pid);
    p->set_binary(*process.binary);
    processes_seen_.fetch_add(1, std::memory_order_relaxed);
  }
  absl::Status s = DecodeKnown(record, info, process, new_event());
  // Only the unreachable "no decoding" case fails here: drop its empty
  // event, keep a ProcessStarted (the pid was learnt).
  if (!s.ok() && out->size() > before) out->pop_back();
  return s;
}

absl::Status Decoder::Decode(const resdb_trace_record& record,
                             google::protobuf::Arena* arena,
                             std::vector<v1::Event*>* out) {
  return DecodeAppending(record, out, [arena, out] {
    out->push_back(google::protobuf::Arena::CreateMessage<v1::Event>(arena));
    return out->back();
  });
}

absl::Status Decoder::Decode(absl::Span<const uint8_t> bytes,
                             std::vector<v1::Event>* out) {
  if (bytes.size() != sizeof(resdb_trace_record)) {
    records_.fetch_add(1, std::memory_order_relaxed);
    wrong_size_.fetch_add(1, std::memory_order_relaxed);
    return absl::InvalidArgumentError(absl::StrCat(
        "ring-buffer record of ", bytes.size(), " bytes, expected ",
        sizeof(resdb_trace_record), " (record layout version ",
        RESDB_TRACE_RECORD_VERSION,
        "): is the BPF object from another build of resdb_trace?"));
  }
  resdb_trace_record record;
  std::memcpy(&record, bytes.data(), sizeof(record));  // no alignment needed
  return DecodeAppending(record, out, [out] {
    out->emplace_back();
    return &out->back();
  });
}

absl::StatusOr<v1::Event> Decoder::DecodeRecord(
    const resdb_trace_record& record) {
  absl::StatusOr<const catalogue::Hook*> hook = CountAndLookUp(record);
  if (!hook.ok()) return hook.status();
  bool is_new = false;
  const ProcessState process = Observe(record, **hook, &is_new);
  v1::Event e;
  absl::Status s = DecodeKnown(record, **hook, process, &e);
  if (!s.ok()) return s;
  return e;
}

v1::Event Decoder::ForgetProcess(uint32_t pid) {
  v1::Event event;
  ForgetProcess(pid, &event);
  return event;
}

void Decoder::ForgetProcess(uint32_t pid, v1::Event* event) {
  event->set_event_id(AllocateEventId());
  event->set_type(v1::EVENT_TYPE_PROCESS_EXITED);
  *event->mutable_time() =
      clock_->ToTimestamp(static_cast<uint64_t>(clock_->MonotonicNowNs()));
  v1::ProcessExited* exited = event->mutable_process_exited();
  exited->set_pid(pid);
  event->mutable_process()->set_pid(pid);
  event->set_node_name(options_.node_name);
  absl::MutexLock lock(&mu_);
  auto it = processes_.find(pid);
  if (it != processes_.end()) {
    exited->set_binary(*it->second.binary);
    event->mutable_process()->set_binary(*it->second.binary);
    event->set_replica_id(it->second.replica_id);
    processes_.erase(it);
  }
}

Decoder::ProcessState Decoder::Observe(const resdb_trace_record& record,
                                       const catalogue::Hook& hook,
                                       bool* is_new) {
  const bool has_self = hook.abi != RESDB_TRACE_ABI_DISPATCH;
  const uint16_t self = UnpackMeta(record.args[2]).self;
  {
    absl::MutexLock lock(&mu_);
    auto it = processes_.find(record.pid);
    if (it != processes_.end()) {
      if (has_self) it->second.replica_id = self;
      *is_new = false;
      return it->second;
    }
  }
  // First sight of the pid: resolve its binary outside the lock.
  ProcessState fresh;
  fresh.binary =
      std::make_shared<const std::string>(options_.binary_for_pid(record.pid));
  if (has_self) fresh.replica_id = self;
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = processes_.try_emplace(record.pid, std::move(fresh));
  if (!inserted && has_self) it->second.replica_id = self;
  *is_new = inserted;
  return it->second;
}

void Decoder::FillEnvelope(const resdb_trace_record& record,
                           const ProcessState& process, v1::Event* event) {
  event->set_event_id(AllocateEventId());
  *event->mutable_time() = clock_->ToTimestamp(record.ktime_ns);
  event->set_ktime_ns(record.ktime_ns);
  v1::ProcessInfo* p = event->mutable_process();
  p->set_pid(record.pid);
  p->set_tid(record.tid);
  p->set_cpu(record.cpu);
  p->set_binary(*process.binary);
  event->set_replica_id(process.replica_id);
  event->set_node_name(options_.node_name);
}

absl::Status Decoder::DecodeKnown(const resdb_trace_record& r,
                                  const catalogue::Hook& hook,
                                  const ProcessState& process, v1::Event* ep) {
  const Args a = ReadArgs(r, hook.abi);
  v1::Event& e = *ep;
  FillEnvelope(r, process, &e);
  e.set_hook_id(hook.id);
  e.set_hook_name(hook.name.data(), hook.name.size());
  if (hook.abi != RESDB_TRACE_ABI_DISPATCH) e.set_replica_id(a.meta.self);

  switch (r.hook_id) {
    case RESDB_TRACE_ID_consensus_commit: {
      v1::ConsensusDispatch* m = e.mutable_consensus_dispatch();
      m->set_seq(a.seq);
      m->set_sender(static_cast<uint32_t>(r.args[3]));
      m->set_msg_type(ToMessageType(a.meta.type));
      m->set_request_ptr(a.req_ptr);
      m->set_proxy_id(a.proxy_id);
      break;
    }
    // DeepObserve-compatible hooks: the v1 stage messages, compat fields.
    case RESDB_TRACE_ID_pbft_request:
      CompatStage(a, e.mutable_request_received());
      break;
    case RESDB_TRACE_ID_pbft_pre_prepare:
      CompatStage(a, e.mutable_pre_prepare_received());
      break;
    case RESDB_TRACE_ID_pbft_prepare_recv:
      CompatStage(a, e.mutable_prepare_received());
      break;
    case RESDB_TRACE_ID_pbft_prepare_state:
      CompatStage(a, e.mutable_prepared());
      break;
    case RESDB_TRACE_ID_pbft_commit_recv:
      CompatStage(a, e.mutable_commit_received());
      break;
    case RESDB_TRACE_ID_pbft_commit_state:
      CompatStage(a, e.mutable_committed());
      break;
    case RESDB_TRACE_ID_pbft_execute_start:
      CompatStage(a, e.mutable_execute_start());
      break;
    case RESDB_TRACE_ID_pbft_execute_end:
      CompatStage(a, e.mutable_execute_end());
      break;
    // resdb_trace v1 hooks.
    case RESDB_TRACE_ID_client_batch_sent: {
      v1::ClientBatchSent* m = Common(a, e.mutable_client_batch_sent());
      m->set_view(a.view);
      m->set_local_id(a.seq);
      m->set_digest_prefix(a.aux);
      break;
    }
    case RESDB_TRACE_ID_request_received:
      V1DigestStage(a, e.mutable_request_received());
      break;
    case RESDB_TRACE_ID_pre_prepare_sent:
      V1DigestStage(a, e.mutable_pre_prepare_sent());
      break;
    case RESDB_TRACE_ID_pre_prepare_received:
      V1DigestStage(a, e.mutable_pre_prepare_received());
      break;
    case RESDB_TRACE_ID_prepare_sent:
      V1DigestStage(a, e.mutable_prepare_sent());
      break;
    case RESDB_TRACE_ID_prepare_received:
      V1DigestStage(a, e.mutable_prepare_received());
      break;
    case RESDB_TRACE_ID_prepared:
      V1DigestStage(a, e.mutable_prepared());
      break;
    case RESDB_TRACE_ID_commit_sent:
      V1DigestStage(a, e.mutable_commit_sent());
      break;
    case RESDB_TRACE_ID_commit_received:
      V1DigestStage(a, e.mutable_commit_received());
      break;
    case RESDB_TRACE_ID_committed:
      V1DigestStage(a, e.mutable_committed());
      break;
    case RESDB_TRACE_ID_execute_start:
      V1DigestStage(a, e.mutable_execute_start());
      break;
    case RESDB_TRACE_ID_execute_end: {
      v1::ExecuteEnd* m = Common(a, e.mutable_execute_end());
      m->set_view(a.view);
      m->set_seq(a.seq);
      m->set_txn_count(a.aux);
      break;
    }
    case RESDB_TRACE_ID_reply_sent:
      V1DigestStage(a, e.mutable_reply_sent());
      break;
    case RESDB_TRACE_ID_reply_to_client: {
      v1::ReplyToClient* m = Common(a, e.mutable_reply_to_client());
      m->set_view(a.view);
      m->set_seq(a.seq);
      m->set_matching_replies(a.aux);
      break;
    }
    case RESDB_TRACE_ID_checkpoint_sent: {
      v1::CheckpointSent* m = Common(a, e.mutable_checkpoint_sent());
      m->set_view(a.view);
      m->set_seq(a.seq);
      m->set_state_digest_prefix(a.aux);
      break;
    }
    case RESDB_TRACE_ID_checkpoint_received: {
      v1::CheckpointReceived* m = Common(a, e.mutable_checkpoint_received());
      m->set_view(a.view);
      m->set_seq(a.seq);
      m->set_state_digest_prefix(a.aux);
      break;
    }
    case RESDB_TRACE_ID_checkpoint_stable: {
      v1::CheckpointStable* m = Common(a, e.mutable_checkpoint_stable());
      m->set_view(a.view);
      m->set_seq(a.seq);
      m->set_votes(a.aux);
      break;
    }
    case RESDB_TRACE_ID_view_change_started: {
      v1::ViewChangeStarted* m = Common(a, e.mutable_view_change_started());
      m->set_new_view(a.view);
      m->set_stable_checkpoint_seq(a.seq);
      m->set_max_prepared_seq(a.aux);
      break;
    }
    case RESDB_TRACE_ID_view_change_received: {
      v1::ViewChangeReceived* m = Common(a, e.mutable_view_change_received());
      m->set_new_view(a.view);
      m->set_stable_checkpoint_seq(a.seq);
      m->set_votes(a.aux);
      break;
    }
    case RESDB_TRACE_ID_new_view_sent: {
      v1::NewViewSent* m = Common(a, e.mutable_new_view_sent());
      m->set_new_view(a.view);
      m->set_max_seq(a.seq);
      m->set_votes(a.aux);
      break;
    }
    case RESDB_TRACE_ID_new_view_installed: {
      v1::NewViewInstalled* m = Common(a, e.mutable_new_view_installed());
      m->set_new_view(a.view);
      m->set_next_seq(a.seq);
      m->set_new_primary(a.aux);
      break;
    }
    case RESDB_TRACE_ID_user: {
      v1::UserEvent* m = Common(a, e.mutable_user_event());
      m->set_view(a.view);
      m->set_seq(a.seq);
      m->set_aux(a.aux);
      break;
    }
    default:
      // Unreachable while the catalogue and this switch agree (tests check
      // it).
      unknown_hook_.fetch_add(1, std::memory_order_relaxed);
      return absl::InternalError(absl::StrCat("hook ", hook.name, " (id ",
                                              hook.id, ") has no decoding"));
  }
  // EventType numbers equal the oneof field numbers by design.
  e.set_type(static_cast<v1::EventType>(e.event_case()));
  decoded_.fetch_add(1, std::memory_order_relaxed);
  return absl::OkStatus();
}

}  // namespace resdb_trace::collector
