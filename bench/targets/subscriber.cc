// subscriber: a gRPC client of the collector that counts what it is given.
// It subscribes (optionally with a batch size, batch delay and queue
// capacity), reports itself ready once the collector lists the subscription
// in GetStats, and then reads until the stream ends (the collector stops) or
// SIGINT/SIGTERM. For every hook event it records the hook-to-receipt
// latency: CLOCK_MONOTONIC when the batch is read minus the event's ktime_ns
// (bpf_ktime_get_ns at the hit, the same clock). At the end it prints one
// JSON line:
//   {"events":N,"lifecycle":L,"loss_notices":K,"subscriber_dropped":S,
//    "ringbuf_dropped":R,"malformed":M,"batches":B,"status":"OK",
//    "lat_p50_us":...,"lat_p99_us":...,"lat_max_us":...}
//
// With --progress-file it also keeps "<events> <reported lost> <monotonic ns
// of the last batch with a hook event>" in that file, rewritten every 10 ms
// while it changes, so a driver can tell when the stream has caught up.
//
//   subscriber --listen unix:///PATH [--max-events N] [--max-delay-ms N]
//              [--queue-capacity N] [--ready-file PATH] [--name NAME]
//              [--progress-file PATH]
#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "lib/flags/flags.h"
#include "resdb_trace/v1/service.grpc.pb.h"

namespace v1 = resdb_trace::v1;

namespace {

constexpr char kUsage[] =
    R"(subscriber: a gRPC subscriber of the collector that counts (bench/).

Usage: subscriber --listen ADDR [--max-events N] [--max-delay-ms N]
                  [--queue-capacity N] [--ready-file PATH] [--name NAME]
                  [--progress-file PATH]

  --listen ADDR         the collector (unix:///PATH or HOST:PORT)
  --max-events N        events per batch (default: the collector's)
  --max-delay-ms N      longest batching delay (default: the collector's)
  --queue-capacity N    this subscription's queue (default: the collector's)
  --ready-file PATH     write "ready" once GetStats lists the subscription
  --name NAME           client name (default bench-subscriber)
  --progress-file PATH  keep "<events> <lost> <last batch ns>" there
  --version             print the version and exit
  -h, --help            print this text and exit
)";

using resdb_trace::flags::Die;

uint64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + ts.tv_nsec;
}

// Latencies in 1 us buckets up to 1 s, one overflow bucket beyond.
class LatencyHistogram {
 public:
  LatencyHistogram() : buckets_(kBuckets + 1, 0) {}

  void Add(uint64_t ns) {
    const uint64_t us = ns / 1000;
    ++buckets_[std::min<uint64_t>(us, kBuckets)];
    max_ns_ = std::max(max_ns_, ns);
    ++count_;
  }

  // Upper edge of the bucket holding quantile q, in us (the largest latency
  // seen when that is the overflow bucket); -1 when empty.
  double Quantile(double q) const {
    if (count_ == 0) return -1;
    const uint64_t rank = static_cast<uint64_t>(q * (count_ - 1)) + 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += buckets_[i];
      if (seen >= rank) return static_cast<double>(i + 1);
    }
    return MaxUs();
  }
  double MaxUs() const { return max_ns_ / 1e3; }

 private:
  static constexpr uint64_t kBuckets = 1'000'000;
  std::vector<uint64_t> buckets_;
  uint64_t max_ns_ = 0;
  uint64_t count_ = 0;
};

// "<events> <lost> <last batch ns>" at the start of `fd`, if open.
void WriteProgress(int fd, uint64_t events, uint64_t lost, uint64_t last_ns) {
  if (fd < 0) return;
  char buf[96];
  const int n = std::snprintf(buf, sizeof(buf), "%llu %llu %llu\n",
                              static_cast<unsigned long long>(events),
                              static_cast<unsigned long long>(lost),
                              static_cast<unsigned long long>(last_ns));
  if (n > 0 && ftruncate(fd, 0) == 0) {
    (void)!pwrite(fd, buf, static_cast<size_t>(n), 0);
  }
}

std::atomic<int> g_signal{0};
void OnSignal(int sig) { g_signal.store(sig); }

}  // namespace

int main(int argc, char** argv) {
  std::string listen, ready_file, progress_file, name = "bench-subscriber";
  v1::SubscribeRequest req;
  CLI::App app;
  resdb_trace::flags::Setup(&app, "subscriber", kUsage);
  app.add_option("--listen", listen);
  app.add_option_function<uint32_t>("--max-events", [&req](uint32_t n) {
    req.mutable_batching()->set_max_events(n);
  });
  app.add_option_function<uint32_t>("--max-delay-ms", [&req](uint32_t n) {
    req.mutable_batching()->set_max_delay_ms(n);
  });
  app.add_option_function<uint32_t>(
      "--queue-capacity", [&req](uint32_t n) { req.set_queue_capacity(n); });
  app.add_option("--ready-file", ready_file);
  app.add_option("--progress-file", progress_file);
  app.add_option("--name", name);
  resdb_trace::flags::ParseOrExit(&app, argc, argv);
  if (listen.empty()) Die("need --listen unix:///PATH or HOST:PORT");
  req.set_client_name(name);

  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  auto channel = grpc::CreateCustomChannel(
      listen, grpc::InsecureChannelCredentials(), args);
  auto stub = v1::TraceService::NewStub(channel);
  grpc::ClientContext ctx;
  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  const int progress_fd =
      progress_file.empty()
          ? -1
          : open(progress_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  // written by the reading loop, published by the thread below
  std::atomic<uint64_t> progress_events{0}, progress_lost{0}, progress_ns{0};
  std::atomic<uint64_t> progress_batches{0};
  // a signal only sets a flag; this thread turns it into a cancellation and
  // keeps the progress file current
  std::atomic<bool> done{false};
  std::thread canceller([&] {
    uint64_t written = 0;
    while (!done.load()) {
      if (g_signal.load() != 0) {
        ctx.TryCancel();
        return;
      }
      const uint64_t batches_now = progress_batches.load();
      if (batches_now != written) {
        WriteProgress(progress_fd, progress_events.load(), progress_lost.load(),
                      progress_ns.load());
        written = batches_now;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });

  auto reader = stub->Subscribe(&ctx, req);

  // Ready only once the collector has registered the subscription: from
  // then on nothing it publishes can miss this stream.
  std::thread ready([&] {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline && !done.load()) {
      grpc::ClientContext sctx;
      sctx.set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(2));
      v1::Stats stats;
      if (stub->GetStats(&sctx, v1::GetStatsRequest(), &stats).ok()) {
        for (const auto& s : stats.subscribers()) {
          if (s.client_name() == name) {
            if (!ready_file.empty()) std::ofstream(ready_file) << "ready\n";
            return;
          }
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (!done.load()) {
      std::fprintf(stderr, "subscriber: not listed by GetStats within 20 s\n");
    }
  });

  uint64_t last_batch_ns = 0;
  uint64_t events = 0, lifecycle = 0, notices = 0, batches = 0;
  uint64_t sub_dropped = 0, rb_dropped = 0, malformed = 0;
  LatencyHistogram latency;
  v1::EventBatch batch;
  while (reader->Read(&batch)) {
    const uint64_t now = MonotonicNs();
    const uint64_t events_before = events;
    ++batches;
    for (const v1::Event& e : batch.events()) {
      if (e.event_case() == v1::Event::kLossNotice) {
        ++notices;
        sub_dropped += e.loss_notice().subscriber_dropped();
        rb_dropped += e.loss_notice().ringbuf_dropped();
        malformed += e.loss_notice().malformed();
      } else if (e.hook_id() == 0) {
        ++lifecycle;
      } else {
        ++events;
        if (e.ktime_ns() != 0 && now >= e.ktime_ns()) {
          latency.Add(now - e.ktime_ns());
        }
      }
    }
    // lifecycle events and loss notices come on the collector's 250 ms
    // housekeeping beat: only hook events say how far behind the stream is
    if (events != events_before) last_batch_ns = now;
    progress_events.store(events);
    progress_lost.store(sub_dropped + rb_dropped);
    progress_ns.store(last_batch_ns);
    progress_batches.store(batches);
  }
  grpc::Status status = reader->Finish();
  done.store(true);
  canceller.join();
  WriteProgress(progress_fd, events, sub_dropped + rb_dropped, last_batch_ns);
  if (progress_fd >= 0) close(progress_fd);
  ready.join();
  std::printf(
      "{\"events\":%llu,\"lifecycle\":%llu,\"loss_notices\":%llu,"
      "\"subscriber_dropped\":%llu,\"ringbuf_dropped\":%llu,"
      "\"malformed\":%llu,\"batches\":%llu,\"status\":\"%s\","
      "\"lat_p50_us\":%.0f,\"lat_p99_us\":%.0f,\"lat_max_us\":%.0f}\n",
      static_cast<unsigned long long>(events),
      static_cast<unsigned long long>(lifecycle),
      static_cast<unsigned long long>(notices),
      static_cast<unsigned long long>(sub_dropped),
      static_cast<unsigned long long>(rb_dropped),
      static_cast<unsigned long long>(malformed),
      static_cast<unsigned long long>(batches),
      status.ok() ? "OK" : status.error_message().c_str(),
      latency.Quantile(0.5), latency.Quantile(0.99), latency.MaxUs());
  return status.ok() ? 0 : 1;
}
