// The demo PBFT cluster as resdb-trace mcp's key-value backend ("demo", the
// default of --kv-backend): demo::KvClient behind clients/mcp/kv_backend.h.
// Linking //demo:mcp_kv_backend (alwayslink) registers it.
#ifndef RESDB_TRACE_DEMO_MCP_KV_BACKEND_H_
#define RESDB_TRACE_DEMO_MCP_KV_BACKEND_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "clients/mcp/kv_backend.h"
#include "demo/kv_client.h"

namespace resdb_trace::demo {

// The name the backend is registered under.
inline constexpr char kMcpKvBackendName[] = "demo";

// "[127.0.0.1:]BASE_PORT[,n=N]" (--cluster) into `options`; errors name
// --cluster and the expected form.
absl::Status ParseClusterSpec(const std::string& spec,
                              KvClientOptions* options);

// A backend over a KvClient built from `options` (cluster: ParseClusterSpec;
// client_id and timeout_ms when non-zero).
absl::StatusOr<std::unique_ptr<collector::mcp::KvBackend>> NewMcpKvBackend(
    const collector::mcp::KvBackendOptions& options);

}  // namespace resdb_trace::demo

#endif  // RESDB_TRACE_DEMO_MCP_KV_BACKEND_H_
