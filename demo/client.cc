// Load generator / proxy for the resdb_trace demo PBFT cluster.
//
// Plays ResilientDB's proxy (response_manager.cpp): sends each transaction as
// a NEW_TXNS to the replica it believes is primary (learning the view from
// replies), waits for f+1 matching RESPONSEs, and on a timeout broadcasts
// the request to every replica (which forward it and arm complaint timers).
// Single-threaded: one poll() loop over the n replica connections.
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "demo/wire.h"
#include "lib/flags/flags.h"
#include "resdb_trace/hooks.h"

namespace {

constexpr char kUsage[] =
    R"(client: the demo cluster's load generator (demo/README.md).

Usage: client [--replicas=N] [--base_port=P] [--count=C] [options]

  --replicas N             number of replicas n, f = (n-1)/3 (default 4)
  --base_port P            replica i listens on 127.0.0.1:P+i (default 20000)
  --id I                   client (proxy) id, used as proxy_id and self
                           (default 100)
  --rate R                 requests per second, 0 = closed loop (default 0)
  --count C                requests to complete (default 200)
  --concurrency K          max outstanding requests (default 8)
  --key_space K            keys k0..k<K-1> (default 100)
  --request_timeout_ms MS  resend to all replicas when a request is not
                           answered in time (default 1000)
  --deadline_s S           give up after this many seconds (default 60)
  --seed S                 workload random seed (default 1)
  --json                   also print a one-line JSON summary
  --version                print the version and exit
  -h, --help               print this text and exit
)";

// Read by the client's methods; set once by ParseFlags before any thread.
struct ClientFlags {
  int replicas = 4;
  int base_port = 20000;
  int id = 100;
  double rate = 0;
  int count = 200;
  int concurrency = 8;
  int key_space = 100;
  int request_timeout_ms = 1000;
  int deadline_s = 60;
  int seed = 1;
  bool json = false;
} g_flags;

void ParseFlags(int argc, char** argv) {
  CLI::App app;
  resdb_trace::flags::Setup(&app, "client", kUsage);
  app.add_option("--replicas", g_flags.replicas);
  app.add_option("--base_port", g_flags.base_port);
  app.add_option("--id", g_flags.id);
  app.add_option("--rate", g_flags.rate);
  app.add_option("--count", g_flags.count);
  app.add_option("--concurrency", g_flags.concurrency);
  app.add_option("--key_space", g_flags.key_space);
  app.add_option("--request_timeout_ms", g_flags.request_timeout_ms);
  app.add_option("--deadline_s", g_flags.deadline_s);
  app.add_option("--seed", g_flags.seed);
  app.add_flag("--json", g_flags.json);
  resdb_trace::flags::ParseOrExit(&app, argc, argv);
}

}  // namespace

namespace resdb_trace::demo {
namespace {

uint64_t Ptr(const void* p) { return reinterpret_cast<uintptr_t>(p); }

struct Conn {
  int fd = -1;
  FrameReader reader;
  int64_t next_dial_ns = 0;
};

struct Outstanding {
  std::string txn;
  Digest digest{};
  int64_t start_ns = 0;
  int64_t deadline_ns = 0;
  int resends = 0;
  std::map<std::string, std::set<uint32_t>> votes;  // result -> replicas
};

class Client {
 public:
  Client()
      : n_(g_flags.replicas),
        f_((n_ - 1) / 3),
        base_port_(g_flags.base_port),
        id_(g_flags.id),
        rng_(g_flags.seed * 7919 + id_),
        conns_(n_ + 1) {}

  int Run() {
    const int count = g_flags.count;
    const int concurrency = std::max(1, g_flags.concurrency);
    const double rate = g_flags.rate;
    const int64_t timeout_ns = int64_t{g_flags.request_timeout_ms} * 1000000;
    const int64_t t0 = MonoNs();
    const int64_t deadline = t0 + int64_t{g_flags.deadline_s} * 1000000000;

    // Connect to everyone first (replicas may still be starting).
    while (MonoNs() < t0 + 10'000'000'000LL) {
      bool all = true;
      for (int r = 1; r <= n_; ++r) all &= Dial(r, /*force=*/true);
      if (all) break;
      usleep(50000);
    }
    const int64_t start = MonoNs();
    int64_t next_issue = start;
    uint64_t issued = 0;
    while (completed_ < count && MonoNs() < deadline) {
      int64_t now = MonoNs();
      // Issue new requests.
      while (static_cast<int>(issued) < count &&
             static_cast<int>(out_.size()) < concurrency &&
             (rate <= 0 || now >= next_issue)) {
        Issue(++issued, now, timeout_ns);
        if (rate > 0) next_issue += static_cast<int64_t>(1e9 / rate);
      }
      // Timeouts: broadcast to every replica.
      for (auto& [req_id, o] : out_) {
        if (now < o.deadline_ns) continue;
        ++timeouts_;
        ++o.resends;
        o.deadline_ns =
            now + timeout_ns * std::min(1 << std::min(o.resends, 3), 4);
        Message m = MakeRequest(req_id, o);
        const std::string frame = EncodeFrame(m);
        for (int r = 1; r <= n_; ++r) SendFrame(r, frame);
      }
      Poll(10);
    }
    const double secs = (MonoNs() - start) / 1e9;
    Summary(count, secs);
    return completed_ == count ? 0 : 1;
  }

 private:
  bool Dial(int r, bool force) {
    Conn& c = conns_[r];
    if (c.fd >= 0) return true;
    const int64_t now = MonoNs();
    if (!force && now < c.next_dial_ns) return false;
    c.next_dial_ns = now + 500'000'000;
    c.fd = ConnectLoopback(base_port_ + r);
    if (c.fd < 0) return false;
    c.reader = FrameReader();
    Message hello;
    hello.type = RESDB_TRACE_TYPE_HEART_BEAT;
    hello.sender = id_;
    hello.proxy_id = id_;
    if (!WriteAll(c.fd, EncodeFrame(hello))) Drop(r);
    return c.fd >= 0;
  }

  void Drop(int r) {
    if (conns_[r].fd >= 0) close(conns_[r].fd);
    conns_[r].fd = -1;
  }

  void SendFrame(int r, const std::string& frame) {
    if (!Dial(r, false)) return;
    if (!WriteAll(conns_[r].fd, frame)) Drop(r);
  }

  Message MakeRequest(uint64_t req_id, const Outstanding& o) {
    Message m;
    m.type = RESDB_TRACE_TYPE_NEW_TXNS;
    m.sender = id_;
    m.view = view_;
    m.proxy_id = id_;
    m.local_id = req_id;
    m.digest = o.digest;
    m.payload = o.txn;
    return m;
  }

  void Issue(uint64_t req_id, int64_t now, int64_t timeout_ns) {
    Outstanding& o = out_[req_id];
    const int key = static_cast<int>(rng_() % std::max(1, g_flags.key_space));
    if (rng_() % 2 == 0) {
      o.txn = "set k" + std::to_string(key) + " v" + std::to_string(req_id);
    } else {
      o.txn = "get k" + std::to_string(key);
    }
    o.digest = ComputeDigest(o.txn);
    o.start_ns = now;
    o.deadline_ns = now + timeout_ns;
    Message m = MakeRequest(req_id, o);
    // response_manager.cpp: DoBatch, before sending NEW_TXNS to the primary.
    ResdbTraceClientBatchSent(Ptr(&m), req_id, RESDB_TRACE_TYPE_NEW_TXNS, id_,
                              id_, id_, view_, DigestPrefixU64(o.digest));
    SendFrame(static_cast<int>(view_ % n_) + 1, EncodeFrame(m));
  }

  void Poll(int timeout_ms) {
    std::vector<pollfd> pfds;
    std::vector<int> who;
    for (int r = 1; r <= n_; ++r) {
      if (conns_[r].fd < 0) continue;
      pfds.push_back({conns_[r].fd, POLLIN, 0});
      who.push_back(r);
    }
    if (pfds.empty()) {
      usleep(timeout_ms * 1000);
      return;
    }
    if (poll(pfds.data(), pfds.size(), timeout_ms) <= 0) return;
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
        Message m;
        if (DecodeBody(body, &m)) OnMessage(m);
      }
      if (next == FrameReader::Result::kTooLarge) {
        std::fprintf(stderr, "client %d: dropping replica %d: %s\n", id_, r,
                     c.reader.error().c_str());
        Drop(r);
      }
    }
  }

  void OnMessage(const Message& m) {
    if (m.type != RESDB_TRACE_TYPE_RESPONSE ||
        m.proxy_id != static_cast<uint64_t>(id_))
      return;
    auto it = out_.find(m.local_id);
    if (it == out_.end()) return;
    std::set<uint32_t>& voters = it->second.votes[m.payload];
    voters.insert(m.sender);
    if (static_cast<int>(voters.size()) < f_ + 1) return;
    // response_manager.cpp: SendResponseToClient, after f+1 matching replies.
    ResdbTraceReplyToClient(Ptr(&m), m.seq, RESDB_TRACE_TYPE_RESPONSE, m.sender,
                            id_, id_, m.view, voters.size());
    view_ = std::max(view_, m.view);
    latencies_ns_.push_back(MonoNs() - it->second.start_ns);
    out_.erase(it);
    ++completed_;
  }

  void Summary(int count, double secs) {
    std::vector<int64_t> l = latencies_ns_;
    std::sort(l.begin(), l.end());
    auto pct = [&](double p) -> double {
      if (l.empty()) return 0;
      size_t i = static_cast<size_t>(p * (l.size() - 1) + 0.5);
      return l[std::min(i, l.size() - 1)] / 1e6;
    };
    const double tput = secs > 0 ? completed_ / secs : 0;
    std::printf(
        "client %d: completed %d/%d in %.3f s, throughput %.1f req/s, latency "
        "ms "
        "p50 %.3f p99 %.3f max %.3f, timeouts %" PRIu64 ", view %" PRIu64 "\n",
        id_, completed_, count, secs, tput, pct(0.5), pct(0.99), pct(1.0),
        timeouts_, view_);
    if (g_flags.json) {
      std::printf(
          "{\"client\":%d,\"completed\":%d,\"requested\":%d,\"seconds\":%.3f,"
          "\"throughput\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,"
          "\"timeouts\":%" PRIu64 ",\"view\":%" PRIu64 "}\n",
          id_, completed_, count, secs, tput, pct(0.5), pct(0.99), pct(1.0),
          timeouts_, view_);
    }
    std::fflush(stdout);
  }

  const int n_, f_, base_port_, id_;
  std::mt19937_64 rng_;
  std::vector<Conn> conns_;
  std::map<uint64_t, Outstanding> out_;
  uint64_t view_ = 0;
  int completed_ = 0;
  uint64_t timeouts_ = 0;
  std::vector<int64_t> latencies_ns_;
};

}  // namespace
}  // namespace resdb_trace::demo

int main(int argc, char** argv) {
  ParseFlags(argc, argv);
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  signal(SIGPIPE, SIG_IGN);
  if (g_flags.replicas < 4) {
    std::fprintf(stderr, "need --replicas >= 4\n");
    return 2;
  }
  resdb_trace::demo::Client c;
  return c.Run();
}
