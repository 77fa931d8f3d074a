#include "demo/mcp_kv_backend.h"

#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace resdb_trace::demo {
namespace {

using collector::mcp::KvBackend;
using collector::mcp::KvBackendOptions;
using collector::mcp::KvCommit;

KvCommit ToCommit(const KvReply& r, int replicas) {
  KvCommit c;
  c.seq = r.seq;
  c.view = r.view;
  c.replicas = replicas;
  c.matching = r.matching;
  c.client_id = r.client_id;
  c.local_id = r.local_id;
  c.latency_ns = r.latency_ns;
  c.resends = r.resends;
  return c;
}

class DemoKvBackend final : public KvBackend {
 public:
  explicit DemoKvBackend(KvClientOptions options) : kv_(std::move(options)) {}

  std::string name() const override { return kMcpKvBackendName; }

  std::string description() const override {
    return absl::StrFormat("demo cluster 127.0.0.1:%d+i (n=%d)",
                           kv_.options().base_port, kv_.options().replicas);
  }

  absl::StatusOr<KvCommit> Set(const std::string& key,
                               const std::string& value) override {
    absl::StatusOr<KvReply> r = kv_.Set(key, value);
    if (!r.ok()) return r.status();
    if (r->result != "OK") {
      return absl::InternalError(absl::StrFormat(
          "the replicas answered \"%s\" at seq %d instead of OK", r->result,
          r->seq));
    }
    return ToCommit(*r, kv_.options().replicas);
  }

  absl::StatusOr<KvCommit> Get(const std::string& key) override {
    absl::StatusOr<KvReply> r = kv_.Get(key);
    if (!r.ok()) return r.status();
    KvCommit c = ToCommit(*r, kv_.options().replicas);
    // The demo store answers "<nil>" for a key never set.
    c.found = r->result != "<nil>";
    if (c.found) c.value = r->result;
    return c;
  }

 private:
  KvClient kv_;
};

const bool kRegistered =
    collector::mcp::RegisterKvBackend(kMcpKvBackendName, NewMcpKvBackend);

}  // namespace

absl::Status ParseClusterSpec(const std::string& spec,
                              KvClientOptions* options) {
  std::vector<std::string> parts = absl::StrSplit(spec, ',');
  std::string addr = parts[0];
  const size_t colon = addr.rfind(':');
  if (colon != std::string::npos) {
    const std::string host = addr.substr(0, colon);
    if (host != "127.0.0.1" && host != "localhost") {
      return absl::InvalidArgumentError(absl::StrFormat(
          "--cluster %s: the demo replicas listen on 127.0.0.1 only; give "
          "127.0.0.1:BASE_PORT or just BASE_PORT",
          spec));
    }
    addr = addr.substr(colon + 1);
  }
  int port = 0;
  if (!absl::SimpleAtoi(addr, &port) || port <= 0 || port > 65000) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--cluster %s: expected [127.0.0.1:]BASE_PORT[,n=N] with BASE_PORT "
        "in 1..65000 (replica i listens on BASE_PORT+i)",
        spec));
  }
  options->base_port = port;
  for (size_t i = 1; i < parts.size(); ++i) {
    int n = 0;
    if (!absl::StartsWith(parts[i], "n=") ||
        !absl::SimpleAtoi(parts[i].substr(2), &n) || n < 4 || n > 100) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "--cluster %s: '%s' should be n=N with N in 4..100 replicas", spec,
          parts[i]));
    }
    options->replicas = n;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<KvBackend>> NewMcpKvBackend(
    const KvBackendOptions& options) {
  (void)kRegistered;  // keeps the registration referenced
  KvClientOptions kv;
  if (!options.cluster.empty()) {
    if (absl::Status s = ParseClusterSpec(options.cluster, &kv); !s.ok()) {
      return s;
    }
  }
  if (options.client_id != 0) kv.client_id = options.client_id;
  if (options.timeout_ms != 0) kv.deadline_ms = options.timeout_ms;
  return std::make_unique<DemoKvBackend>(std::move(kv));
}

}  // namespace resdb_trace::demo
