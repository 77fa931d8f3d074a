#include "collector/profile/summary_md.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "lib/catalogue.h"

namespace resdb_trace::collector::profile {
namespace {

std::string Pct(uint64_t n, uint64_t total) {
  return absl::StrFormat("%.1f%%", total == 0 ? 0.0 : 100.0 * n / total);
}

// Inline code that survives any name: backticks in the name widen the
// fence, line breaks become spaces.
std::string Code(const std::string& text) {
  std::string clean;
  for (char c : text) clean.push_back(c == '\n' || c == '\r' ? ' ' : c);
  size_t longest = 0;
  size_t run = 0;
  for (char c : clean) {
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  const std::string fence(longest + 1, '`');
  const bool pad =
      !clean.empty() && (clean.front() == '`' || clean.back() == '`');
  return absl::StrCat(fence, pad ? " " : "", clean, pad ? " " : "", fence);
}

// A table cell: '|' would end it.
std::string Cell(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '\n' || c == '\r') {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

std::vector<FunctionStat> ComputeFunctionStats(const ProfileData& data) {
  absl::flat_hash_map<std::string, FunctionStat> stats;
  absl::flat_hash_set<std::string> seen;
  for (const ProfileSample& s : data.samples) {
    seen.clear();
    for (size_t i = 0; i < s.frames.size(); ++i) {
      if (s.frames[i] >= data.frames.size()) continue;
      const Frame& f = data.frames[s.frames[i]];
      std::string label = f.Label();
      auto [it, inserted] = stats.try_emplace(label);
      if (inserted) {
        it->second.label = label;
        it->second.module =
            f.kind == Frame::Kind::kKernel ? "kernel" : f.ModuleBaseName();
      }
      if (i == 0) it->second.flat += s.count;
      if (seen.insert(std::move(label)).second)
        it->second.cumulative += s.count;
    }
  }
  std::vector<FunctionStat> out;
  out.reserve(stats.size());
  for (auto& [label, stat] : stats) out.push_back(std::move(stat));
  std::sort(out.begin(), out.end(),
            [](const FunctionStat& a, const FunctionStat& b) {
              if (a.cumulative != b.cumulative) {
                return a.cumulative > b.cumulative;
              }
              return a.label < b.label;
            });
  return out;
}

std::vector<std::pair<uint32_t, uint64_t>> PhaseTotals(
    const ProfileData& data) {
  std::map<uint32_t, uint64_t> totals;
  for (const ProfileSample& s : data.samples) totals[s.phase] += s.count;
  std::vector<std::pair<uint32_t, uint64_t>> out(totals.begin(), totals.end());
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.second > b.second;
  });
  return out;
}

std::string RenderSummaryMarkdown(const ProfileData& data,
                                  const SummaryOptions& options) {
  const uint64_t total = data.TotalCount();
  std::string out;
  absl::StrAppend(&out, "# ",
                  options.title.empty() ? "CPU profile" : options.title,
                  "\n\n");

  // the window and how complete it is
  const double seconds = absl::ToDoubleSeconds(data.end - data.start);
  out += "| | |\n|---|---|\n";
  absl::StrAppendFormat(
      &out, "| window | %s → %s (%.1f s) |\n",
      absl::FormatTime("%Y-%m-%d %H:%M:%S", data.start, absl::UTCTimeZone()),
      absl::FormatTime("%H:%M:%S UTC", data.end, absl::UTCTimeZone()), seconds);
  absl::StrAppendFormat(
      &out, "| sampling | %d Hz per CPU (one sample ≈ %.1f ms of CPU) |\n",
      data.frequency_hz, data.PeriodNs() / 1e6);
  absl::StrAppendFormat(&out, "| samples | %d (≈ %.2f CPU-seconds) |\n", total,
                        total * data.PeriodNs() / 1e9);
  std::vector<std::string> procs;
  absl::flat_hash_map<uint32_t, uint64_t> per_pid;
  for (const ProfileSample& s : data.samples) per_pid[s.pid] += s.count;
  for (const auto& [pid, info] : data.processes) {
    std::string p = absl::StrCat(pid);
    if (!info.comm.empty()) absl::StrAppend(&p, " ", Code(info.comm));
    if (info.replica_id) absl::StrAppend(&p, " replica ", *info.replica_id);
    if (info.exited) absl::StrAppend(&p, " (exited)");
    absl::StrAppend(&p, ": ", Pct(per_pid[pid], total));
    procs.push_back(Cell(p));
  }
  absl::StrAppend(&out, "| processes | ",
                  procs.empty() ? "none" : absl::StrJoin(procs, "; "), " |\n");
  const ProfileCounters& c = data.counters;
  absl::StrAppendFormat(
      &out,
      "| completeness | lost user stacks %d, lost kernel stacks %d, truncated "
      "%d, no user stack %d, evicted %d, dropped (count map full) %d, "
      "unknown frames %d |\n\n",
      c.lost_user_stacks, c.lost_kernel_stacks, c.truncated_stacks,
      c.empty_user_stacks, c.evicted_stacks, c.dropped_samples,
      c.unknown_frames);

  if (total == 0) {
    out += "No samples in this window.\n";
    return out;
  }

  const std::vector<FunctionStat> stats = ComputeFunctionStats(data);

  // phases, with each phase's hottest self function
  out += "## Phase breakdown\n\n";
  out +=
      "The phase of a sample is the last resdb_trace hook its thread "
      "passed (`none`: no hook yet).\n\n";
  out += "| phase | hook id | samples | share | hottest function (self) |\n";
  out += "|---|---:|---:|---:|---|\n";
  for (const auto& [phase, count] : PhaseTotals(data)) {
    absl::flat_hash_map<std::string, uint64_t> self;
    for (const ProfileSample& s : data.samples) {
      if (s.phase != phase || s.frames.empty() ||
          s.frames[0] >= data.frames.size()) {
        continue;
      }
      self[data.frames[s.frames[0]].Label()] += s.count;
    }
    std::string best;
    uint64_t best_n = 0;
    for (const auto& [label, n] : self) {
      if (n > best_n || (n == best_n && label < best)) {
        best = label;
        best_n = n;
      }
    }
    absl::StrAppend(&out, "| ", Cell(catalogue::PhaseName(phase)), " | ", phase,
                    " | ", count, " | ", Pct(count, total), " | ",
                    best.empty() ? "" : Cell(Code(best)), " (",
                    Pct(best_n, count), " of the phase) |\n");
  }
  out += "\n";

  // top functions, flat then cumulative
  std::vector<FunctionStat> by_flat = stats;
  std::stable_sort(by_flat.begin(), by_flat.end(),
                   [](const FunctionStat& a, const FunctionStat& b) {
                     return a.flat > b.flat;
                   });
  out += "## Top functions by self time (flat)\n\n";
  out += "| # | function | module | self samples | flat | cumulative |\n";
  out += "|---:|---|---|---:|---:|---:|\n";
  for (size_t i = 0; i < by_flat.size() && i < options.top_functions; ++i) {
    const FunctionStat& f = by_flat[i];
    if (f.flat == 0) break;
    absl::StrAppend(&out, "| ", i + 1, " | ", Cell(Code(f.label)), " | ",
                    Cell(f.module), " | ", f.flat, " | ", Pct(f.flat, total),
                    " | ", Pct(f.cumulative, total), " |\n");
  }
  out += "\n## Top functions by cumulative time\n\n";
  out += "| # | function | module | samples | cumulative | flat |\n";
  out += "|---:|---|---|---:|---:|---:|\n";
  for (size_t i = 0; i < stats.size() && i < options.top_functions; ++i) {
    const FunctionStat& f = stats[i];
    absl::StrAppend(&out, "| ", i + 1, " | ", Cell(Code(f.label)), " | ",
                    Cell(f.module), " | ", f.cumulative, " | ",
                    Pct(f.cumulative, total), " | ", Pct(f.flat, total),
                    " |\n");
  }

  // hottest full paths (function level, root first)
  std::map<std::vector<std::string>, uint64_t> paths;
  for (const ProfileSample& s : data.samples) {
    std::vector<std::string> labels;
    for (auto it = s.frames.rbegin(); it != s.frames.rend(); ++it) {
      if (*it < data.frames.size()) labels.push_back(data.frames[*it].Label());
    }
    paths[labels] += s.count;
  }
  std::vector<std::pair<uint64_t, const std::vector<std::string>*>> ranked;
  ranked.reserve(paths.size());
  for (const auto& [labels, n] : paths) ranked.push_back({n, &labels});
  std::stable_sort(
      ranked.begin(), ranked.end(),
      [](const auto& a, const auto& b) { return a.first > b.first; });
  out += "\n## Hottest paths\n\n";
  out += "Root → leaf; long paths show their leaf-most frames.\n\n";
  for (size_t i = 0; i < ranked.size() && i < options.top_paths; ++i) {
    const std::vector<std::string>& labels = *ranked[i].second;
    std::vector<std::string> shown;
    size_t first = labels.size() > options.path_frames
                       ? labels.size() - options.path_frames
                       : 0;
    if (first > 0) shown.push_back("…");
    for (size_t k = first; k < labels.size(); ++k)
      shown.push_back(Code(labels[k]));
    absl::StrAppendFormat(&out, "%d. **%s** (%d samples): %s\n", i + 1,
                          Pct(ranked[i].first, total), ranked[i].first,
                          absl::StrJoin(shown, " → "));
  }
  return out;
}

}  // namespace resdb_trace::collector::profile
