// One PBFT replica of the resdb_trace demo cluster.
//
// A small but real PBFT (Castro & Liskov) implementation that reports every
// consensus point through the resdb_trace hooks, at the same places Apache
// ResilientDB reports them (see /work/shared/resilientdb-notes.md):
//   normal case  NEW_TXNS -> PRE_PREPARE -> PREPARE (2f+1) -> COMMIT (2f+1)
//                -> execute in seq order -> RESPONSE to the client;
//   checkpoints  every K executed seqs, stable at 2f+1 matching votes;
//   view change  VIEWCHANGE(v+1, stable ckpt, prepared set) -> NEWVIEW from
//                the new primary with re-proposals / null-ops.
//
// CRASH-FAULT ONLY. Messages carry no signatures or MACs and nothing is
// authenticated: a Byzantine replica could forge votes, VIEWCHANGE prepared
// sets or NEWVIEW contents. Real PBFT (and ResilientDB) signs/MACs every
// message, carries 2f+1 signed PREPAREs as the prepared certificate inside
// VIEWCHANGE, has replicas re-validate the NEWVIEW computation, and does
// state transfer for replicas that fall behind a stable checkpoint. None of
// that is here; the demo exists to produce realistic traces.
//
// Threads: one accept thread, one reader thread per inbound connection, one
// writer thread per outgoing link (demo/wire.h Outbox), and ONE consensus
// thread that consumes a queue: all protocol state is owned by it.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "demo/wire.h"
#include "lib/flags/flags.h"
#include "resdb_trace/hooks.h"

namespace {

constexpr char kUsage[] =
    R"(replica: one replica of the demo PBFT cluster (demo/README.md).

Usage: replica --id=I [--n=N] [--base_port=P] [options]

  --id I                      replica id, 1..n (default 1)
  --n N                       number of replicas, f = (n-1)/3 (default 4)
  --base_port P               replica i listens on 127.0.0.1:P+i (default 20000)
  --checkpoint_interval K     checkpoint every K executed seqs, 0 = off
                              (default 50)
  --view_change_timeout_ms MS complaint timeout; doubles on each consecutive
                              view change (default 1000)
  --batch_size B              max client requests per PRE_PREPARE (default 1)
  --fault SPEC                comma-separated: none | crash_primary_after=N |
                              stall_after=N | stall_primary_after=N | stall
                              (= stall_after=0) | silent | slow_link=PEER:MS
                              (default none)
  --log_file PATH             append one line per executed seq: 'seq digest
                              txns view'; a '<log_file>.status' summary is
                              written at exit
  --verbose                   log protocol events to stderr
  --version                   print the version and exit
  -h, --help                  print this text and exit
)";

struct ReplicaFlags {
  int id = 1;
  int n = 4;
  int base_port = 20000;
  int checkpoint_interval = 50;
  int view_change_timeout_ms = 1000;
  int batch_size = 1;
  std::string fault = "none";
  std::string log_file;
  bool verbose = false;
};

ReplicaFlags ParseFlags(int argc, char** argv) {
  ReplicaFlags f;
  CLI::App app;
  resdb_trace::flags::Setup(&app, "replica", kUsage);
  app.add_option("--id", f.id);
  app.add_option("--n", f.n);
  app.add_option("--base_port", f.base_port);
  app.add_option("--checkpoint_interval", f.checkpoint_interval);
  app.add_option("--view_change_timeout_ms", f.view_change_timeout_ms);
  app.add_option("--batch_size", f.batch_size);
  app.add_option("--fault", f.fault);
  app.add_option("--log_file", f.log_file);
  app.add_flag("--verbose", f.verbose);
  resdb_trace::flags::ParseOrExit(&app, argc, argv);
  return f;
}

}  // namespace

namespace resdb_trace::demo {
namespace {

std::atomic<bool> g_stop{false};
std::atomic<int> g_stall_toggles{0};

void OnSignal(int sig) {
  if (sig == SIGUSR1) {
    g_stall_toggles.fetch_add(1);
  } else {
    g_stop.store(true);
  }
}

uint64_t Ptr(const void* p) { return reinterpret_cast<uintptr_t>(p); }

using Key = std::pair<uint64_t, uint64_t>;  // (client id, request id)

class EventQueue {
 public:
  void Push(Message m) {
    std::lock_guard<std::mutex> l(mu_);
    q_.push_back(std::move(m));
    cv_.notify_one();
  }
  std::deque<Message> PopAll(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait_for(l, timeout, [this] { return !q_.empty(); });
    std::deque<Message> out;
    out.swap(q_);
    return out;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Message> q_;
};

struct Faults {
  int64_t crash_primary_after = -1;
  int64_t stall_after = -1;
  int64_t stall_primary_after = -1;
  bool silent = false;
  std::map<int, int> slow_link;  // peer -> delay ms
};

bool ParseFaults(const std::string& spec, Faults* f) {
  for (absl::string_view item : absl::StrSplit(spec, ',', absl::SkipEmpty())) {
    std::vector<std::string> kv = absl::StrSplit(item, absl::MaxSplits('=', 1));
    const std::string& k = kv[0];
    const std::string v = kv.size() > 1 ? kv[1] : "";
    int64_t num = 0;
    if (k == "none") {
    } else if (k == "silent") {
      f->silent = true;
    } else if (k == "stall" && v.empty()) {
      f->stall_after = 0;
    } else if ((k == "stall" || k == "stall_after") &&
               absl::SimpleAtoi(v, &num)) {
      f->stall_after = num;
    } else if (k == "stall_primary_after" && absl::SimpleAtoi(v, &num)) {
      f->stall_primary_after = num;
    } else if (k == "crash_primary_after" && absl::SimpleAtoi(v, &num)) {
      f->crash_primary_after = num;
    } else if (k == "slow_link") {
      std::vector<std::string> pm = absl::StrSplit(v, ':');
      int peer, ms;
      if (pm.size() != 2 || !absl::SimpleAtoi(pm[0], &peer) ||
          !absl::SimpleAtoi(pm[1], &ms))
        return false;
      f->slow_link[peer] = ms;
    } else {
      return false;
    }
  }
  return true;
}

// One slot of the message log.
struct Entry {
  bool has_pp = false;  // a PRE_PREPARE (or NEWVIEW re-proposal) accepted
  uint64_t view = 0;    // view of that pre-prepare
  Digest digest{};
  std::string batch_bytes;
  std::vector<ClientReq> batch;
  uint64_t proxy_id = 0;  // first client in the batch (for traces)
  std::map<uint32_t, std::pair<uint64_t, Digest>> prepares;  // sender -> vote
  std::map<uint32_t, std::pair<uint64_t, Digest>> commits;
  bool prepared = false;  // in `view`
  bool ever_prepared = false;
  uint64_t prepared_view = 0;
  bool committed = false;
};

class Replica {
 public:
  Replica(int id, int n, int base_port, int k, int timeout_ms, int batch_size,
          Faults faults, const std::string& log_file, bool verbose)
      : id_(id),
        n_(n),
        f_((n - 1) / 3),
        base_port_(base_port),
        k_(k),
        window_(k > 0 ? std::max<uint64_t>(4 * static_cast<uint64_t>(k), 256)
                      : (uint64_t{1} << 62)),
        batch_size_(std::max(1, batch_size)),
        base_timeout_ns_(int64_t{timeout_ms} * 1000000),
        faults_(std::move(faults)),
        log_path_(log_file),
        verbose_(verbose) {
    if (!log_path_.empty()) {
      log_file_ = std::fopen(log_path_.c_str(), "w");
      if (log_file_ == nullptr) std::perror("log_file");
    }
    if (faults_.stall_after == 0) stalled_ = true;
  }

  bool Start() {
    listen_fd_ = ListenLoopback(base_port_ + id_);
    if (listen_fd_ < 0) {
      std::fprintf(stderr, "replica %d: cannot listen on port %d\n", id_,
                   base_port_ + id_);
      return false;
    }
    peers_.resize(n_ + 1);
    for (int p = 1; p <= n_; ++p) {
      if (p == id_) continue;
      auto it = faults_.slow_link.find(p);
      peers_[p] = Outbox::Dial(base_port_ + p,
                               it == faults_.slow_link.end() ? 0 : it->second);
    }
    std::thread([this] { AcceptLoop(); }).detach();
    return true;
  }

  int Run() {
    int toggles_seen = 0;
    while (!g_stop.load()) {
      std::deque<Message> batch = queue_.PopAll(std::chrono::milliseconds(10));
      const int toggles = g_stall_toggles.load();
      for (; toggles_seen < toggles; ++toggles_seen) {
        stalled_ = !stalled_;
        std::fprintf(stderr, "replica %d: SIGUSR1, stalled=%d\n", id_,
                     stalled_);
      }
      for (Message& m : batch) {
        if (stalled_) continue;  // stay connected, process nothing
        Dispatch(m);
      }
      if (!stalled_) {
        Tick();
        MaybePropose();
      }
    }
    Finish("sigterm");
    return 0;
  }

 private:
  // ------------------------------------------------------------------ net
  void AcceptLoop() {
    while (true) {
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR) continue;
        return;
      }
      std::thread([this, fd] { ReadLoop(fd); }).detach();
    }
  }

  void ReadLoop(int fd) {
    FrameReader reader;
    std::string_view body;
    uint64_t client = 0;
    std::shared_ptr<Outbox> out;
    while (ReadFrame(fd, &reader, &body)) {
      Message m;
      if (!DecodeBody(body, &m)) break;
      if (m.type == RESDB_TRACE_TYPE_HEART_BEAT && m.proxy_id != 0) {
        // A client's hello: replies to it go back over this connection.
        client = m.proxy_id;
        out = Outbox::Adopt(fd);
        std::lock_guard<std::mutex> l(clients_mu_);
        clients_[client] = out;
        continue;
      }
      queue_.Push(std::move(m));
    }
    if (!reader.error().empty()) {
      std::fprintf(stderr, "replica %d: closing a connection: %s\n", id_,
                   reader.error().c_str());
    }
    if (out != nullptr) {
      out->Stop();
      std::lock_guard<std::mutex> l(clients_mu_);
      auto it = clients_.find(client);
      if (it != clients_.end() && it->second == out) clients_.erase(it);
    } else {
      close(fd);
    }
  }

  void SendTo(int peer, const Message& m) {
    if (peer == id_) {
      queue_.Push(m);
    } else if (peer >= 1 && peer <= n_) {
      peers_[peer]->Send(EncodeFrame(m));
    }
  }

  // ResilientDB's BroadCast includes the sender itself.
  void Broadcast(const Message& m) {
    const std::string frame = EncodeFrame(m);
    for (int p = 1; p <= n_; ++p) {
      if (p != id_) peers_[p]->Send(frame);
    }
    queue_.Push(m);
  }

  void SendToClient(uint64_t client, const Message& m) {
    std::shared_ptr<Outbox> out;
    {
      std::lock_guard<std::mutex> l(clients_mu_);
      auto it = clients_.find(client);
      if (it == clients_.end()) return;
      out = it->second;
    }
    out->Send(EncodeFrame(m));
  }

  // ------------------------------------------------------------- helpers
  uint32_t PrimaryOf(uint64_t view) const {
    return static_cast<uint32_t>(view % static_cast<uint64_t>(n_)) + 1;
  }
  bool IsPrimary() const {
    return PrimaryOf(view_) == static_cast<uint32_t>(id_);
  }
  int Quorum() const { return 2 * f_ + 1; }
  int64_t TimeoutNs() const {
    return base_timeout_ns_ << std::min(vc_attempts_, 6);
  }

  void Log(const char* fmt, ...) __attribute__((format(printf, 2, 3))) {
    if (!verbose_) return;
    va_list ap;
    va_start(ap, fmt);
    std::fprintf(stderr, "[r%d v%" PRIu64 "] ", id_, view_);
    std::vfprintf(stderr, fmt, ap);
    std::fputc('\n', stderr);
    va_end(ap);
  }

  static int CountVotes(
      const std::map<uint32_t, std::pair<uint64_t, Digest>>& votes,
      uint64_t view, const Digest& d) {
    int c = 0;
    for (const auto& [sender, vote] : votes) {
      if (vote.first == view && vote.second == d) ++c;
    }
    return c;
  }

  // ------------------------------------------------------------ dispatch
  void Dispatch(Message& m) {
    // consensus_manager_pbft.cpp: ConsensusCommit, entry (every message).
    ResdbTraceConsensusCommit(Ptr(&m), m.seq, m.type, m.sender, m.proxy_id);
    switch (m.type) {
      case RESDB_TRACE_TYPE_CLIENT_REQUEST:
      case RESDB_TRACE_TYPE_NEW_TXNS:
        OnRequest(m);
        break;
      case RESDB_TRACE_TYPE_PRE_PREPARE:
        OnPrePrepare(m);
        break;
      case RESDB_TRACE_TYPE_PREPARE:
        OnPrepare(m);
        break;
      case RESDB_TRACE_TYPE_COMMIT:
        OnCommit(m);
        break;
      case RESDB_TRACE_TYPE_CHECKPOINT:
        OnCheckpoint(m);
        break;
      case RESDB_TRACE_TYPE_VIEWCHANGE:
        OnViewChange(m);
        break;
      case RESDB_TRACE_TYPE_NEWVIEW:
        OnNewView(m);
        break;
      default:
        break;
    }
  }

  // --------------------------------------------------------- requests
  void OnRequest(const Message& m) {
    const Key key{m.proxy_id, m.local_id};
    if (key.first == 0) return;
    auto done = results_.find(key);
    if (done != results_.end()) {  // already executed: resend the reply
      SendReply(key, done->second.second, done->second.first, m.digest);
      return;
    }
    ClientReq req{m.proxy_id, m.local_id, m.payload};
    if (in_vc_) {  // keep it; forwarded / proposed once the new view is in
      pending_.emplace(key, std::make_pair(req, MonoNs() + TimeoutNs()));
      return;
    }
    if (IsPrimary()) {
      if (assigned_.count(key) || queued_.count(key)) return;
      queued_.insert(key);
      propose_q_.push_back(std::move(req));
      return;
    }
    // Backup: forward to the primary and arm a complaint timer
    // (commitment.cpp: ProcessNewRequest, non-primary branch).
    Message fwd = m;
    fwd.type = RESDB_TRACE_TYPE_NEW_TXNS;
    fwd.sender = id_;
    fwd.view = view_;
    SendTo(PrimaryOf(view_), fwd);
    pending_.emplace(key, std::make_pair(req, MonoNs() + TimeoutNs()));
  }

  void MaybePropose() {
    if (!IsPrimary() || in_vc_) return;
    while (!propose_q_.empty() && next_seq_ <= stable_ + window_) {
      std::vector<ClientReq> batch;
      while (!propose_q_.empty() &&
             static_cast<int>(batch.size()) < batch_size_) {
        ClientReq r = std::move(propose_q_.front());
        propose_q_.pop_front();
        const Key key{r.client_id, r.req_id};
        queued_.erase(key);
        if (results_.count(key) || assigned_.count(key)) continue;
        assigned_.insert(key);
        batch.push_back(std::move(r));
      }
      if (batch.empty()) continue;
      Message pp;
      pp.type = RESDB_TRACE_TYPE_PRE_PREPARE;
      pp.sender = id_;
      pp.view = view_;
      pp.seq = next_seq_++;
      pp.proxy_id = batch[0].client_id;
      pp.local_id = batch[0].req_id;
      pp.aux = batch.size();
      pp.payload = EncodeBatch(batch);
      pp.digest = ComputeDigest(pp.payload);
      const uint64_t d = DigestPrefixU64(pp.digest);
      // commitment.cpp: ProcessNewRequest, seq assigned (one per request).
      // The digest is the one the proxy announced for its NEW_TXNS (in the
      // demo a client request is a proxy batch of one), so the collector can
      // join this seq to the proxy's client_batch_sent.
      for (const ClientReq& r : batch) {
        ResdbTraceRequestReceived(Ptr(&r), pp.seq, RESDB_TRACE_TYPE_NEW_TXNS,
                                  id_, id_, r.client_id, view_,
                                  DigestPrefixU64(ComputeDigest(r.txn)));
      }
      // ... and the pre-prepare BroadCast.
      ResdbTracePrePrepareSent(Ptr(&pp), pp.seq, RESDB_TRACE_TYPE_PRE_PREPARE,
                               id_, id_, pp.proxy_id, view_, d);
      Log("propose seq=%" PRIu64 " txns=%zu", pp.seq, batch.size());
      Broadcast(pp);
    }
  }

  // ---------------------------------------------------------- normal case
  // Accepts a proposal for `seq` in `view` (a PRE_PREPARE or a NEWVIEW
  // re-proposal) and sends PREPARE.
  void AcceptProposal(const Message& m, uint64_t seq, uint64_t view,
                      const Digest& digest, const std::string& batch_bytes,
                      std::vector<ClientReq> batch) {
    Entry& e = log_[seq];
    if (e.committed && e.digest != digest) {
      std::fprintf(stderr,
                   "replica %d: SAFETY VIOLATION seq %" PRIu64
                   " committed %s, re-proposed %s\n",
                   id_, seq, DigestHex(e.digest).c_str(),
                   DigestHex(digest).c_str());
    }
    e.has_pp = true;
    e.view = view;
    e.digest = digest;
    e.batch_bytes = batch_bytes;
    e.batch = std::move(batch);
    e.proxy_id = e.batch.empty() ? 0 : e.batch[0].client_id;
    e.prepared = false;
    for (const ClientReq& r : e.batch)
      assigned_.insert({r.client_id, r.req_id});
    const uint64_t d = DigestPrefixU64(digest);
    // commitment.cpp: ProcessProposeMsg, after the checks.
    ResdbTracePrePrepareReceived(Ptr(&m), seq, RESDB_TRACE_TYPE_PRE_PREPARE,
                                 m.sender, id_, e.proxy_id, view, d);
    if (!faults_.silent) {
      Message p;
      p.type = RESDB_TRACE_TYPE_PREPARE;
      p.sender = id_;
      p.view = view;
      p.seq = seq;
      p.proxy_id = e.proxy_id;
      p.digest = digest;
      ResdbTracePrepareSent(Ptr(&p), seq, RESDB_TRACE_TYPE_PREPARE, id_, id_,
                            e.proxy_id, view, d);
      Broadcast(p);
    }
    CheckPrepared(seq);
  }

  void OnPrePrepare(const Message& m) {
    if (in_vc_ || m.view != view_ || m.sender != PrimaryOf(view_)) return;
    if (m.seq <= stable_ || m.seq > stable_ + window_) return;
    auto it = log_.find(m.seq);
    if (it != log_.end() && it->second.has_pp && it->second.view == m.view) {
      return;  // duplicate, or a conflicting digest for the same (view, seq)
    }
    if (ComputeDigest(m.payload) != m.digest) return;
    std::vector<ClientReq> batch;
    if (!DecodeBatch(m.payload, &batch)) return;
    AcceptProposal(m, m.seq, m.view, m.digest, m.payload, std::move(batch));
  }

  void OnPrepare(const Message& m) {
    // commitment.cpp: ProcessPrepareMsg, entry.
    ResdbTracePrepareReceived(Ptr(&m), m.seq, RESDB_TRACE_TYPE_PREPARE,
                              m.sender, id_, m.proxy_id, m.view,
                              DigestPrefixU64(m.digest));
    if (m.seq <= stable_ || m.view < view_) return;
    log_[m.seq].prepares[m.sender] = {m.view, m.digest};
    CheckPrepared(m.seq);
  }

  void CheckPrepared(uint64_t seq) {
    auto it = log_.find(seq);
    if (it == log_.end()) return;
    Entry& e = it->second;
    if (!e.has_pp || e.prepared ||
        CountVotes(e.prepares, e.view, e.digest) < Quorum())
      return;
    e.prepared = true;
    e.ever_prepared = true;
    e.prepared_view = e.view;
    const uint64_t d = DigestPrefixU64(e.digest);
    ResdbTracePrepared(Ptr(&e), seq, RESDB_TRACE_TYPE_PREPARE, 0, id_,
                       e.proxy_id, e.view, d);
    if (!faults_.silent) {
      Message c;
      c.type = RESDB_TRACE_TYPE_COMMIT;
      c.sender = id_;
      c.view = e.view;
      c.seq = seq;
      c.proxy_id = e.proxy_id;
      c.digest = e.digest;
      ResdbTraceCommitSent(Ptr(&c), seq, RESDB_TRACE_TYPE_COMMIT, id_, id_,
                           e.proxy_id, e.view, d);
      Broadcast(c);
    }
    CheckCommitted(seq);
  }

  void OnCommit(const Message& m) {
    // commitment.cpp: ProcessCommitMsg, entry.
    ResdbTraceCommitReceived(Ptr(&m), m.seq, RESDB_TRACE_TYPE_COMMIT, m.sender,
                             id_, m.proxy_id, m.view,
                             DigestPrefixU64(m.digest));
    if (m.seq <= stable_ || m.view < view_) return;
    log_[m.seq].commits[m.sender] = {m.view, m.digest};
    CheckCommitted(m.seq);
  }

  void CheckCommitted(uint64_t seq) {
    auto it = log_.find(seq);
    if (it == log_.end()) return;
    Entry& e = it->second;
    if (!e.prepared || e.committed ||
        CountVotes(e.commits, e.view, e.digest) < Quorum())
      return;
    e.committed = true;
    ResdbTraceCommitted(Ptr(&e), seq, RESDB_TRACE_TYPE_COMMIT, 0, id_,
                        e.proxy_id, e.view, DigestPrefixU64(e.digest));
    TryExecute();
  }

  // ------------------------------------------------------------ execution
  std::string Apply(const std::string& txn) {
    std::vector<std::string> parts =
        absl::StrSplit(txn, absl::MaxSplits(' ', 2), absl::SkipEmpty());
    if (parts.size() == 3 && parts[0] == "set") {
      kv_[parts[1]] = parts[2];
      return "OK";
    }
    if (parts.size() == 2 && parts[0] == "get") {
      auto it = kv_.find(parts[1]);
      return it == kv_.end() ? std::string("<nil>") : it->second;
    }
    return "ERR bad txn";
  }

  void SendReply(const Key& key, const std::string& result, uint64_t seq,
                 const Digest& digest) {
    Message r;
    r.type = RESDB_TRACE_TYPE_RESPONSE;
    r.sender = id_;
    r.view = view_;
    r.seq = seq;
    r.proxy_id = key.first;
    r.local_id = key.second;
    r.digest = digest;
    r.payload = result;
    // commitment.cpp: PostProcessExecutedMsg, RESPONSE to the proxy.
    ResdbTraceReplySent(Ptr(&r), seq, RESDB_TRACE_TYPE_RESPONSE, id_, id_,
                        key.first, view_, DigestPrefixU64(digest));
    SendToClient(key.first, r);
  }

  void TryExecute() {
    while (true) {
      auto it = log_.find(last_exec_ + 1);
      if (it == log_.end() || !it->second.committed) return;
      const uint64_t seq = it->first;
      Entry& e = it->second;
      const uint64_t d = DigestPrefixU64(e.digest);
      // transaction_executor.cpp: ExecuteMessage, around Execute.
      ResdbTraceExecuteStart(Ptr(&e), seq, RESDB_TRACE_TYPE_COMMIT, 0, id_,
                             e.proxy_id, e.view, d);
      std::vector<std::pair<Key, std::string>> replies;
      for (const ClientReq& r : e.batch) {
        const Key key{r.client_id, r.req_id};
        auto done = results_.find(key);
        if (done == results_.end()) {  // first execution of this request
          done = results_.emplace(key, std::make_pair(seq, Apply(r.txn))).first;
          ++executed_txns_;
        }
        replies.emplace_back(key, done->second.second);
      }
      ResdbTraceExecuteEnd(Ptr(&e), seq, RESDB_TRACE_TYPE_COMMIT, 0, id_,
                           e.proxy_id, e.view, e.batch.size());
      last_exec_ = seq;
      state_digest_ = ChainDigest(state_digest_, e.digest);
      vc_attempts_ = 0;  // progress: complaint timeouts back to the base
      if (log_file_ != nullptr) {
        std::fprintf(log_file_, "%" PRIu64 " %s %zu %" PRIu64 "\n", seq,
                     DigestHex(e.digest).c_str(), e.batch.size(), e.view);
        std::fflush(log_file_);
      }
      for (const auto& [key, result] : replies) {
        SendReply(key, result, seq, e.digest);
        pending_.erase(key);
        assigned_.erase(key);
      }
      if (k_ > 0 && seq % static_cast<uint64_t>(k_) == 0) SendCheckpoint(seq);
      CheckFaults();
    }
  }

  void CheckFaults() {
    if (faults_.crash_primary_after >= 0 && IsPrimary() &&
        last_exec_ >= static_cast<uint64_t>(faults_.crash_primary_after)) {
      std::fprintf(stderr,
                   "replica %d: FAULT crash_primary_after=%" PRId64
                   " (primary of view %" PRIu64 ", executed %" PRIu64 ")\n",
                   id_, faults_.crash_primary_after, view_, last_exec_);
      Finish("crashed");
    }
    if ((faults_.stall_after >= 0 &&
         last_exec_ >= static_cast<uint64_t>(faults_.stall_after)) ||
        (faults_.stall_primary_after >= 0 && IsPrimary() &&
         last_exec_ >= static_cast<uint64_t>(faults_.stall_primary_after))) {
      if (!stall_fired_) {
        stall_fired_ = true;
        stalled_ = true;
        std::fprintf(stderr, "replica %d: FAULT stall after %" PRIu64 " seqs\n",
                     id_, last_exec_);
      }
    }
  }

  // ----------------------------------------------------------- checkpoints
  void SendCheckpoint(uint64_t seq) {
    own_ckpt_[seq] = state_digest_;
    Message c;
    c.type = RESDB_TRACE_TYPE_CHECKPOINT;
    c.sender = id_;
    c.view = view_;
    c.seq = seq;
    c.digest = state_digest_;
    // checkpoint_manager.cpp: BroadcastCheckPoint.
    ResdbTraceCheckpointSent(Ptr(&c), seq, RESDB_TRACE_TYPE_CHECKPOINT, id_,
                             id_, 0, view_, DigestPrefixU64(c.digest));
    Broadcast(c);
  }

  void OnCheckpoint(const Message& m) {
    ResdbTraceCheckpointReceived(Ptr(&m), m.seq, RESDB_TRACE_TYPE_CHECKPOINT,
                                 m.sender, id_, 0, m.view,
                                 DigestPrefixU64(m.digest));
    if (m.seq <= stable_) return;
    ckpt_votes_[m.seq][m.sender] = m.digest;
    TryStable(m.seq);
  }

  void TryStable(uint64_t seq) {
    auto own = own_ckpt_.find(seq);
    if (seq <= stable_ || own == own_ckpt_.end()) return;
    int votes = 0;
    for (const auto& [sender, d] : ckpt_votes_[seq]) {
      if (d == own->second) ++votes;
    }
    if (votes < Quorum()) return;
    stable_ = seq;
    // checkpoint_manager.cpp: UpdateStableCheckPointStatus.
    ResdbTraceCheckpointStable(Ptr(&own->second), seq,
                               RESDB_TRACE_TYPE_CHECKPOINT, 0, id_, 0, view_,
                               votes);
    Log("checkpoint %" PRIu64 " stable (%d votes)", seq, votes);
    log_.erase(log_.begin(), log_.upper_bound(seq));
    ckpt_votes_.erase(ckpt_votes_.begin(), ckpt_votes_.upper_bound(seq));
    own_ckpt_.erase(own_ckpt_.begin(), own_ckpt_.lower_bound(seq));
  }

  // ----------------------------------------------------------- view change
  void Tick() {
    const int64_t now = MonoNs();
    if (in_vc_) {
      if (now >= vc_deadline_) StartViewChange(target_view_ + 1);
      return;
    }
    if (IsPrimary()) return;
    for (const auto& [key, p] : pending_) {
      if (p.second <= now) {
        Log("complaint timer fired for (%" PRIu64 ",%" PRIu64 ")", key.first,
            key.second);
        StartViewChange(view_ + 1);
        return;
      }
    }
  }

  void StartViewChange(uint64_t new_view) {
    if (new_view <= view_ || (in_vc_ && new_view <= target_view_)) return;
    in_vc_ = true;
    target_view_ = new_view;
    vc_deadline_ = MonoNs() + TimeoutNs();
    ++vc_attempts_;
    std::vector<LogProof> proofs;
    uint64_t max_prepared = stable_;
    for (const auto& [seq, e] : log_) {
      if (seq <= stable_ || !e.ever_prepared) continue;
      proofs.push_back({seq, e.prepared_view, e.digest, e.batch_bytes});
      max_prepared = std::max(max_prepared, seq);
    }
    Message vc;
    vc.type = RESDB_TRACE_TYPE_VIEWCHANGE;
    vc.sender = id_;
    vc.view = new_view;
    vc.seq = stable_;
    vc.aux = last_exec_;
    vc.payload = EncodeProofs(proofs);
    // viewchange_manager.cpp: SendViewChangeMsg.
    ResdbTraceViewChangeStarted(Ptr(&vc), stable_, RESDB_TRACE_TYPE_VIEWCHANGE,
                                id_, id_, 0, new_view, max_prepared);
    std::fprintf(stderr,
                 "replica %d: view change -> %" PRIu64 " (stable %" PRIu64
                 ", prepared up to %" PRIu64 ")\n",
                 id_, new_view, stable_, max_prepared);
    Broadcast(vc);
  }

  void OnViewChange(const Message& m) {
    const uint64_t w = m.view;
    if (w <= view_) return;
    auto& votes = vc_msgs_[w];
    votes[m.sender] = m;
    ResdbTraceViewChangeReceived(Ptr(&m), m.seq, RESDB_TRACE_TYPE_VIEWCHANGE,
                                 m.sender, id_, 0, w, votes.size());
    uint64_t& latest = latest_vc_[m.sender];
    latest = std::max(latest, w);
    // f+1 replicas want a higher view: join the smallest of them (liveness).
    const uint64_t cur = in_vc_ ? target_view_ : view_;
    std::vector<uint64_t> higher;
    for (const auto& [sender, v] : latest_vc_) {
      if (v > cur) higher.push_back(v);
    }
    if (static_cast<int>(higher.size()) >= f_ + 1) {
      std::sort(higher.begin(), higher.end());
      StartViewChange(higher[0]);
    }
    MaybeSendNewView(w);
  }

  void MaybeSendNewView(uint64_t w) {
    if (PrimaryOf(w) != static_cast<uint32_t>(id_) || !in_vc_ ||
        target_view_ != w || new_view_sent_.count(w))
      return;
    const auto& votes = vc_msgs_[w];
    if (static_cast<int>(votes.size()) < Quorum()) return;
    new_view_sent_.insert(w);
    uint64_t min_s = 0;
    for (const auto& [sender, vc] : votes) min_s = std::max(min_s, vc.seq);
    std::map<uint64_t, LogProof> best;
    for (const auto& [sender, vc] : votes) {
      std::vector<LogProof> proofs;
      if (!DecodeProofs(vc.payload, &proofs)) continue;
      for (LogProof& p : proofs) {
        if (p.seq <= min_s) continue;
        auto it = best.find(p.seq);
        if (it == best.end() || it->second.view < p.view)
          best[p.seq] = std::move(p);
      }
    }
    const uint64_t max_s = best.empty() ? min_s : best.rbegin()->first;
    std::vector<LogProof> proposals;
    const std::string null_batch = EncodeBatch({});
    for (uint64_t s = min_s + 1; s <= max_s; ++s) {
      auto it = best.find(s);
      if (it != best.end()) {
        proposals.push_back({s, w, it->second.digest, it->second.batch});
      } else {  // gap: null request
        proposals.push_back({s, w, ComputeDigest(null_batch), null_batch});
      }
    }
    Message nv;
    nv.type = RESDB_TRACE_TYPE_NEWVIEW;
    nv.sender = id_;
    nv.view = w;
    nv.seq = max_s;
    nv.local_id = min_s;
    nv.aux = votes.size();
    nv.payload = EncodeProofs(proposals);
    // viewchange_manager.cpp: SendNewViewMsg.
    ResdbTraceNewViewSent(Ptr(&nv), max_s, RESDB_TRACE_TYPE_NEWVIEW, id_, id_,
                          0, w, votes.size());
    for (const LogProof& p : proposals) {
      ResdbTracePrePrepareSent(Ptr(&nv), p.seq, RESDB_TRACE_TYPE_PRE_PREPARE,
                               id_, id_, 0, w, DigestPrefixU64(p.digest));
    }
    std::fprintf(stderr,
                 "replica %d: NEWVIEW %" PRIu64 " (%zu votes, stable %" PRIu64
                 ", %zu seqs re-proposed, up to %" PRIu64 ")\n",
                 id_, w, votes.size(), min_s, proposals.size(), max_s);
    Broadcast(nv);
  }

  void OnNewView(const Message& m) {
    const uint64_t w = m.view;
    if (w <= view_ || m.sender != PrimaryOf(w)) return;
    std::vector<LogProof> proposals;
    if (!DecodeProofs(m.payload, &proposals)) return;
    const uint64_t min_s = m.local_id, max_s = m.seq;
    view_ = w;
    in_vc_ = false;
    target_view_ = w;
    // Proposals of older views beyond the new view's range are abandoned
    // (votes already received for view w are kept).
    for (auto it = log_.upper_bound(max_s); it != log_.end(); ++it) {
      Entry& e = it->second;
      if (!e.committed && e.has_pp && e.view < w) {
        e.has_pp = false;
        e.prepared = false;
        e.ever_prepared = false;
        e.batch.clear();
        e.batch_bytes.clear();
      }
    }
    assigned_.clear();
    propose_q_.clear();
    queued_.clear();
    next_seq_ = std::max({max_s, stable_, last_exec_}) + 1;
    ResdbTraceNewViewInstalled(Ptr(&m), next_seq_, RESDB_TRACE_TYPE_NEWVIEW,
                               m.sender, id_, 0, w, PrimaryOf(w));
    std::fprintf(stderr,
                 "replica %d: installed view %" PRIu64
                 " (primary %u, next seq %" PRIu64 ", stable %" PRIu64
                 "/%" PRIu64 ")\n",
                 id_, w, PrimaryOf(w), next_seq_, stable_, min_s);
    for (LogProof& p : proposals) {
      if (p.seq <= stable_) continue;
      std::vector<ClientReq> batch;
      if (!DecodeBatch(p.batch, &batch) || ComputeDigest(p.batch) != p.digest)
        continue;
      AcceptProposal(m, p.seq, w, p.digest, p.batch, std::move(batch));
    }
    for (auto it = vc_msgs_.begin(); it != vc_msgs_.end() && it->first <= w;)
      it = vc_msgs_.erase(it);
    // Requests still waiting: hand them to the new primary, restart timers.
    const int64_t deadline = MonoNs() + TimeoutNs();
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (results_.count(it->first)) {
        it = pending_.erase(it);
        continue;
      }
      if (IsPrimary()) {
        if (!assigned_.count(it->first) && queued_.insert(it->first).second)
          propose_q_.push_back(it->second.first);
        it = pending_.erase(it);
        continue;
      }
      Message fwd;
      fwd.type = RESDB_TRACE_TYPE_NEW_TXNS;
      fwd.sender = id_;
      fwd.view = view_;
      fwd.proxy_id = it->first.first;
      fwd.local_id = it->first.second;
      fwd.payload = it->second.first.txn;
      SendTo(PrimaryOf(view_), fwd);
      it->second.second = deadline;
      ++it;
    }
  }

  // ----------------------------------------------------------------- exit
  void Finish(const char* why) {
    if (log_file_ != nullptr) std::fflush(log_file_);
    char status[512];
    std::snprintf(status, sizeof(status),
                  "id=%d view=%" PRIu64 " primary=%u last_exec=%" PRIu64
                  " stable_checkpoint=%" PRIu64 " executed_txns=%" PRIu64
                  " in_view_change=%d stalled=%d exit=%s\n",
                  id_, view_, PrimaryOf(view_), last_exec_, stable_,
                  executed_txns_, in_vc_ ? 1 : 0, stalled_ ? 1 : 0, why);
    std::fprintf(stderr, "replica %d: %s", id_, status);
    if (!log_path_.empty()) {
      FILE* s = std::fopen((log_path_ + ".status").c_str(), "w");
      if (s != nullptr) {
        std::fputs(status, s);
        std::fclose(s);
      }
    }
    std::fflush(stderr);
    // Let writer threads flush what is queued (a crash may still lose some).
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    _exit(0);
  }

  // ------------------------------------------------------------- members
  const int id_, n_, f_, base_port_, k_;
  const uint64_t window_;
  const int batch_size_;
  const int64_t base_timeout_ns_;
  const Faults faults_;
  const std::string log_path_;
  const bool verbose_;
  FILE* log_file_ = nullptr;

  int listen_fd_ = -1;
  std::vector<std::shared_ptr<Outbox>> peers_;
  std::mutex clients_mu_;
  std::map<uint64_t, std::shared_ptr<Outbox>> clients_;
  EventQueue queue_;

  // Consensus state (consensus thread only).
  bool stalled_ = false;
  bool stall_fired_ = false;
  uint64_t view_ = 0;
  uint64_t next_seq_ = 1;
  uint64_t last_exec_ = 0;
  uint64_t stable_ = 0;
  uint64_t executed_txns_ = 0;
  Digest state_digest_{};
  std::map<uint64_t, Entry> log_;
  std::map<Key, std::pair<uint64_t, std::string>> results_;  // -> (seq, result)
  std::map<Key, std::pair<ClientReq, int64_t>> pending_;  // -> (req, deadline)
  std::deque<ClientReq> propose_q_;
  std::set<Key> queued_, assigned_;
  std::map<uint64_t, std::map<uint32_t, Digest>> ckpt_votes_;
  std::map<uint64_t, Digest> own_ckpt_;
  std::map<std::string, std::string> kv_;
  bool in_vc_ = false;
  uint64_t target_view_ = 0;
  int64_t vc_deadline_ = 0;
  int vc_attempts_ = 0;
  std::map<uint64_t, std::map<uint32_t, Message>> vc_msgs_;
  std::map<uint32_t, uint64_t> latest_vc_;
  std::set<uint64_t> new_view_sent_;
};

}  // namespace
}  // namespace resdb_trace::demo

int main(int argc, char** argv) {
  const ReplicaFlags flags = ParseFlags(argc, argv);
  using namespace resdb_trace::demo;
  prctl(PR_SET_PDEATHSIG, SIGTERM);  // never outlive the launcher
  const int n = flags.n;
  const int id = flags.id;
  if (n < 4 || id < 1 || id > n) {
    std::fprintf(stderr, "need n >= 4 and 1 <= id <= n\n");
    return 2;
  }
  Faults faults;
  if (!ParseFaults(flags.fault, &faults)) {
    std::fprintf(stderr, "bad --fault=%s\n", flags.fault.c_str());
    return 2;
  }
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGUSR1, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  Replica r(id, n, flags.base_port, flags.checkpoint_interval,
            flags.view_change_timeout_ms, flags.batch_size, faults,
            flags.log_file, flags.verbose);
  if (!r.Start()) return 3;
  return r.Run();
}
