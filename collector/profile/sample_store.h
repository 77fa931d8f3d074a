// The profiler's bounded in-memory history: symbolized samples grouped by
// drain interval, frames and stacks interned once. Old intervals are
// evicted by age and by total size; queries aggregate what they select into
// a ProfileData.
#ifndef RESDB_TRACE_COLLECTOR_PROFILE_SAMPLE_STORE_H_
#define RESDB_TRACE_COLLECTOR_PROFILE_SAMPLE_STORE_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
#include "collector/profile/profile_data.h"

namespace resdb_trace::collector::profile {

// One aggregation bucket of a drain, symbolized.
struct SymbolizedSample {
  uint32_t pid = 0;
  uint32_t tid = 0;
  uint32_t phase = 0;
  uint64_t count = 0;
  std::vector<Frame> frames;  // leaf first (see ProfileSample::frames).
};

// Not thread-safe: the Profiler serializes access.
class SampleStore {
 public:
  struct Options {
    // Most sample buckets kept; the oldest intervals go first.
    size_t max_samples = 1 << 20;
    // Intervals that ended longer ago than this (before the newest one's
    // end) are evicted.
    absl::Duration retention = absl::Minutes(10);
  };

  explicit SampleStore(Options options);
  SampleStore() : SampleStore(Options{}) {}

  // Stores one drain interval [start, end). `dropped_samples`: samples the
  // kernel could not count in it (not attributable to any process).
  void Append(absl::Time start, absl::Time end,
              const std::vector<SymbolizedSample>& samples,
              uint64_t dropped_samples);

  // Aggregates the intervals that end in (start, end] by (stack, pid, tid,
  // phase). `pids` / `phases`: nullopt selects all. Counters are derived
  // from the selected samples' marker and unknown frames.
  ProfileData Query(
      absl::Time start, absl::Time end,
      const std::optional<absl::flat_hash_set<uint32_t>>& pids,
      const std::optional<absl::flat_hash_set<uint32_t>>& phases) const;

  size_t stored_samples() const { return stored_; }
  size_t intervals() const { return intervals_.size(); }
  uint64_t evicted_samples() const { return evicted_; }
  size_t interned_frames() const { return frames_.size(); }
  size_t interned_stacks() const { return stacks_.size(); }

 private:
  struct Entry {
    uint32_t stack = 0;
    uint32_t pid = 0;
    uint32_t tid = 0;
    uint32_t phase = 0;
    uint64_t count = 0;
  };
  struct Interval {
    absl::Time start;
    absl::Time end;
    uint64_t dropped = 0;
    std::vector<Entry> entries;
  };

  uint32_t InternFrame(const Frame& frame);
  uint32_t InternStack(const std::vector<uint32_t>& frames);
  void Evict();
  // Rebuilds the frame and stack tables from the live entries.
  void Compact();

  Options options_;
  std::deque<Interval> intervals_;
  size_t stored_ = 0;
  uint64_t evicted_ = 0;
  std::vector<Frame> frames_;
  absl::flat_hash_map<Frame, uint32_t> frame_ids_;
  std::vector<std::vector<uint32_t>> stacks_;
  absl::flat_hash_map<std::vector<uint32_t>, uint32_t> stack_ids_;
};

}  // namespace resdb_trace::collector::profile

#endif  // RESDB_TRACE_COLLECTOR_PROFILE_SAMPLE_STORE_H_
