// Turns raw ring-buffer records (struct resdb_trace_record) into typed
// resdb_trace.v1 events.
//
// The hook id selects the catalogue row, whose ABI says what the six argument
// registers mean; the decoder unpacks meta (type | sender << 32 | self << 48),
// maps the kernel's monotonic stamp to wall time and assigns event ids.
// DeepObserve-compatible hooks decode into the same stage messages as their
// v1 counterparts, with view and digest absent and caller_epoch_ns set.
// Anything it cannot decode is counted as malformed and returned as an error
// status; the decoder never crashes on input.
#ifndef RESDB_TRACE_COLLECTOR_DECODE_DECODER_H_
#define RESDB_TRACE_COLLECTOR_DECODE_DECODER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "bpf/trace_record.h"
#include "collector/decode/clock.h"
#include "google/protobuf/arena.h"
#include "lib/catalogue.h"
#include "resdb_trace/v1/events.pb.h"

namespace resdb_trace::collector {

// The consensus sequence number an event carries (its message's `seq`
// field), for seq-range filters; nullopt for events without one.
std::optional<uint64_t> EventSeq(const v1::Event& event);

// meta = type | sender << 32 | self << 48, unpacked.
struct UnpackedMeta {
  uint32_t type;
  uint16_t sender;
  uint16_t self;
};
UnpackedMeta UnpackMeta(uint64_t meta);

// Counters since construction; read with Decoder::stats().
struct DecoderStats {
  uint64_t records = 0;         // records offered to Decode/DecodeRecord
  uint64_t decoded = 0;         // records turned into an event
  uint64_t malformed = 0;       // wrong_size + unknown_hook
  uint64_t wrong_size = 0;      // size != sizeof(struct resdb_trace_record)
  uint64_t unknown_hook = 0;    // hook id not in the catalogue
  uint64_t processes_seen = 0;  // ProcessStarted events emitted
};

struct DecoderOptions {
  // Copied into Event.node_name (the collector's host name).
  std::string node_name;
  // Emit a ProcessStarted event before the first record of each pid.
  bool emit_process_started = true;
  // Path of a pid's binary, asked once per new pid; empty if unknown.
  // Defaults to readlink("/proc/<pid>/exe").
  std::function<std::string(uint32_t pid)> binary_for_pid;
};

// Decodes records of one ring buffer. Decode/DecodeRecord/ForgetProcess are
// safe to call from several threads, although one reader thread is the
// intended use; event ids stay unique and increasing in assignment order.
class Decoder {
 public:
  // `clock` must outlive the decoder.
  explicit Decoder(const MonotonicToWallClock* clock,
                   DecoderOptions options = {});

  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  // Decodes one record and appends the result to `out`: a ProcessStarted
  // first when the pid is new (and the option is on), then the hook's event.
  // The events are created on `arena` (never null) and their pointers
  // appended: the collector's hot path, which gets typed records from
  // BpfTracer (which already counted the wrong-sized ones) and allocates one
  // arena per ring-buffer poll instead of ~10 heap blocks per event. On an
  // unknown hook id, appends nothing, counts the record as malformed and
  // returns NotFound.
  absl::Status Decode(const resdb_trace_record& record,
                      google::protobuf::Arena* arena,
                      std::vector<v1::Event*>* out);

  // The same for a record as raw bytes (a capture, a fuzzer), onto the heap.
  // A size other than sizeof(resdb_trace_record) is malformed too:
  // InvalidArgument, nothing appended.
  absl::Status Decode(absl::Span<const uint8_t> bytes,
                      std::vector<v1::Event>* out);

  // Decodes one record into its hook event only (no lifecycle events, but
  // the pid's replica id and binary are still learnt and used).
  absl::StatusOr<v1::Event> DecodeRecord(const resdb_trace_record& record);

  // Drops what the decoder knows about `pid` and returns a ProcessExited
  // event for it (binary filled when known).
  v1::Event ForgetProcess(uint32_t pid);
  // The same, filling `event` (which may live on an arena).
  void ForgetProcess(uint32_t pid, v1::Event* event);

  // Next event id, for events produced outside the decoder (LossNotice...).
  uint64_t AllocateEventId() {
    return next_event_id_.fetch_add(1, std::memory_order_relaxed);
  }

  DecoderStats stats() const;

 private:
  struct ProcessState {
    // Shared, never copied per event: a snapshot is a reference count.
    std::shared_ptr<const std::string> binary;
    uint32_t replica_id = 0;  // last meta self seen; 0 until one is
  };

  // Learns from `record`; returns the pid's state after it and whether the
  // pid was new.
  ProcessState Observe(const resdb_trace_record& record,
                       const catalogue::Hook& hook, bool* is_new);
  // Counts `record` and finds its catalogue row, or the error (counted).
  absl::StatusOr<const catalogue::Hook*> CountAndLookUp(
      const resdb_trace_record& record);
  // Both Decodes: `new_event()` appends an empty event to `out` and returns
  // it to fill; on failure `out` is as it was, but a ProcessStarted stays.
  template <typename Out, typename NewEvent>
  absl::Status DecodeAppending(const resdb_trace_record& record, Out* out,
                               NewEvent new_event);
  // Fills `e` with the hook's event; false (counted) when the hook has no
  // decoding.
  absl::Status DecodeKnown(const resdb_trace_record& record,
                           const catalogue::Hook& hook,
                           const ProcessState& process, v1::Event* e);
  void FillEnvelope(const resdb_trace_record& record,
                    const ProcessState& process, v1::Event* event);

  const MonotonicToWallClock* clock_;
  DecoderOptions options_;
  std::atomic<uint64_t> next_event_id_{1};

  std::atomic<uint64_t> records_{0};
  std::atomic<uint64_t> decoded_{0};
  std::atomic<uint64_t> wrong_size_{0};
  std::atomic<uint64_t> unknown_hook_{0};
  std::atomic<uint64_t> processes_seen_{0};

  absl::Mutex mu_;
  absl::flat_hash_map<uint32_t, ProcessState> processes_ ABSL_GUARDED_BY(mu_);
};

}  // namespace resdb_trace::collector

#endif  // RESDB_TRACE_COLLECTOR_DECODE_DECODER_H_
