#include "collector/decode/clock.h"

#include <time.h>

#include <cstdint>
#include <limits>
#include <utility>

namespace resdb_trace::collector {
namespace {

int64_t ReadClock(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace

int64_t RealtimeNowNs() { return ReadClock(CLOCK_REALTIME); }
int64_t MonotonicNowNs() { return ReadClock(CLOCK_MONOTONIC); }

ClockSource ClockSource::System() {
  return ClockSource{[] { return ReadClock(CLOCK_REALTIME); },
                     [] { return ReadClock(CLOCK_MONOTONIC); }};
}

MonotonicToWallClock::MonotonicToWallClock(ClockSource source, int samples)
    : source_(std::move(source)), samples_(samples < 1 ? 1 : samples) {
  Refresh();
}

void MonotonicToWallClock::Refresh() {
  int64_t best_interval = std::numeric_limits<int64_t>::max();
  int64_t best_offset = 0;
  for (int i = 0; i < samples_; ++i) {
    const int64_t mono_before = source_.monotonic_ns();
    const int64_t real = source_.realtime_ns();
    const int64_t mono_after = source_.monotonic_ns();
    const int64_t interval = mono_after - mono_before;
    // A preempted or backwards sample says nothing about the offset.
    if (interval < 0 || interval >= best_interval) continue;
    best_interval = interval;
    best_offset = real - (mono_before + interval / 2);
  }
  if (best_interval == std::numeric_limits<int64_t>::max()) return;
  offset_ns_.store(best_offset, std::memory_order_relaxed);
  uncertainty_ns_.store((best_interval + 1) / 2, std::memory_order_relaxed);
}

int64_t MonotonicToWallClock::ToWallNs(uint64_t ktime_ns) const {
  // Unsigned arithmetic: defined wrap-around instead of signed overflow.
  return static_cast<int64_t>(ktime_ns + static_cast<uint64_t>(offset_ns()));
}

google::protobuf::Timestamp MonotonicToWallClock::ToTimestamp(
    uint64_t ktime_ns) const {
  return NsToTimestamp(ToWallNs(ktime_ns));
}

google::protobuf::Timestamp MonotonicToWallClock::NsToTimestamp(
    int64_t wall_ns) {
  constexpr int64_t kNsPerSec = 1000000000;
  int64_t seconds = wall_ns / kNsPerSec;
  int64_t nanos = wall_ns % kNsPerSec;
  if (nanos < 0) {
    nanos += kNsPerSec;
    seconds -= 1;
  }
  google::protobuf::Timestamp ts;
  ts.set_seconds(seconds);
  ts.set_nanos(static_cast<int32_t>(nanos));
  return ts;
}

}  // namespace resdb_trace::collector
