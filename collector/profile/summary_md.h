// A markdown summary of a ProfileData for people and agents (ResLens'
// "structured profile summary"): the window and its completeness, the
// consensus phase breakdown, the top functions by flat (self) and by
// cumulative share, and the hottest call paths.
#ifndef RESDB_TRACE_COLLECTOR_PROFILE_SUMMARY_MD_H_
#define RESDB_TRACE_COLLECTOR_PROFILE_SUMMARY_MD_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "collector/profile/profile_data.h"

namespace resdb_trace::collector::profile {

// Samples of one function (frames with the same Frame::Label).
struct FunctionStat {
  std::string label;        // Frame::Label().
  std::string module;       // module base name of its first frame.
  uint64_t flat = 0;        // samples where it is the leaf (self time).
  uint64_t cumulative = 0;  // samples with it anywhere on the stack (once
                            // per sample, however deep the recursion).
};

// Every function of `data`, heaviest cumulative first (ties: by label).
std::vector<FunctionStat> ComputeFunctionStats(const ProfileData& data);

// Samples per phase (hook id), heaviest first.
std::vector<std::pair<uint32_t, uint64_t>> PhaseTotals(const ProfileData& data);

struct SummaryOptions {
  // Heading; empty: "CPU profile".
  std::string title;
  // Rows of each top-functions table.
  size_t top_functions = 20;
  // Hottest paths listed.
  size_t top_paths = 10;
  // Frames shown per path (the leaf-most ones).
  size_t path_frames = 8;
};

std::string RenderSummaryMarkdown(const ProfileData& data,
                                  const SummaryOptions& options = {});

}  // namespace resdb_trace::collector::profile

#endif  // RESDB_TRACE_COLLECTOR_PROFILE_SUMMARY_MD_H_
