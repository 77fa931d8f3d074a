// Maps the kernel's bpf_ktime_get_ns() stamps (CLOCK_MONOTONIC) to wall
// time (CLOCK_REALTIME).
//
// The offset between the two clocks is estimated from (monotonic, realtime,
// monotonic) triples: the triple whose monotonic reads bracket the realtime
// read most tightly wins, and the offset is taken against the midpoint of its
// bracket, so the error is at most half that interval. NTP slews or steps
// CLOCK_REALTIME; call Refresh() periodically to follow it.
#ifndef RESDB_TRACE_COLLECTOR_DECODE_CLOCK_H_
#define RESDB_TRACE_COLLECTOR_DECODE_CLOCK_H_

#include <atomic>
#include <cstdint>
#include <functional>

#include "google/protobuf/timestamp.pb.h"

namespace resdb_trace::collector {

// Reads of the two clocks, in ns; replaceable so tests can script them.
struct ClockSource {
  std::function<int64_t()> realtime_ns;
  std::function<int64_t()> monotonic_ns;

  // clock_gettime(CLOCK_REALTIME) and clock_gettime(CLOCK_MONOTONIC).
  static ClockSource System();
};

// clock_gettime(CLOCK_REALTIME) in ns since the Unix epoch.
int64_t RealtimeNowNs();
// clock_gettime(CLOCK_MONOTONIC) in ns.
int64_t MonotonicNowNs();

// Converts CLOCK_MONOTONIC ns (as bpf_ktime_get_ns() returns them) to wall
// time. Conversions are thread-safe and lock-free; Refresh() may run
// concurrently with them.
class MonotonicToWallClock {
 public:
  // Samples taken per calibration by default.
  static constexpr int kDefaultSamples = 16;

  // Calibrates against the system clocks.
  MonotonicToWallClock() : MonotonicToWallClock(ClockSource::System()) {}

  // Calibrates against `source` with `samples` triples (at least 1).
  explicit MonotonicToWallClock(ClockSource source,
                                int samples = kDefaultSamples);

  MonotonicToWallClock(const MonotonicToWallClock&) = delete;
  MonotonicToWallClock& operator=(const MonotonicToWallClock&) = delete;

  // Re-estimates the offset (follows NTP adjustments of CLOCK_REALTIME).
  void Refresh();

  // realtime - monotonic, in ns, from the latest calibration.
  int64_t offset_ns() const {
    return offset_ns_.load(std::memory_order_relaxed);
  }

  // Half the bracketing interval of the latest calibration: the offset's
  // worst-case error in ns.
  int64_t uncertainty_ns() const {
    return uncertainty_ns_.load(std::memory_order_relaxed);
  }

  // The source's CLOCK_MONOTONIC now, in ns (the kernel's stamp for "now").
  int64_t MonotonicNowNs() const { return source_.monotonic_ns(); }

  // Wall-clock ns since the Unix epoch for a CLOCK_MONOTONIC stamp. Wraps
  // (never traps) on absurd inputs such as UINT64_MAX.
  int64_t ToWallNs(uint64_t ktime_ns) const;

  // The same as a protobuf Timestamp (nanos always in [0, 1e9)).
  google::protobuf::Timestamp ToTimestamp(uint64_t ktime_ns) const;

  // Splits ns since the Unix epoch into a Timestamp, flooring toward -inf.
  static google::protobuf::Timestamp NsToTimestamp(int64_t wall_ns);

 private:
  ClockSource source_;
  int samples_;
  std::atomic<int64_t> offset_ns_{0};
  std::atomic<int64_t> uncertainty_ns_{0};
};

}  // namespace resdb_trace::collector

#endif  // RESDB_TRACE_COLLECTOR_DECODE_CLOCK_H_
