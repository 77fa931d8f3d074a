// A blocking one-request-at-a-time client of the demo PBFT cluster's KV store,
// for tools that write or read one key (resdb-trace mcp): sends one "set k v"
// or "get k" transaction the way demo/client.cc does (NEW_TXNS to the primary
// it believes in, to every replica after a timeout) and returns once f+1
// replicas answered with the same result and seq.
//
// The answer carries the PBFT sequence number the request executed at, so a
// caller can look the request up in the collector (GetTimeline by seq), and
// the (client_id, local_id) pair, the client_batch_sent key of the request.
#ifndef RESDB_TRACE_DEMO_KV_CLIENT_H_
#define RESDB_TRACE_DEMO_KV_CLIENT_H_

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "demo/wire.h"

namespace resdb_trace::demo {

struct KvClientOptions {
  // Replicas n (f = (n-1)/3); replica i listens on 127.0.0.1:base_port+i.
  int replicas = 4;
  int base_port = 20000;
  // Proxy id of this client (self and proxy_id in its hooks and messages).
  // Replicas send replies over the connection of the last hello with this
  // id, so two live clients must not share one; 0 picks 1000 + pid.
  uint32_t client_id = 0;
  // Resend the request to every replica when unanswered this long.
  int request_timeout_ms = 1000;
  // Give up after this long.
  int deadline_ms = 10000;
};

struct KvReply {
  // "OK" for a set; the value, or "<nil>" for a missing key, for a get.
  std::string result;
  uint64_t seq = 0;   // PBFT sequence number the request executed at
  uint64_t view = 0;  // highest view among the matching replies
  uint32_t client_id = 0;
  uint64_t local_id = 0;           // this request's id at the client
  std::vector<uint32_t> matching;  // replicas whose replies matched
  int64_t latency_ns = 0;          // send to f+1-th matching reply
  int resends = 0;                 // broadcasts after timeouts
};

class KvClient {
 public:
  explicit KvClient(KvClientOptions options);
  ~KvClient();
  KvClient(const KvClient&) = delete;
  KvClient& operator=(const KvClient&) = delete;

  // INVALID_ARGUMENT for an empty key, a key with whitespace or control
  // characters or longer than 256 bytes, an empty value, or a value with
  // control characters or longer than 4096 bytes.
  absl::StatusOr<KvReply> Set(const std::string& key, const std::string& value);
  absl::StatusOr<KvReply> Get(const std::string& key);

  // UNAVAILABLE when fewer than f+1 replicas accept a connection,
  // DEADLINE_EXCEEDED without f+1 matching replies in time. Thread-safe;
  // requests are serialised.
  absl::StatusOr<KvReply> Execute(const std::string& txn);

  const KvClientOptions& options() const { return options_; }
  uint32_t client_id() const { return client_id_; }
  int f() const { return (options_.replicas - 1) / 3; }

 private:
  struct Conn {
    int fd = -1;
    FrameReader reader;  // the replies received so far
  };
  bool Dial(int replica);
  void Drop(int replica);
  bool Send(int replica, const std::string& frame);

  const KvClientOptions options_;
  const uint32_t client_id_;
  std::mutex mu_;
  std::vector<Conn> conns_;  // index = replica id; guarded by mu_
  uint64_t view_ = 0;        // guarded by mu_
  uint64_t next_local_id_;   // guarded by mu_
  // Why the last connection was dropped for a bad frame; guarded by mu_
  std::string last_frame_error_;
};

// Checks a key or value against the limits Set documents.
absl::Status ValidateKey(const std::string& key);
absl::Status ValidateValue(const std::string& value);

}  // namespace resdb_trace::demo

#endif  // RESDB_TRACE_DEMO_KV_CLIENT_H_
