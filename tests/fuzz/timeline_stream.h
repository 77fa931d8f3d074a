// The input format of timeline_builder_fuzz, shared with the seed generator:
//
//   header   4 bytes: f (% 4), max_open (1 + % 16), retained (1 + % 32),
//            retained_episodes (1 + % 8) of the builder's TimelineOptions in
//            their low bits; nonzero high bits set small caps on replicas,
//            events and requests per timeline, rendered bytes, missing
//            events listed, proxies and events held open (so that every
//            cap is reached), zero ones keep the defaults
//   op*      1 byte op (% kOpCount), 2 bytes little-endian payload length,
//            payload (cut short at the end of the input)
//
// kAdd's payload is a serialized v1::Event; kGet's, kList's and
// kListViewChanges' a serialized request; kAdvance's, kNoteLoss' and
// kAddDropped' a little-endian 64-bit integer (missing bytes are zero).
#ifndef RESDB_TRACE_TESTS_FUZZ_TIMELINE_STREAM_H_
#define RESDB_TRACE_TESTS_FUZZ_TIMELINE_STREAM_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "collector/timeline/timeline_builder.h"

namespace resdb_trace::fuzz {

enum TimelineOp : uint8_t {
  kAdd = 0,
  kAdvance = 1,
  kNoteLoss = 2,
  kAddDropped = 3,
  kGet = 4,
  kList = 5,
  kListViewChanges = 6,
  kFlush = 7,
  kOpCount = 8,
};

inline constexpr size_t kTimelineHeaderSize = 4;

// Options from the header's 4 bytes (small limits, so that eviction and
// retention run).
inline collector::TimelineOptions TimelineOptionsFrom(const uint8_t* h) {
  collector::TimelineOptions o;
  o.f = h[0] % 4;
  o.max_open = 1 + h[1] % 16;
  o.retained = 1 + h[2] % 32;
  o.retained_episodes = 1 + h[3] % 8;
  // High bits zero: the defaults; else small caps, reached within an input.
  const size_t replicas = h[0] >> 2, events = h[1] >> 4, bytes = h[2] >> 5,
               listed = h[3] >> 3, held = h[3] >> 6;
  if (replicas != 0) o.max_replicas = replicas;
  if (events != 0) {
    o.max_events_per_timeline = size_t{8} << (events % 10);
    o.max_requests_per_timeline = 1 + o.max_events_per_timeline / 8;
  }
  if (bytes != 0) o.max_timeline_bytes = size_t{256} << bytes;
  if (listed != 0) {
    o.max_missing_listed = listed;
    o.max_proxies = listed;
  }
  if (held != 0) o.max_open_events = size_t{64} << held;
  return o;
}

inline void AppendTimelineOp(std::string* out, TimelineOp op,
                             std::string_view payload) {
  out->push_back(static_cast<char>(op));
  out->push_back(static_cast<char>(payload.size() & 0xff));
  out->push_back(static_cast<char>((payload.size() >> 8) & 0xff));
  out->append(payload.substr(0, 0xffff));
}

inline std::string Le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

inline uint64_t FromLe64(std::string_view s) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < s.size(); ++i) {
    v |= static_cast<uint64_t>(static_cast<uint8_t>(s[i])) << (8 * i);
  }
  return v;
}

// Walks the ops after the header.
class TimelineOpReader {
 public:
  explicit TimelineOpReader(std::string_view ops) : rest_(ops) {}

  bool Next(TimelineOp* op, std::string_view* payload) {
    if (rest_.size() < 3) return false;
    *op = static_cast<TimelineOp>(static_cast<uint8_t>(rest_[0]) % kOpCount);
    const size_t len =
        static_cast<uint8_t>(rest_[1]) |
        (static_cast<size_t>(static_cast<uint8_t>(rest_[2])) << 8);
    rest_.remove_prefix(3);
    *payload = rest_.substr(0, len);
    rest_.remove_prefix(payload->size());
    return true;
  }

 private:
  std::string_view rest_;
};

}  // namespace resdb_trace::fuzz

#endif  // RESDB_TRACE_TESTS_FUZZ_TIMELINE_STREAM_H_
