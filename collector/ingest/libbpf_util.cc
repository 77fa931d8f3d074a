#include "collector/ingest/libbpf_util.h"

#include <bpf/libbpf.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace resdb_trace::collector {
namespace {

// CAP_BPF and CAP_PERFMON (Linux 5.8); older uapi headers may lack them.
constexpr int kCapPerfmon = 38;
constexpr int kCapBpf = 39;

absl::Mutex g_logger_mu;
LibbpfLogger* g_logger ABSL_GUARDED_BY(g_logger_mu) = nullptr;

int LibbpfPrint(enum libbpf_print_level level, const char* format,
                va_list args) {
  char buf[1024];
  int n = vsnprintf(buf, sizeof(buf), format, args);
  if (n < 0) return n;
  std::string_view line(buf, std::min<size_t>(n, sizeof(buf) - 1));
  while (!line.empty() && line.back() == '\n') line.remove_suffix(1);

  LibbpfLogLevel ours = level == LIBBPF_WARN   ? LibbpfLogLevel::kWarn
                        : level == LIBBPF_INFO ? LibbpfLogLevel::kInfo
                                               : LibbpfLogLevel::kDebug;
  absl::MutexLock lock(&g_logger_mu);
  if (g_logger != nullptr) {
    (*g_logger)(ours, line);
  } else if (ours == LibbpfLogLevel::kWarn) {
    fprintf(stderr, "libbpf: %.*s\n", static_cast<int>(line.size()),
            line.data());
  }
  return n;
}

bool HasCapability(const __user_cap_data_struct (&data)[2], int cap) {
  return (data[cap / 32].effective & (1u << (cap % 32))) != 0;
}

}  // namespace

void SetLibbpfLogger(LibbpfLogger logger) {
  {
    absl::MutexLock lock(&g_logger_mu);
    delete g_logger;
    g_logger = logger ? new LibbpfLogger(std::move(logger)) : nullptr;
  }
  RouteLibbpfPrint();
}

void RouteLibbpfPrint() { libbpf_set_print(LibbpfPrint); }

std::string ErrnoText(int err) {
  return absl::StrCat(strerror(err), " (errno ", err, ")");
}

absl::Status CheckBpfCapabilities(absl::string_view help) {
  __user_cap_header_struct header{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  header.pid = 0;
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0) {
    // can't tell: let the load itself decide
    return absl::OkStatus();
  }
  if (HasCapability(data, CAP_SYS_ADMIN)) return absl::OkStatus();
  std::string missing;
  if (!HasCapability(data, kCapBpf)) missing = "CAP_BPF";
  if (!HasCapability(data, kCapPerfmon)) {
    absl::StrAppend(&missing, missing.empty() ? "" : " and ", "CAP_PERFMON");
  }
  if (missing.empty()) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat(help, " (missing: ", missing, ")"));
}

absl::Status BpfLoadError(int err, absl::string_view object,
                          absl::string_view capability_help) {
  if (err == -EPERM || err == -EACCES) {
    return absl::PermissionDeniedError(
        absl::StrCat(capability_help, ": load failed with ", ErrnoText(-err)));
  }
  return absl::InternalError(absl::StrCat(
      "cannot load the ", object,
      " BPF program (the libbpf log above has the verifier output): ",
      ErrnoText(-err)));
}

absl::StatusOr<int> PossibleCpus() {
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) {
    return absl::InternalError(
        absl::StrCat("cannot count the possible cpus: ", ErrnoText(-cpus)));
  }
  return cpus;
}

absl::StatusOr<uint64_t> SumPerCpu(const bpf_map* map, uint32_t key,
                                   std::vector<uint64_t>* per_cpu) {
  std::fill(per_cpu->begin(), per_cpu->end(), 0);
  if (int err = bpf_map__lookup_elem(map, &key, sizeof(key), per_cpu->data(),
                                     per_cpu->size() * sizeof(uint64_t), 0);
      err != 0) {
    std::fill(per_cpu->begin(), per_cpu->end(), 0);
    return absl::InternalError(absl::StrCat("cannot read entry ", key,
                                            " of map ", bpf_map__name(map),
                                            ": ", ErrnoText(-err)));
  }
  uint64_t sum = 0;
  for (uint64_t v : *per_cpu) sum += v;
  return sum;
}

void BpfLinkDeleter::operator()(bpf_link* link) const {
  bpf_link__destroy(link);
}

void RingBufferDeleter::operator()(ring_buffer* rb) const {
  ring_buffer__free(rb);
}

}  // namespace resdb_trace::collector
