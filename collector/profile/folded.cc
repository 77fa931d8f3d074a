#include "collector/profile/folded.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/catalogue.h"

namespace resdb_trace::collector::profile {

std::string PidFrameLabel(const ProfileData& data, uint32_t pid) {
  std::string label = absl::StrCat("pid ", pid);
  auto it = data.processes.find(pid);
  if (it == data.processes.end()) return label;
  const ProcessInfo& info = it->second;
  std::string detail = info.comm;
  if (info.replica_id) {
    absl::StrAppend(&detail, detail.empty() ? "" : ", ", "replica ",
                    *info.replica_id);
  }
  if (!detail.empty()) absl::StrAppend(&label, " (", detail, ")");
  return label;
}

std::vector<FoldedStack> FoldStacks(const ProfileData& data,
                                    const StackOptions& options) {
  std::map<std::vector<std::string>, uint64_t> merged;
  std::vector<std::string> labels;
  for (const ProfileSample& s : data.samples) {
    if (s.count == 0) continue;
    labels.clear();
    if (options.split_by_pid) labels.push_back(PidFrameLabel(data, s.pid));
    if (options.split_by_phase) {
      labels.push_back(absl::StrCat("phase ", catalogue::PhaseName(s.phase)));
    }
    for (auto it = s.frames.rbegin(); it != s.frames.rend(); ++it) {
      if (*it >= data.frames.size()) continue;
      const Frame& f = data.frames[*it];
      std::string label = f.Label();
      if (options.kernel_suffix && f.kind == Frame::Kind::kKernel) {
        absl::StrAppend(&label, "_[k]");
      }
      labels.push_back(std::move(label));
    }
    if (labels.empty()) labels.push_back("[empty stack]");
    merged[labels] += s.count;
  }
  std::vector<FoldedStack> out;
  out.reserve(merged.size());
  for (auto& [frames, count] : merged) out.push_back({frames, count});
  return out;
}

std::string RenderFolded(const ProfileData& data, const StackOptions& options) {
  std::string out;
  for (const FoldedStack& s : FoldStacks(data, options)) {
    for (size_t i = 0; i < s.frames.size(); ++i) {
      if (i > 0) out.push_back(';');
      for (char c : s.frames[i]) {
        if (c == ';') c = ':';
        if (c == '\n' || c == '\r') c = ' ';
        out.push_back(c);
      }
    }
    absl::StrAppend(&out, " ", s.count, "\n");
  }
  return out;
}

}  // namespace resdb_trace::collector::profile
