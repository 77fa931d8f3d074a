// Fuzzes the collector's decoder with raw ring-buffer records: the whole
// input as one record (any size), then the input cut into record-sized
// pieces decoded in order by one decoder (pid state carried across), with a
// process forgotten now and then. Besides never crashing, the decoder must
// keep its documented contract: only 72-byte records of a catalogue hook
// decode, into that hook's event type, preceded by ProcessStarted exactly
// once per pid, with increasing event ids and counters that add up.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "bpf/trace_record.h"
#include "collector/decode/clock.h"
#include "collector/decode/decoder.h"
#include "lib/catalogue.h"
#include "resdb_trace/catalog.h"
#include "resdb_trace/v1/events.pb.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using resdb_trace::collector::ClockSource;
using resdb_trace::collector::Decoder;
using resdb_trace::collector::DecoderOptions;
using resdb_trace::collector::DecoderStats;
using resdb_trace::collector::MonotonicToWallClock;
using resdb_trace::collector::UnpackMeta;
namespace v1 = resdb_trace::v1;
using resdb_trace::catalogue::FindHook;
using resdb_trace::catalogue::Hook;

// Fixed clocks: the outcome depends on the input only.
const MonotonicToWallClock& Clock() {
  static const MonotonicToWallClock* clock = new MonotonicToWallClock(
      ClockSource{[] { return int64_t{1'700'000'000'000'000'000}; },
                  [] { return int64_t{5'000'000'000}; }},
      1);
  return *clock;
}

struct Checker {
  explicit Checker(Decoder* d) : decoder(d) {}

  Decoder* decoder;
  uint64_t last_event_id = 0;
  std::vector<uint32_t> started;  // pids with a ProcessStarted so far

  void CheckId(const v1::Event& e) {
    FUZZ_CHECK(e.event_id() > last_event_id);
    last_event_id = e.event_id();
  }

  // Decodes `bytes` and checks the outcome against the record they hold.
  void Decode(absl::Span<const uint8_t> bytes) {
    std::vector<v1::Event> out;
    const absl::Status s = decoder->Decode(bytes, &out);
    if (bytes.size() != sizeof(resdb_trace_record)) {
      FUZZ_CHECK(absl::IsInvalidArgument(s));
      FUZZ_CHECK(out.empty());
      return;
    }
    resdb_trace_record r;
    std::memcpy(&r, bytes.data(), sizeof(r));
    const Hook* hook = FindHook(r.hook_id);
    if (hook == nullptr) {
      FUZZ_CHECK(absl::IsNotFound(s));
      FUZZ_CHECK(out.empty());
      return;
    }
    FUZZ_CHECK(s.ok());
    FUZZ_CHECK(out.size() == 1 || out.size() == 2);
    bool was_known = false;
    for (uint32_t pid : started) was_known |= pid == r.pid;
    FUZZ_CHECK(out.size() == (was_known ? 1u : 2u));
    if (out.size() == 2) {
      const v1::Event& ps = out[0];
      FUZZ_CHECK(ps.has_process_started());
      FUZZ_CHECK(ps.type() == v1::EVENT_TYPE_PROCESS_STARTED);
      FUZZ_CHECK(ps.process().pid() == r.pid);
      CheckId(ps);
      started.push_back(r.pid);
    }
    const v1::Event& e = out.back();
    CheckId(e);
    FUZZ_CHECK(e.hook_id() == r.hook_id);
    FUZZ_CHECK(e.hook_name() == std::string(hook->name));
    FUZZ_CHECK(e.type() == hook->event_type);
    FUZZ_CHECK(static_cast<int>(e.event_case()) == static_cast<int>(e.type()));
    FUZZ_CHECK(e.ktime_ns() == r.ktime_ns);
    FUZZ_CHECK(e.process().pid() == r.pid);
    FUZZ_CHECK(e.process().tid() == r.tid);
    FUZZ_CHECK(e.process().cpu() == r.cpu);
    FUZZ_CHECK(e.time().nanos() >= 0 && e.time().nanos() < 1'000'000'000);
    if (hook->abi != RESDB_TRACE_ABI_DISPATCH) {
      FUZZ_CHECK(e.replica_id() == UnpackMeta(r.args[2]).self);
    }
    std::string wire;
    FUZZ_CHECK(e.SerializeToString(&wire));
    v1::Event back;
    FUZZ_CHECK(back.ParseFromString(wire));
  }

  void Forget(uint32_t pid) {
    const v1::Event e = decoder->ForgetProcess(pid);
    CheckId(e);
    FUZZ_CHECK(e.has_process_exited());
    FUZZ_CHECK(e.process_exited().pid() == pid);
    for (auto it = started.begin(); it != started.end(); ++it) {
      if (*it == pid) {
        started.erase(it);
        break;
      }
    }
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  DecoderOptions options;
  options.node_name = "fuzz";
  options.binary_for_pid = [](uint32_t pid) {
    return absl::StrCat("/fuzz/bin/", pid % 4);
  };
  Decoder decoder(&Clock(), options);
  Checker check(&decoder);

  const absl::Span<const uint8_t> all(data, size);
  check.Decode(all);

  // The same bytes as a stream of records; the last piece may be short. A
  // record whose cpu field is a multiple of 7 also makes the decoder forget
  // its pid afterwards (the collector does that when a process exits).
  constexpr size_t kRecord = sizeof(resdb_trace_record);
  uint64_t records = 1;
  for (size_t off = 0; off < size; off += kRecord) {
    const absl::Span<const uint8_t> piece = all.subspan(off, kRecord);
    check.Decode(piece);
    ++records;
    if (piece.size() == kRecord) {
      resdb_trace_record r;
      std::memcpy(&r, piece.data(), kRecord);
      if (r.cpu % 7 == 0) check.Forget(r.pid);
    }
  }

  const DecoderStats stats = decoder.stats();
  FUZZ_CHECK(stats.records == records);
  FUZZ_CHECK(stats.malformed == stats.wrong_size + stats.unknown_hook);
  FUZZ_CHECK(stats.decoded + stats.malformed == stats.records);
  return 0;
}
