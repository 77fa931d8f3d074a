// The key-value store the MCP tools commit_key_value and get_key_value write
// and read through consensus, behind an interface so the MCP server does not
// depend on any one cluster: the demo PBFT cluster (demo/mcp_kv_backend.*)
// today, a ResilientDB deployment later. Backends register a factory under
// a name (RegisterKvBackend, usually from a static initializer in a library
// linked with alwayslink = 1); `resdb-trace mcp --kv-backend NAME` picks one.
#ifndef RESDB_TRACE_CLIENTS_MCP_KV_BACKEND_H_
#define RESDB_TRACE_CLIENTS_MCP_KV_BACKEND_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace resdb_trace::collector::mcp {

// One request the cluster executed. `seq` is what the tools need (the
// collector's timelines are keyed by it); the rest is what a backend knows
// about how consensus answered, zero or empty when it does not.
struct KvCommit {
  uint64_t seq = 0;   // consensus sequence number the request executed at
  bool found = true;  // Get: false when the key is not set
  std::string value;  // Get: the value when found; Set: empty
  uint64_t view = 0;  // highest view among the matching replies
  int replicas = 0;   // replicas in the cluster
  std::vector<uint32_t> matching;  // replicas whose replies matched
  uint32_t client_id = 0;          // proxy id the request was sent as
  uint64_t local_id = 0;           // the request's id at that client
  int64_t latency_ns = 0;          // send to the deciding reply
  int resends = 0;                 // broadcasts after timeouts
};

// Thread-safe: tools may call concurrently (a backend may serialise).
class KvBackend {
 public:
  virtual ~KvBackend() = default;

  // The name it was registered under ("demo").
  virtual std::string name() const = 0;
  // Where it writes, for the startup log ("demo cluster 127.0.0.1:20000+i
  // (n=4)").
  virtual std::string description() const = 0;

  // Commits key = value; the answer's seq is where it executed. Errors say
  // what failed and how to fix it (e.g. how to start the cluster).
  virtual absl::StatusOr<KvCommit> Set(const std::string& key,
                                       const std::string& value) = 0;
  // Reads key through consensus; found = false for a key never set.
  virtual absl::StatusOr<KvCommit> Get(const std::string& key) = 0;
};

// What `resdb-trace mcp` hands every backend factory; each backend reads
// what it understands and rejects what it cannot use.
struct KvBackendOptions {
  std::string
      cluster;  // --cluster, in the backend's own syntax; empty: default
  uint32_t client_id = 0;  // --client-id; 0: the backend picks
  int timeout_ms = 0;      // --kv-timeout-ms; 0: the backend's default
};

using KvBackendFactory =
    std::function<absl::StatusOr<std::unique_ptr<KvBackend>>(
        const KvBackendOptions&)>;

// Registers `factory` under `name`; false (and nothing registered) when the
// name is taken. Returns a bool so a static initializer can call it.
bool RegisterKvBackend(const std::string& name, KvBackendFactory factory);

// The backend registered as `name`, built from `options`. NOT_FOUND naming
// the registered backends for an unknown name; the factory's error otherwise.
absl::StatusOr<std::unique_ptr<KvBackend>> CreateKvBackend(
    const std::string& name, const KvBackendOptions& options);

// The registered names, sorted.
std::vector<std::string> KvBackendNames();

}  // namespace resdb_trace::collector::mcp

#endif  // RESDB_TRACE_CLIENTS_MCP_KV_BACKEND_H_
