// The profiler's history: window selection, filters, aggregation, counters
// from marker frames, eviction by size and age, and table compaction.
#include "collector/profile/sample_store.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/collector/profile/profile_fixture.h"

namespace resdb_trace::collector::profile {
namespace {

using testing::UserFrame;

const absl::Time kT0 = absl::FromUnixSeconds(1700000000);

SymbolizedSample Sample(uint32_t pid, uint32_t tid, uint32_t phase,
                        uint64_t count, std::vector<std::string> leaf_first) {
  SymbolizedSample s;
  s.pid = pid;
  s.tid = tid;
  s.phase = phase;
  s.count = count;
  for (const std::string& name : leaf_first) {
    s.frames.push_back(name.front() == '['
                           ? MarkerFrame(name)
                           : UserFrame(name, "/bin/replica", name.size()));
  }
  return s;
}

// Appends one interval [kT0 + i s, kT0 + (i + 1) s).
void AppendSecond(SampleStore& store, int i,
                  std::vector<SymbolizedSample> samples, uint64_t dropped = 0) {
  store.Append(kT0 + absl::Seconds(i), kT0 + absl::Seconds(i + 1),
               std::move(samples), dropped);
}

uint64_t CountOf(const ProfileData& d, const std::string& leaf) {
  uint64_t n = 0;
  for (const ProfileSample& s : d.samples) {
    if (!s.frames.empty() && d.frames[s.frames[0]].function == leaf) {
      n += s.count;
    }
  }
  return n;
}

TEST(SampleStoreTest, SelectsIntervalsByTheirEnd) {
  SampleStore store;
  AppendSecond(store, 0, {Sample(1, 1, 0, 5, {"A", "main"})});
  AppendSecond(store, 1, {Sample(1, 1, 0, 7, {"B", "main"})}, /*dropped=*/2);
  AppendSecond(store, 2, {Sample(1, 1, 0, 11, {"C", "main"})});

  ProfileData all = store.Query(absl::InfinitePast(), absl::InfiniteFuture(),
                                std::nullopt, std::nullopt);
  EXPECT_EQ(all.TotalCount(), 23u);
  EXPECT_EQ(all.counters.intervals, 3u);
  EXPECT_EQ(all.counters.dropped_samples, 2u);
  EXPECT_EQ(all.start, kT0);
  EXPECT_EQ(all.end, kT0 + absl::Seconds(3));

  // (kT0 + 1 s, kT0 + 2 s] holds only the interval ending at kT0 + 2 s
  ProfileData middle =
      store.Query(kT0 + absl::Seconds(1), kT0 + absl::Seconds(2), std::nullopt,
                  std::nullopt);
  EXPECT_EQ(middle.TotalCount(), 7u);
  EXPECT_EQ(CountOf(middle, "B"), 7u);
  EXPECT_EQ(middle.start, kT0 + absl::Seconds(1));
  EXPECT_EQ(middle.end, kT0 + absl::Seconds(2));
  EXPECT_EQ(middle.counters.dropped_samples, 2u);

  ProfileData none =
      store.Query(kT0 + absl::Seconds(10), absl::InfiniteFuture(), std::nullopt,
                  std::nullopt);
  EXPECT_EQ(none.TotalCount(), 0u);
  EXPECT_EQ(none.counters.intervals, 0u);
  EXPECT_EQ(none.start, kT0 + absl::Seconds(10));
}

TEST(SampleStoreTest, FiltersAndAggregates) {
  SampleStore store;
  AppendSecond(store, 0,
               {Sample(1, 11, 15, 5, {"Hot", "main"}),
                Sample(1, 12, 15, 3, {"Hot", "main"}),
                Sample(2, 21, 0, 4, {"Hot", "main"}),
                Sample(1, 11, 18, 2, {"Cold", "main"})});
  AppendSecond(store, 1, {Sample(1, 11, 15, 6, {"Hot", "main"})});

  ProfileData all = store.Query(absl::InfinitePast(), absl::InfiniteFuture(),
                                std::nullopt, std::nullopt);
  // same stack, pid, tid and phase merge across intervals: 5 + 6
  ASSERT_EQ(all.samples.size(), 4u);
  EXPECT_EQ(all.samples[0].count, 11u);  // heaviest first
  EXPECT_EQ(all.samples[0].tid, 11u);
  EXPECT_EQ(all.frames.size(), 3u);  // Hot, main, Cold: shared

  absl::flat_hash_set<uint32_t> pid1 = {1};
  ProfileData p1 = store.Query(absl::InfinitePast(), absl::InfiniteFuture(),
                               pid1, std::nullopt);
  EXPECT_EQ(p1.TotalCount(), 16u);
  absl::flat_hash_set<uint32_t> prepare = {15};
  ProfileData ph = store.Query(absl::InfinitePast(), absl::InfiniteFuture(),
                               std::nullopt, prepare);
  EXPECT_EQ(ph.TotalCount(), 14u);
  EXPECT_EQ(CountOf(ph, "Cold"), 0u);
  absl::flat_hash_set<uint32_t> none_phase = {0};
  EXPECT_EQ(
      store
          .Query(absl::InfinitePast(), absl::InfiniteFuture(), pid1, none_phase)
          .TotalCount(),
      0u);
}

TEST(SampleStoreTest, CountersComeFromMarkersAndUnknownFrames) {
  SampleStore store;
  SymbolizedSample unknown = Sample(1, 1, 0, 4, {"main"});
  Frame u;
  u.module = "/lib/libx.so";
  u.address = 0x10;
  unknown.frames.insert(unknown.frames.begin(), u);
  AppendSecond(store, 0,
               {Sample(1, 1, 0, 2, {kLostUserStackMarker}),
                Sample(1, 1, 0, 3, {"k", kLostKernelStackMarker, "main"}),
                Sample(1, 1, 0, 5, {kNoUserStackMarker}),
                Sample(1, 1, 0, 7, {"deep", kTruncatedMarker}),
                Sample(1, 1, 0, 1, {kEvictedStackMarker}), unknown});
  ProfileData d = store.Query(absl::InfinitePast(), absl::InfiniteFuture(),
                              std::nullopt, std::nullopt);
  EXPECT_EQ(d.counters.samples, 22u);
  EXPECT_EQ(d.counters.lost_user_stacks, 2u);
  EXPECT_EQ(d.counters.lost_kernel_stacks, 3u);
  EXPECT_EQ(d.counters.empty_user_stacks, 5u);
  EXPECT_EQ(d.counters.truncated_stacks, 7u);
  EXPECT_EQ(d.counters.evicted_stacks, 1u);
  EXPECT_EQ(d.counters.unknown_frames, 4u);
}

TEST(SampleStoreTest, EvictsBySizeAndAgeAndCompacts) {
  SampleStore::Options options;
  options.max_samples = 10;
  options.retention = absl::Seconds(30);
  SampleStore store(options);
  // 20 intervals of 4 distinct stacks each: only the newest fit
  for (int i = 0; i < 20; ++i) {
    std::vector<SymbolizedSample> batch;
    for (int k = 0; k < 4; ++k) {
      batch.push_back(
          Sample(1, 1, 0, 1,
                 {"f" + std::to_string(i) + "_" + std::to_string(k), "main"}));
    }
    AppendSecond(store, i, std::move(batch));
  }
  EXPECT_LE(store.stored_samples(), 10u);
  EXPECT_EQ(store.stored_samples() + store.evicted_samples(), 80u);
  ProfileData d = store.Query(absl::InfinitePast(), absl::InfiniteFuture(),
                              std::nullopt, std::nullopt);
  EXPECT_EQ(d.TotalCount(), store.stored_samples());
  EXPECT_EQ(CountOf(d, "f19_3"), 1u);
  EXPECT_EQ(CountOf(d, "f0_0"), 0u);

  // the newest interval stays however large it is
  std::vector<SymbolizedSample> big;
  for (int k = 0; k < 50; ++k) {
    big.push_back(Sample(2, 2, 0, 1, {"g" + std::to_string(k), "main"}));
  }
  AppendSecond(store, 20, std::move(big));
  EXPECT_EQ(store.intervals(), 1u);
  EXPECT_EQ(store.stored_samples(), 50u);

  // age: an interval 31 s older than the newest goes
  SampleStore aged(SampleStore::Options{1000, absl::Seconds(30)});
  AppendSecond(aged, 0, {Sample(1, 1, 0, 1, {"old", "main"})});
  AppendSecond(aged, 31, {Sample(1, 1, 0, 1, {"new", "main"})});
  ProfileData a = aged.Query(absl::InfinitePast(), absl::InfiniteFuture(),
                             std::nullopt, std::nullopt);
  EXPECT_EQ(CountOf(a, "old"), 0u);
  EXPECT_EQ(CountOf(a, "new"), 1u);
}

TEST(SampleStoreTest, CompactionKeepsEveryLiveStack) {
  SampleStore::Options options;
  options.max_samples = 3000;
  SampleStore store(options);
  // enough distinct stacks to pass the compaction threshold many times
  for (int i = 0; i < 40; ++i) {
    std::vector<SymbolizedSample> batch;
    for (int k = 0; k < 500; ++k) {
      batch.push_back(Sample(
          1, 1, 0, 1, {"leaf" + std::to_string(i * 500 + k), "mid", "main"}));
    }
    AppendSecond(store, i, std::move(batch));
  }
  EXPECT_LT(store.interned_stacks(), 2 * 3000 + 4096 + 1);
  ProfileData d = store.Query(absl::InfinitePast(), absl::InfiniteFuture(),
                              std::nullopt, std::nullopt);
  EXPECT_EQ(d.TotalCount(), store.stored_samples());
  for (const ProfileSample& s : d.samples) {
    ASSERT_EQ(s.frames.size(), 3u);
    EXPECT_EQ(d.frames[s.frames[1]].function, "mid");
    EXPECT_EQ(d.frames[s.frames[2]].function, "main");
  }
  EXPECT_EQ(CountOf(d, "leaf19999"), 1u);
}

}  // namespace
}  // namespace resdb_trace::collector::profile
