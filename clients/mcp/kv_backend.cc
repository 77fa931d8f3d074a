#include "clients/mcp/kv_backend.h"

#include <map>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"

namespace resdb_trace::collector::mcp {
namespace {

struct Registry {
  absl::Mutex mu;
  std::map<std::string, KvBackendFactory> factories ABSL_GUARDED_BY(mu);
};

// Never destroyed: static initializers of other files register into it in
// any order, and it must outlive them all.
Registry& GetRegistry() {
  static Registry* registry = new Registry();
  return *registry;
}

}  // namespace

bool RegisterKvBackend(const std::string& name, KvBackendFactory factory) {
  Registry& r = GetRegistry();
  absl::MutexLock lock(&r.mu);
  return r.factories.emplace(name, std::move(factory)).second;
}

absl::StatusOr<std::unique_ptr<KvBackend>> CreateKvBackend(
    const std::string& name, const KvBackendOptions& options) {
  KvBackendFactory factory;
  {
    Registry& r = GetRegistry();
    absl::MutexLock lock(&r.mu);
    auto it = r.factories.find(name);
    if (it != r.factories.end()) factory = it->second;
  }
  if (!factory) {
    const std::vector<std::string> names = KvBackendNames();
    return absl::NotFoundError(absl::StrCat(
        "--kv-backend ", name, ": no such key-value backend (this binary has: ",
        names.empty() ? "none" : absl::StrJoin(names, ", "), ")"));
  }
  return factory(options);
}

std::vector<std::string> KvBackendNames() {
  Registry& r = GetRegistry();
  absl::MutexLock lock(&r.mu);
  std::vector<std::string> names;
  for (const auto& [name, factory] : r.factories) names.push_back(name);
  return names;
}

}  // namespace resdb_trace::collector::mcp
