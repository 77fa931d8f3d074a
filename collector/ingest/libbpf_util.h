// libbpf plumbing shared by the BPF loaders (BpfTracer, the CPU sampler):
// capability checks, errno text, per-CPU counter sums, RAII owners for
// libbpf objects, and the routing of libbpf's log into our logger.
#ifndef RESDB_TRACE_COLLECTOR_INGEST_LIBBPF_UTIL_H_
#define RESDB_TRACE_COLLECTOR_INGEST_LIBBPF_UTIL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

struct bpf_link;
struct bpf_map;
struct ring_buffer;

namespace resdb_trace::collector {

// Severity of a libbpf log line.
enum class LibbpfLogLevel { kWarn, kInfo, kDebug };

// Receives libbpf's log lines (without the trailing newline).
using LibbpfLogger = std::function<void(LibbpfLogLevel, std::string_view)>;

// Routes libbpf's process-wide print callback into `logger`; an empty
// logger restores the default (warnings to stderr, the rest dropped).
// Thread-safe; the last call wins for every loader in the process.
void SetLibbpfLogger(LibbpfLogger logger);

// Installs the routing without changing the logger, so that libbpf's output
// follows the last SetLibbpfLogger (or the default) rather than libbpf's own
// printer.
void RouteLibbpfPrint();

// "<strerror> (errno N)" for a positive errno value.
std::string ErrnoText(int err);

// OK when the process may load BPF programs (CAP_SYS_ADMIN, or CAP_BPF and
// CAP_PERFMON) or when its capabilities cannot be read (the load decides
// then). Otherwise PermissionDenied: `help` followed by the missing ones, so
// the caller fails early with a precise message instead of an opaque EPERM.
absl::Status CheckBpfCapabilities(absl::string_view help);

// The status for `<object>__load` returning `err` (negative errno):
// PermissionDenied with `capability_help` for EPERM/EACCES, else Internal
// pointing at the verifier output in libbpf's log.
absl::Status BpfLoadError(int err, absl::string_view object,
                          absl::string_view capability_help);

// libbpf_num_possible_cpus(), or Internal when it cannot be read.
absl::StatusOr<int> PossibleCpus();

// Sums entry `key` of the per-CPU array `map` over the possible CPUs; the
// per-CPU values land in `per_cpu`, whose size (the possible CPUs) the
// caller sets. Fails, leaving `per_cpu` zeroed, when the lookup fails.
absl::StatusOr<uint64_t> SumPerCpu(const bpf_map* map, uint32_t key,
                                   std::vector<uint64_t>* per_cpu);

// Owners of libbpf objects; destroying them detaches / unmaps / frees.
struct BpfLinkDeleter {
  void operator()(bpf_link* link) const;
};
using BpfLinkPtr = std::unique_ptr<bpf_link, BpfLinkDeleter>;

struct RingBufferDeleter {
  void operator()(ring_buffer* rb) const;
};
using RingBufferPtr = std::unique_ptr<ring_buffer, RingBufferDeleter>;

// Owner of a bpftool-generated skeleton. Its `<name>__destroy` is a static
// inline function of the generated header, so the owner carries it as a
// pointer instead of naming it here:
//   SkeletonPtr<hooks_bpf> skel(hooks_bpf__open(), &hooks_bpf__destroy);
template <typename Skeleton>
using SkeletonPtr = std::unique_ptr<Skeleton, void (*)(Skeleton*)>;

}  // namespace resdb_trace::collector

#endif  // RESDB_TRACE_COLLECTOR_INGEST_LIBBPF_UTIL_H_
