#include "collector/decode/clock.h"

#include <time.h>

#include <cstdint>
#include <limits>
#include <vector>

#include "gtest/gtest.h"

namespace resdb_trace::collector {
namespace {

constexpr int64_t kSec = 1000000000;

// Replays scripted readings; the last one repeats when the script runs out.
class ScriptedClock {
 public:
  ScriptedClock(std::vector<int64_t> realtime, std::vector<int64_t> monotonic)
      : realtime_(std::move(realtime)), monotonic_(std::move(monotonic)) {}

  ClockSource Source() {
    return ClockSource{[this] { return Next(realtime_, &ri_); },
                       [this] { return Next(monotonic_, &mi_); }};
  }

  void Script(std::vector<int64_t> realtime, std::vector<int64_t> monotonic) {
    realtime_ = std::move(realtime);
    monotonic_ = std::move(monotonic);
    ri_ = mi_ = 0;
  }

 private:
  static int64_t Next(const std::vector<int64_t>& v, size_t* i) {
    const int64_t x = v[*i < v.size() ? *i : v.size() - 1];
    ++*i;
    return x;
  }
  std::vector<int64_t> realtime_, monotonic_;
  size_t ri_ = 0, mi_ = 0;
};

TEST(MonotonicToWallClockTest, PicksTheTightestBracket) {
  // Three triples (mono, real, mono): intervals 1000, 10, 400 ns.
  ScriptedClock fake({50 * kSec + 700, 50 * kSec + 2000, 50 * kSec + 3000},
                     {100, 1100, 2000, 2010, 3000, 3400});
  MonotonicToWallClock clock(fake.Source(), 3);
  // Best triple: mono [2000, 2010], real 50 s + 2000 -> offset vs midpoint.
  EXPECT_EQ(clock.offset_ns(), 50 * kSec + 2000 - 2005);
  EXPECT_EQ(clock.uncertainty_ns(), 5);
  EXPECT_EQ(clock.ToWallNs(2005), 50 * kSec + 2000);
}

TEST(MonotonicToWallClockTest, IgnoresBackwardsSamples) {
  // First triple runs backwards (negative interval), second is sane.
  ScriptedClock fake({7 * kSec, 9 * kSec}, {500, 400, 1000, 1020});
  MonotonicToWallClock clock(fake.Source(), 2);
  EXPECT_EQ(clock.offset_ns(), 9 * kSec - 1010);
  EXPECT_EQ(clock.uncertainty_ns(), 10);
}

TEST(MonotonicToWallClockTest, RefreshFollowsAStep) {
  ScriptedClock fake({10 * kSec}, {0});
  MonotonicToWallClock clock(fake.Source(), 4);
  EXPECT_EQ(clock.offset_ns(), 10 * kSec);
  // NTP stepped the wall clock forward by 1.5 s.
  fake.Script({11 * kSec + kSec / 2 + 100}, {100});
  clock.Refresh();
  EXPECT_EQ(clock.offset_ns(), 11 * kSec + kSec / 2);
  EXPECT_EQ(clock.uncertainty_ns(), 0);
}

TEST(MonotonicToWallClockTest, TimestampSplitsSecondsAndNanos) {
  ScriptedClock fake({1700000000 * kSec + 250}, {0});
  MonotonicToWallClock clock(fake.Source(), 1);
  const google::protobuf::Timestamp ts = clock.ToTimestamp(3 * kSec + 999);
  EXPECT_EQ(ts.seconds(), 1700000003);
  EXPECT_EQ(ts.nanos(), 1249);
}

TEST(MonotonicToWallClockTest, NegativeWallTimeFloors) {
  const google::protobuf::Timestamp ts =
      MonotonicToWallClock::NsToTimestamp(-1);
  EXPECT_EQ(ts.seconds(), -1);
  EXPECT_EQ(ts.nanos(), 999999999);
  const google::protobuf::Timestamp min =
      MonotonicToWallClock::NsToTimestamp(std::numeric_limits<int64_t>::min());
  EXPECT_GE(min.nanos(), 0);
  EXPECT_LT(min.nanos(), 1000000000);
}

TEST(MonotonicToWallClockTest, AbsurdStampWrapsWithoutTrapping) {
  ScriptedClock fake({1700000000 * kSec}, {0});
  MonotonicToWallClock clock(fake.Source(), 1);
  // UINT64_MAX + offset wraps to offset - 1 (defined unsigned arithmetic).
  EXPECT_EQ(clock.ToWallNs(std::numeric_limits<uint64_t>::max()),
            1700000000 * kSec - 1);
  const google::protobuf::Timestamp ts =
      clock.ToTimestamp(std::numeric_limits<uint64_t>::max());
  EXPECT_GE(ts.nanos(), 0);
  EXPECT_LT(ts.nanos(), 1000000000);
}

TEST(MonotonicToWallClockTest, SystemClockAgreesWithClockGettime) {
  MonotonicToWallClock clock;
  EXPECT_GE(clock.uncertainty_ns(), 0);
  EXPECT_LT(clock.uncertainty_ns(), kSec / 10);
  struct timespec mono, real;
  clock_gettime(CLOCK_MONOTONIC, &mono);
  clock_gettime(CLOCK_REALTIME, &real);
  const int64_t mono_ns = mono.tv_sec * kSec + mono.tv_nsec;
  const int64_t real_ns = real.tv_sec * kSec + real.tv_nsec;
  EXPECT_NEAR(static_cast<double>(clock.ToWallNs(mono_ns)),
              static_cast<double>(real_ns), 50e6);  // 50 ms, sanitizer-proof
  EXPECT_NEAR(static_cast<double>(clock.MonotonicNowNs()),
              static_cast<double>(mono_ns), 5.0 * kSec);
}

}  // namespace
}  // namespace resdb_trace::collector
