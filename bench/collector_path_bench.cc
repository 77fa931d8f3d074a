// Where the collector's CPU per event goes (issue #7, section 3), stage by
// stage, with the collector's own code and no BPF: one record through
//   Decode    Decoder::Decode + std::make_shared<const v1::Event>, then the
//             event freed (the reader thread's work per record);
//   DecodeFreedElsewhere
//             the same, but every batch of 256 events is handed to a second
//             thread that frees it, as the collector's gRPC threads do
//             (process CPU time: both threads);
//   CopyIntoBatch
//             `*batch.add_events() = *event` and the batch's Clear (what
//             TraceService::Subscribe does per event and subscriber);
//   Serialize EventBatch::SerializeToString (what gRPC does per batch);
//   Parse     EventBatch::ParseFromString (the subscriber's side);
// and, for comparison with CopyIntoBatch, the same batch built without a
// copy (the shared events borrowed with UnsafeArenaAddAllocated and released
// again): what the copy costs.
// Counters: bytes_per_event (serialized). Every figure is per event.
//
//   bazel build -c opt //bench:collector_path_bench
//   bazel-bin/bench/collector_path_bench --benchmark_repetitions=5
#include <unistd.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/types/span.h"
#include "benchmark/benchmark.h"
#include "bpf/trace_record.h"
#include "collector/decode/clock.h"
#include "collector/decode/decoder.h"
#include "collector/ingest/collector.h"
#include "collector/serve/trace_service.h"
#include "collector/timeline/timeline_builder.h"
#include "resdb_trace/catalog.h"
#include "resdb_trace/hooks.h"
#include "resdb_trace/v1/service.pb.h"

namespace {

namespace rc = resdb_trace::collector;
namespace v1 = resdb_trace::v1;
using EventPtr = std::shared_ptr<const v1::Event>;

constexpr int kBatch = 256;  // TraceService's default batch size

// A binary path of the length a Bazel-built replica has.
constexpr char kBinary[] =
    "/root/.cache/bazel/_bazel_root/4507f8f2c8b49879f1dfc2a87d1db486/"
    "execroot/resdb_trace/bazel-out/k8-opt/bin/demo/replica";

const uint32_t kPid = static_cast<uint32_t>(getpid());

resdb_trace_record MakeRecord(uint64_t i) {
  resdb_trace_record r = {};
  r.ktime_ns = 1'000'000'000ull + i * 1000;
  r.pid = kPid;
  r.tid = r.pid + 1;
  r.cpu = static_cast<uint32_t>(i & 1);
  r.hook_id = RESDB_TRACE_ID_prepare_received;
  r.args[0] = 0xabc000;
  r.args[1] = i;
  r.args[2] = ResdbTracePackMeta(RESDB_TRACE_TYPE_PREPARE, 2, 1);
  r.args[3] = 42;
  r.args[4] = 3;
  r.args[5] = i ^ 0x5a5a;
  return r;
}

rc::DecoderOptions Options() {
  rc::DecoderOptions o;
  o.node_name = "bench-node";
  o.binary_for_pid = [](uint32_t) { return std::string(kBinary); };
  return o;
}

std::vector<EventPtr> DecodeBatch(rc::Decoder* decoder, int n) {
  std::vector<EventPtr> events;
  std::vector<v1::Event> out;
  for (int i = 0; i < n; ++i) {
    const resdb_trace_record r = MakeRecord(static_cast<uint64_t>(i));
    out.clear();
    (void)decoder->Decode(absl::Span<const uint8_t>(
                              reinterpret_cast<const uint8_t*>(&r), sizeof(r)),
                          &out);
    for (v1::Event& e : out) {
      if (e.hook_id() != 0) {
        events.push_back(std::make_shared<const v1::Event>(std::move(e)));
      }
    }
  }
  return events;
}

void BM_Decode(benchmark::State& state) {
  rc::MonotonicToWallClock clock;
  rc::Decoder decoder(&clock, Options());
  std::vector<v1::Event> out;
  std::vector<EventPtr> batch;
  batch.reserve(kBatch);
  uint64_t i = 0;
  for (auto _ : state) {
    const resdb_trace_record r = MakeRecord(i++);
    out.clear();
    (void)decoder.Decode(absl::Span<const uint8_t>(
                             reinterpret_cast<const uint8_t*>(&r), sizeof(r)),
                         &out);
    for (v1::Event& e : out) {
      batch.push_back(std::make_shared<const v1::Event>(std::move(e)));
    }
    if (batch.size() >= kBatch) batch.clear();  // frees, as the hub does
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Decode);

void BM_DecodeFreedElsewhere(benchmark::State& state) {
  rc::MonotonicToWallClock clock;
  rc::Decoder decoder(&clock, Options());
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::vector<EventPtr>> handed;
  bool done = false;
  std::thread consumer([&] {
    std::unique_lock<std::mutex> lock(mu);
    for (;;) {
      cv.wait(lock, [&] { return done || !handed.empty(); });
      if (handed.empty()) return;
      std::vector<EventPtr> batch = std::move(handed.front());
      handed.pop_front();
      lock.unlock();
      batch.clear();  // the last reference: the events are freed here
      lock.lock();
    }
  });
  std::vector<v1::Event> out;
  std::vector<EventPtr> batch;
  uint64_t i = 0;
  for (auto _ : state) {
    const resdb_trace_record r = MakeRecord(i++);
    out.clear();
    (void)decoder.Decode(absl::Span<const uint8_t>(
                             reinterpret_cast<const uint8_t*>(&r), sizeof(r)),
                         &out);
    for (v1::Event& e : out) {
      batch.push_back(std::make_shared<const v1::Event>(std::move(e)));
    }
    if (batch.size() >= kBatch) {
      {
        std::lock_guard<std::mutex> lock(mu);
        handed.push_back(std::move(batch));
      }
      cv.notify_one();
      batch.clear();
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    done = true;
  }
  cv.notify_one();
  consumer.join();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodeFreedElsewhere)->MeasureProcessCPUTime();

// What the collector does since issue #7's perf pass: the events of a batch
// are decoded onto one arena (rc::EventArenaBatch) and handed out as
// aliasing shared_ptrs that own the whole batch.
std::vector<EventPtr> ArenaBatch(rc::Decoder* decoder, uint64_t* i) {
  auto arena = std::make_shared<rc::EventArenaBatch>();
  std::vector<v1::Event*> raw;
  raw.reserve(kBatch + 1);
  while (raw.size() < kBatch) {
    const resdb_trace_record r = MakeRecord((*i)++);
    (void)decoder->Decode(absl::Span<const uint8_t>(
                              reinterpret_cast<const uint8_t*>(&r), sizeof(r)),
                          arena->arena(), &raw);
  }
  std::vector<EventPtr> batch;
  batch.reserve(raw.size());
  for (v1::Event* e : raw) batch.emplace_back(arena, e);
  return batch;
}

void BM_DecodeArena(benchmark::State& state) {
  rc::MonotonicToWallClock clock;
  rc::Decoder decoder(&clock, Options());
  uint64_t i = 0;
  size_t events = 0;
  for (auto _ : state) {
    std::vector<EventPtr> batch = ArenaBatch(&decoder, &i);
    events += batch.size();
    benchmark::DoNotOptimize(batch);
  }
  state.SetItemsProcessed(events);
}
BENCHMARK(BM_DecodeArena);

void BM_DecodeArenaFreedElsewhere(benchmark::State& state) {
  rc::MonotonicToWallClock clock;
  rc::Decoder decoder(&clock, Options());
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::vector<EventPtr>> handed;
  bool done = false;
  std::thread consumer([&] {
    std::unique_lock<std::mutex> lock(mu);
    for (;;) {
      cv.wait(lock, [&] { return done || !handed.empty(); });
      if (handed.empty()) return;
      std::vector<EventPtr> batch = std::move(handed.front());
      handed.pop_front();
      lock.unlock();
      batch.clear();  // the last reference: the arena is freed here
      lock.lock();
    }
  });
  uint64_t i = 0;
  size_t events = 0;
  for (auto _ : state) {
    std::vector<EventPtr> batch = ArenaBatch(&decoder, &i);
    events += batch.size();
    {
      std::lock_guard<std::mutex> lock(mu);
      handed.push_back(std::move(batch));
    }
    cv.notify_one();
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    done = true;
  }
  cv.notify_one();
  consumer.join();
  state.SetItemsProcessed(events);
}
BENCHMARK(BM_DecodeArenaFreedElsewhere)->MeasureProcessCPUTime();

void BM_CopyIntoBatch(benchmark::State& state) {
  rc::MonotonicToWallClock clock;
  rc::Decoder decoder(&clock, Options());
  const std::vector<EventPtr> events = DecodeBatch(&decoder, kBatch);
  v1::EventBatch batch;
  for (auto _ : state) {
    batch.Clear();
    for (const EventPtr& e : events) *batch.add_events() = *e;
    benchmark::DoNotOptimize(batch);
  }
  state.SetItemsProcessed(state.iterations() * events.size());
}
BENCHMARK(BM_CopyIntoBatch);

void BM_BorrowIntoBatch(benchmark::State& state) {
  rc::MonotonicToWallClock clock;
  rc::Decoder decoder(&clock, Options());
  const std::vector<EventPtr> events = DecodeBatch(&decoder, kBatch);
  v1::EventBatch batch;
  std::string wire;
  for (auto _ : state) {
    for (const EventPtr& e : events) {
      batch.mutable_events()->UnsafeArenaAddAllocated(
          const_cast<v1::Event*>(e.get()));
    }
    benchmark::DoNotOptimize(batch);
    while (batch.events_size() > 0) {
      batch.mutable_events()->UnsafeArenaReleaseLast();
    }
  }
  state.SetItemsProcessed(state.iterations() * events.size());
}
BENCHMARK(BM_BorrowIntoBatch);

// What TraceService::Subscribe does per batch and subscriber since the perf
// pass: the shared events serialized straight into the outgoing buffer
// (EncodeEventBatch), replacing CopyIntoBatch + Serialize.
void BM_EncodeBatch(benchmark::State& state) {
  rc::MonotonicToWallClock clock;
  rc::Decoder decoder(&clock, Options());
  uint64_t i = 0;
  const std::vector<EventPtr> events = ArenaBatch(&decoder, &i);
  grpc::ByteBuffer bytes;
  for (auto _ : state) {
    rc::EncodeEventBatch(v1::EventBatch(), events, 1, 1, &bytes);
    benchmark::DoNotOptimize(bytes);
  }
  state.SetItemsProcessed(state.iterations() * events.size());
  state.counters["bytes_per_event"] =
      static_cast<double>(bytes.Length()) / events.size();
}
BENCHMARK(BM_EncodeBatch);

// The timeline builder's worst case, which the end-to-end driver's rate
// target produces: every event opens a new seq that never completes, with
// `range(0)` timelines already open (the default max_open is 50,000), and
// Advance after every 4096 events as the runner does. Ns per event.
void BM_TimelineNewSeqPerEvent(benchmark::State& state) {
  rc::TimelineOptions o;
  o.max_open = static_cast<size_t>(state.range(0));
  o.idle_timeout = absl::Hours(1);
  o.max_age = absl::Hours(1);
  rc::TimelineBuilder builder(o, [](const v1::TimelineUpdate&) {});
  v1::Event e;
  e.set_type(v1::EVENT_TYPE_PREPARE_RECEIVED);
  e.set_replica_id(2);
  e.mutable_process()->set_pid(4242);
  e.mutable_process()->set_tid(4242);
  auto* m = e.mutable_prepare_received();
  m->set_sender(1);
  m->set_proxy_id(100);
  uint64_t seq = 0;
  int64_t t = 1'000'000'000;
  auto add = [&] {
    ++seq;
    t += 1000;
    m->set_seq(seq);
    e.set_ktime_ns(static_cast<uint64_t>(t));
    builder.Add(e);
    if ((seq & 4095) == 0) builder.Advance(t);
  };
  for (int64_t i = 0; i < state.range(0); ++i) add();  // fill to max_open
  for (auto _ : state) add();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TimelineNewSeqPerEvent)->Arg(1000)->Arg(50000);

void BM_Serialize(benchmark::State& state) {
  rc::MonotonicToWallClock clock;
  rc::Decoder decoder(&clock, Options());
  const std::vector<EventPtr> events = DecodeBatch(&decoder, kBatch);
  v1::EventBatch batch;
  for (const EventPtr& e : events) *batch.add_events() = *e;
  std::string wire;
  for (auto _ : state) {
    wire.clear();
    batch.SerializeToString(&wire);
    benchmark::DoNotOptimize(wire);
  }
  state.SetItemsProcessed(state.iterations() * events.size());
  state.counters["bytes_per_event"] =
      static_cast<double>(wire.size()) / events.size();
}
BENCHMARK(BM_Serialize);

void BM_Parse(benchmark::State& state) {
  rc::MonotonicToWallClock clock;
  rc::Decoder decoder(&clock, Options());
  const std::vector<EventPtr> events = DecodeBatch(&decoder, kBatch);
  v1::EventBatch batch;
  for (const EventPtr& e : events) *batch.add_events() = *e;
  const std::string wire = batch.SerializeAsString();
  v1::EventBatch parsed;
  for (auto _ : state) {
    parsed.ParseFromString(wire);
    benchmark::DoNotOptimize(parsed);
  }
  state.SetItemsProcessed(state.iterations() * events.size());
}
BENCHMARK(BM_Parse);

}  // namespace

BENCHMARK_MAIN();
