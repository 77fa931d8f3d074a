#include "collector/profile/profile_data.h"

#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "resdb_trace/catalog.h"

namespace resdb_trace::collector::profile {
namespace {

struct HookName {
  uint32_t id;
  const char* name;
};

constexpr HookName kHooks[] = {
#define RESDB_TRACE_X_NAME(id, name, Name, abi, type, where, seq_arg, aux_arg) \
  {id, #name},
    RESDB_TRACE_HOOKS(RESDB_TRACE_X_NAME)
#undef RESDB_TRACE_X_NAME
};

}  // namespace

std::string Frame::ModuleBaseName() const {
  // pseudo names ("[kernel module foo]") may contain '/' inside brackets
  if (module.empty() || module.front() == '[') return module;
  size_t slash = module.find_last_of('/');
  return slash == std::string::npos ? module : module.substr(slash + 1);
}

std::string Frame::Label() const {
  if (known()) return function;
  std::string base = ModuleBaseName();
  if (base.empty()) return "[unknown]";
  return absl::StrFormat("[unknown] %s+0x%x", base, address);
}

Frame MarkerFrame(std::string_view name) {
  Frame f;
  f.kind = Frame::Kind::kMarker;
  f.function = std::string(name);
  return f;
}

ProfileCounters& ProfileCounters::operator+=(const ProfileCounters& o) {
  samples += o.samples;
  lost_user_stacks += o.lost_user_stacks;
  lost_kernel_stacks += o.lost_kernel_stacks;
  empty_user_stacks += o.empty_user_stacks;
  dropped_samples += o.dropped_samples;
  truncated_stacks += o.truncated_stacks;
  evicted_stacks += o.evicted_stacks;
  unknown_frames += o.unknown_frames;
  intervals += o.intervals;
  return *this;
}

uint64_t ProfileData::TotalCount() const {
  uint64_t total = 0;
  for (const ProfileSample& s : samples) total += s.count;
  return total;
}

int64_t ProfileData::PeriodNs() const {
  if (frequency_hz == 0) return 0;
  return static_cast<int64_t>(std::llround(1e9 / frequency_hz));
}

uint32_t ProfileData::AddFrame(const Frame& frame) {
  for (size_t i = 0; i < frames.size(); ++i) {
    if (frames[i] == frame) return static_cast<uint32_t>(i);
  }
  frames.push_back(frame);
  return static_cast<uint32_t>(frames.size() - 1);
}

std::string PhaseName(uint32_t hook_id) {
  if (hook_id == 0) return "none";
  for (const HookName& h : kHooks) {
    if (h.id == hook_id) return h.name;
  }
  return absl::StrCat("hook_", hook_id);
}

std::optional<uint32_t> PhaseIdFromName(std::string_view name) {
  if (name == "none") return 0;
  for (const HookName& h : kHooks) {
    if (name == h.name) return h.id;
  }
  std::string_view digits = name;
  if (digits.substr(0, 5) == "hook_") digits.remove_prefix(5);
  uint32_t id = 0;
  if (!digits.empty() &&
      absl::SimpleAtoi(absl::string_view(digits.data(), digits.size()), &id)) {
    return id;
  }
  return std::nullopt;
}

}  // namespace resdb_trace::collector::profile
