// Folded stacks (the input format of Brendan Gregg's flamegraph.pl, also
// read by speedscope and inferno): one "root;caller;...;leaf count" line per
// distinct stack. The SVG flamegraph is built from the same folded stacks.
#ifndef RESDB_TRACE_COLLECTOR_PROFILE_FOLDED_H_
#define RESDB_TRACE_COLLECTOR_PROFILE_FOLDED_H_

#include <cstdint>
#include <string>
#include <vector>

#include "collector/profile/profile_data.h"

namespace resdb_trace::collector::profile {

struct StackOptions {
  // Root frame "pid N (comm[, replica R])" per process.
  bool split_by_pid = false;
  // Root frame (below the pid frame) "phase <name>" per consensus phase.
  bool split_by_phase = false;
  // Append "_[k]" to kernel frames (flamegraph.pl colours them).
  bool kernel_suffix = true;
};

// One distinct stack of frame labels, root first, and its sample count.
struct FoldedStack {
  std::vector<std::string> frames;
  uint64_t count = 0;
};

// The samples of `data` as label stacks (Frame::Label, root first, with the
// optional split frames), identical stacks merged, sorted by frames.
std::vector<FoldedStack> FoldStacks(const ProfileData& data,
                                    const StackOptions& options = {});

// FoldStacks as text: "a;b;c 42\n" per stack. ';' inside a label becomes
// ':' and line breaks become spaces, so every line splits unambiguously.
std::string RenderFolded(const ProfileData& data,
                         const StackOptions& options = {});

// The root frame label of `pid` used by split_by_pid.
std::string PidFrameLabel(const ProfileData& data, uint32_t pid);

}  // namespace resdb_trace::collector::profile

#endif  // RESDB_TRACE_COLLECTOR_PROFILE_FOLDED_H_
