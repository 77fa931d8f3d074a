#include "collector/profile/sample_store.h"

#include <algorithm>
#include <tuple>
#include <utility>

namespace resdb_trace::collector::profile {
namespace {

// Interned stacks tolerated per live bucket before the tables are rebuilt.
constexpr size_t kCompactSlack = 4096;

}  // namespace

SampleStore::SampleStore(Options options) : options_(options) {}

uint32_t SampleStore::InternFrame(const Frame& frame) {
  auto [it, inserted] =
      frame_ids_.try_emplace(frame, static_cast<uint32_t>(frames_.size()));
  if (inserted) frames_.push_back(frame);
  return it->second;
}

uint32_t SampleStore::InternStack(const std::vector<uint32_t>& frames) {
  auto [it, inserted] =
      stack_ids_.try_emplace(frames, static_cast<uint32_t>(stacks_.size()));
  if (inserted) stacks_.push_back(frames);
  return it->second;
}

void SampleStore::Append(absl::Time start, absl::Time end,
                         const std::vector<SymbolizedSample>& samples,
                         uint64_t dropped_samples) {
  Interval interval;
  interval.start = start;
  interval.end = end;
  interval.dropped = dropped_samples;
  interval.entries.reserve(samples.size());
  std::vector<uint32_t> ids;
  for (const SymbolizedSample& s : samples) {
    if (s.count == 0) continue;
    ids.clear();
    for (const Frame& f : s.frames) ids.push_back(InternFrame(f));
    interval.entries.push_back(
        {InternStack(ids), s.pid, s.tid, s.phase, s.count});
  }
  stored_ += interval.entries.size();
  intervals_.push_back(std::move(interval));
  Evict();
}

void SampleStore::Evict() {
  const absl::Time newest =
      intervals_.empty() ? absl::InfinitePast() : intervals_.back().end;
  bool evicted = false;
  // the newest interval always stays, however large
  while (intervals_.size() > 1 &&
         (stored_ > options_.max_samples ||
          intervals_.front().end < newest - options_.retention)) {
    stored_ -= intervals_.front().entries.size();
    evicted_ += intervals_.front().entries.size();
    intervals_.pop_front();
    evicted = true;
  }
  if (evicted && stacks_.size() > 2 * stored_ + kCompactSlack) Compact();
}

void SampleStore::Compact() {
  std::vector<Frame> old_frames = std::move(frames_);
  std::vector<std::vector<uint32_t>> old_stacks = std::move(stacks_);
  frames_.clear();
  frame_ids_.clear();
  stacks_.clear();
  stack_ids_.clear();
  absl::flat_hash_map<uint32_t, uint32_t> stack_map;
  std::vector<uint32_t> ids;
  for (Interval& interval : intervals_) {
    for (Entry& e : interval.entries) {
      auto it = stack_map.find(e.stack);
      if (it == stack_map.end()) {
        ids.clear();
        for (uint32_t f : old_stacks[e.stack]) {
          ids.push_back(InternFrame(old_frames[f]));
        }
        it = stack_map.emplace(e.stack, InternStack(ids)).first;
      }
      e.stack = it->second;
    }
  }
}

ProfileData SampleStore::Query(
    absl::Time start, absl::Time end,
    const std::optional<absl::flat_hash_set<uint32_t>>& pids,
    const std::optional<absl::flat_hash_set<uint32_t>>& phases) const {
  ProfileData out;
  using Key = std::tuple<uint32_t, uint32_t, uint32_t, uint32_t>;
  absl::flat_hash_map<Key, uint64_t> buckets;
  absl::Time first = absl::InfiniteFuture();
  absl::Time last = absl::InfinitePast();
  for (const Interval& interval : intervals_) {
    if (!(interval.end > start && interval.end <= end)) continue;
    first = std::min(first, interval.start);
    last = std::max(last, interval.end);
    out.counters.dropped_samples += interval.dropped;
    ++out.counters.intervals;
    for (const Entry& e : interval.entries) {
      if (pids && !pids->contains(e.pid)) continue;
      if (phases && !phases->contains(e.phase)) continue;
      buckets[Key{e.stack, e.pid, e.tid, e.phase}] += e.count;
    }
  }
  if (out.counters.intervals > 0) {
    out.start = first;
    out.end = last;
  } else {
    // nothing selected: report the window asked for where it is finite
    out.start = start == absl::InfinitePast() ? absl::UnixEpoch() : start;
    out.end = end == absl::InfiniteFuture() ? out.start : end;
  }

  // deterministic output: heaviest first, then by identity
  std::vector<std::pair<Key, uint64_t>> sorted(buckets.begin(), buckets.end());
  std::sort(
      sorted.begin(), sorted.end(),
      [](const std::pair<Key, uint64_t>& a, const std::pair<Key, uint64_t>& b) {
        if (a.second != b.second) return a.second > b.second;
        return a.first < b.first;
      });

  absl::flat_hash_map<uint32_t, uint32_t> frame_map;
  out.samples.reserve(sorted.size());
  for (const auto& [key, count] : sorted) {
    const auto& [stack, pid, tid, phase] = key;
    ProfileSample s;
    s.pid = pid;
    s.tid = tid;
    s.phase = phase;
    s.count = count;
    for (uint32_t f : stacks_[stack]) {
      auto [it, inserted] =
          frame_map.try_emplace(f, static_cast<uint32_t>(out.frames.size()));
      if (inserted) out.frames.push_back(frames_[f]);
      s.frames.push_back(it->second);
      const Frame& frame = frames_[f];
      if (frame.kind == Frame::Kind::kMarker) {
        if (frame.function == kLostUserStackMarker) {
          out.counters.lost_user_stacks += count;
        } else if (frame.function == kLostKernelStackMarker) {
          out.counters.lost_kernel_stacks += count;
        } else if (frame.function == kEvictedStackMarker) {
          out.counters.evicted_stacks += count;
        } else if (frame.function == kNoUserStackMarker) {
          out.counters.empty_user_stacks += count;
        } else if (frame.function == kTruncatedMarker) {
          out.counters.truncated_stacks += count;
        }
      } else if (!frame.known()) {
        out.counters.unknown_frames += count;
      }
    }
    out.counters.samples += count;
    out.samples.push_back(std::move(s));
  }
  return out;
}

}  // namespace resdb_trace::collector::profile
