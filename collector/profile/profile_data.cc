#include "collector/profile/profile_data.h"

#include <cmath>

#include "absl/strings/str_format.h"

namespace resdb_trace::collector::profile {

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

}  // namespace resdb_trace::collector::profile
