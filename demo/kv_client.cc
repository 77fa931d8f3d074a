#include "demo/kv_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "demo/wire.h"
#include "resdb_trace/hooks.h"

namespace resdb_trace::demo {
namespace {

constexpr size_t kMaxKey = 256;
constexpr size_t kMaxValue = 4096;

uint64_t Ptr(const void* p) { return reinterpret_cast<uintptr_t>(p); }

uint32_t DefaultClientId() { return 1000 + static_cast<uint32_t>(getpid()); }

}  // namespace

absl::Status ValidateKey(const std::string& key) {
  if (key.empty()) return absl::InvalidArgumentError("key is empty");
  if (key.size() > kMaxKey) {
    return absl::InvalidArgumentError(
        absl::StrFormat("key is %d bytes; at most %d", key.size(), kMaxKey));
  }
  for (unsigned char c : key) {
    if (c <= ' ' || c == 0x7f) {
      return absl::InvalidArgumentError(
          "key contains whitespace or a control character; use a single word "
          "such as \"user42\"");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateValue(const std::string& value) {
  if (value.empty()) return absl::InvalidArgumentError("value is empty");
  if (value.size() > kMaxValue) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "value is %d bytes; at most %d", value.size(), kMaxValue));
  }
  for (unsigned char c : value) {
    if (c < ' ' || c == 0x7f) {
      return absl::InvalidArgumentError(
          "value contains a control character (newline, tab, ...); spaces "
          "are fine");
    }
  }
  return absl::OkStatus();
}

KvClient::KvClient(KvClientOptions options)
    : options_(std::move(options)),
      client_id_(options_.client_id != 0 ? options_.client_id
                                         : DefaultClientId()),
      conns_(static_cast<size_t>(std::max(options_.replicas, 0)) + 1),
      // Replicas cache each (client, local id)'s result forever: a restarted
      // client with the same id must not reuse an old local id.
      next_local_id_(static_cast<uint64_t>(absl::ToUnixMicros(absl::Now()))) {}

KvClient::~KvClient() {
  for (size_t r = 1; r < conns_.size(); ++r) Drop(static_cast<int>(r));
}

bool KvClient::Dial(int r) {
  Conn& c = conns_[r];
  if (c.fd >= 0) return true;
  c.fd = ConnectLoopback(options_.base_port + r);
  if (c.fd < 0) return false;
  c.reader = FrameReader();
  Message hello;
  hello.type = RESDB_TRACE_TYPE_HEART_BEAT;
  hello.sender = client_id_;
  hello.proxy_id = client_id_;
  if (!WriteAll(c.fd, EncodeFrame(hello))) Drop(r);
  return c.fd >= 0;
}

void KvClient::Drop(int r) {
  if (conns_[r].fd >= 0) close(conns_[r].fd);
  conns_[r].fd = -1;
  conns_[r].reader = FrameReader();
}

bool KvClient::Send(int r, const std::string& frame) {
  if (!Dial(r)) return false;
  if (WriteAll(conns_[r].fd, frame)) return true;
  Drop(r);
  return false;
}

absl::StatusOr<KvReply> KvClient::Set(const std::string& key,
                                      const std::string& value) {
  if (absl::Status s = ValidateKey(key); !s.ok()) return s;
  if (absl::Status s = ValidateValue(value); !s.ok()) return s;
  return Execute(absl::StrCat("set ", key, " ", value));
}

absl::StatusOr<KvReply> KvClient::Get(const std::string& key) {
  if (absl::Status s = ValidateKey(key); !s.ok()) return s;
  return Execute(absl::StrCat("get ", key));
}

absl::StatusOr<KvReply> KvClient::Execute(const std::string& txn) {
  const int n = options_.replicas;
  const int f = (n - 1) / 3;
  if (n < 4 || options_.base_port <= 0 || options_.base_port + n > 65535) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "demo cluster of %d replicas on base port %d: need n >= 4 and ports "
        "below 65536",
        n, options_.base_port));
  }
  std::lock_guard<std::mutex> lock(mu_);
  last_frame_error_.clear();
  const std::string where = absl::StrFormat(
      "127.0.0.1:%d..%d", options_.base_port + 1, options_.base_port + n);
  int up = 0;
  for (int r = 1; r <= n; ++r) up += Dial(r) ? 1 : 0;
  if (up < f + 1) {
    return absl::UnavailableError(absl::StrFormat(
        "only %d of the %d demo replicas at %s accept connections (need f+1 "
        "= %d): start the cluster (demo/cluster.sh or scripts/demo.sh) or "
        "point --cluster at its base port",
        up, n, where, f + 1));
  }

  Message m;
  m.type = RESDB_TRACE_TYPE_NEW_TXNS;
  m.sender = client_id_;
  m.view = view_;
  m.proxy_id = client_id_;
  m.local_id = next_local_id_++;
  m.digest = ComputeDigest(txn);
  m.payload = txn;
  const std::string frame = EncodeFrame(m);
  const int64_t start = MonoNs();
  const int64_t deadline = start + int64_t{options_.deadline_ms} * 1000000;
  const int64_t timeout_ns = int64_t{options_.request_timeout_ms} * 1000000;
  // response_manager.cpp: DoBatch, before sending NEW_TXNS to the primary.
  ResdbTraceClientBatchSent(Ptr(&m), m.local_id, RESDB_TRACE_TYPE_NEW_TXNS,
                            client_id_, client_id_, client_id_, view_,
                            DigestPrefixU64(m.digest));
  int resends = 0;
  int64_t next_resend = start + timeout_ns;
  if (!Send(static_cast<int>(view_ % n) + 1, frame)) {
    for (int r = 1; r <= n; ++r) Send(r, frame);
    ++resends;
  }

  // (result, seq) -> replicas that answered it.
  std::map<std::pair<std::string, uint64_t>, std::set<uint32_t>> votes;
  std::map<std::pair<std::string, uint64_t>, uint64_t> views;
  while (true) {
    const int64_t now = MonoNs();
    if (now >= deadline) break;
    if (now >= next_resend) {
      for (int r = 1; r <= n; ++r) Send(r, frame);
      ++resends;
      next_resend = now + timeout_ns * std::min(1 << std::min(resends, 3), 4);
    }
    std::vector<pollfd> pfds;
    std::vector<int> who;
    for (int r = 1; r <= n; ++r) {
      if (conns_[r].fd < 0) continue;
      pfds.push_back({conns_[r].fd, POLLIN, 0});
      who.push_back(r);
    }
    const int wait_ms = static_cast<int>(std::clamp<int64_t>(
        (std::min(deadline, next_resend) - now) / 1000000 + 1, 1, 50));
    if (pfds.empty()) {
      usleep(static_cast<useconds_t>(wait_ms) * 1000);
      continue;
    }
    if (poll(pfds.data(), pfds.size(), wait_ms) <= 0) continue;
    for (size_t i = 0; i < pfds.size(); ++i) {
      if (pfds[i].revents == 0) continue;
      const int r = who[i];
      Conn& c = conns_[r];
      const FrameReader::Received got = c.reader.Receive(c.fd, /*wait=*/false);
      if (got == FrameReader::Received::kClosed) Drop(r);
      if (got != FrameReader::Received::kBytes) continue;
      std::string_view body;
      FrameReader::Result next;
      while ((next = c.reader.Next(&body)) == FrameReader::Result::kFrame) {
        Message reply;
        if (!DecodeBody(body, &reply) ||
            reply.type != RESDB_TRACE_TYPE_RESPONSE ||
            reply.proxy_id != client_id_ || reply.local_id != m.local_id) {
          continue;  // a late reply to an earlier request, or noise
        }
        const auto key = std::make_pair(reply.payload, reply.seq);
        std::set<uint32_t>& voters = votes[key];
        voters.insert(reply.sender);
        views[key] = std::max(views[key], reply.view);
        if (static_cast<int>(voters.size()) < f + 1) continue;
        // response_manager.cpp: SendResponseToClient, after f+1 matching
        // replies.
        ResdbTraceReplyToClient(
            Ptr(&reply), reply.seq, RESDB_TRACE_TYPE_RESPONSE, reply.sender,
            client_id_, client_id_, reply.view, voters.size());
        view_ = std::max(view_, views[key]);
        KvReply out;
        out.result = reply.payload;
        out.seq = reply.seq;
        out.view = views[key];
        out.client_id = client_id_;
        out.local_id = m.local_id;
        out.matching.assign(voters.begin(), voters.end());
        out.latency_ns = MonoNs() - start;
        out.resends = resends;
        return out;
      }
      if (next == FrameReader::Result::kTooLarge) {
        last_frame_error_ =
            absl::StrFormat("replica %d: %s", r, c.reader.error());
        Drop(r);
      }
    }
  }
  std::vector<std::string> seen;
  for (const auto& [key, voters] : votes) {
    seen.push_back(absl::StrFormat("seq %d \"%s\" from %s", key.second,
                                   key.first, absl::StrJoin(voters, ",")));
  }
  return absl::DeadlineExceededError(absl::StrFormat(
      "no f+1 = %d matching replies from the demo replicas at %s within %d "
      "ms (%d resends; replies: %s): is a quorum (2f+1) of replicas running "
      "and not stalled? A view change can take a few seconds; retry%s",
      f + 1, where, options_.deadline_ms, resends,
      seen.empty() ? "none" : absl::StrJoin(seen, "; "),
      last_frame_error_.empty()
          ? ""
          : absl::StrCat(" (dropped a connection: ", last_frame_error_, ")")));
}

}  // namespace resdb_trace::demo
