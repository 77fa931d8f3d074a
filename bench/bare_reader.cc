// bare_reader: the throughput baseline. Loads bench/bare_ringbuf.bpf.c,
// attaches it to one function of one binary (every process running it),
// drains the ring buffer exactly as the collector's reader does when busy
// (poll with a 1 ms timeout, then consume) and only counts the records: no
// decoding, no events, no gRPC. On SIGINT/SIGTERM it detaches, drains what is
// left and prints one JSON line:
//   {"records":N,"drops":D,"polls":P,"pending_at_stop":B}
// where B is how many of the records were still unread when the signal came
// (the reader's backlog: how far behind its producer it was).
//
//   bare_reader --binary PATH --func SYMBOL [--ringbuf-mb 16]
//               [--ready-file PATH]
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "bench/bare_ringbuf.skel.h"
#include "lib/flags/flags.h"

namespace {

std::atomic<int> g_signal{0};
void OnSignal(int sig) { g_signal.store(sig); }

constexpr char kUsage[] =
    R"(bare_reader: the floor of a ring-buffer reader (bench/).

Usage: bare_reader --binary PATH --func SYMBOL [--ringbuf-mb N]
                   [--ready-file PATH]

  --binary PATH      the binary to probe
  --func SYMBOL      the function to put the uprobe on
  --ringbuf-mb N     ring buffer size in MiB, a power of two (default 16)
  --ready-file PATH  write "ready" to PATH once attached
  --version          print the version and exit
  -h, --help         print this text and exit
)";

using resdb_trace::flags::Die;

int CountRecord(void* ctx, void*, size_t) {
  ++*static_cast<uint64_t*>(ctx);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string binary, func, ready_file;
  uint64_t ringbuf_mb = 16;
  CLI::App app;
  resdb_trace::flags::Setup(&app, "bare_reader", kUsage);
  app.add_option("--binary", binary);
  app.add_option("--func", func);
  app.add_option("--ringbuf-mb", ringbuf_mb)
      ->check(resdb_trace::flags::kPowerOfTwo);
  app.add_option("--ready-file", ready_file);
  resdb_trace::flags::ParseOrExit(&app, argc, argv);
  if (binary.empty() || func.empty()) Die("need --binary PATH --func SYMBOL");
  if (ringbuf_mb == 0 || (ringbuf_mb & (ringbuf_mb - 1)) != 0) {
    Die("--ringbuf-mb must be a power of two");
  }

  bare_ringbuf_bpf* skel = bare_ringbuf_bpf__open();
  if (skel == nullptr)
    Die("cannot open the BPF object: " + std::string(strerror(errno)));
  const uint64_t ring_bytes = ringbuf_mb << 20;
  // the collector's policy: wake the reader once a quarter is unread
  skel->rodata->wakeup_bytes = ring_bytes / 4;
  if (bpf_map__set_max_entries(skel->maps.rb,
                               static_cast<uint32_t>(ring_bytes)) != 0) {
    Die("cannot size the ring buffer");
  }
  if (int err = bare_ringbuf_bpf__load(skel); err != 0) {
    Die("cannot load the BPF program: " + std::string(strerror(-err)));
  }
  LIBBPF_OPTS(bpf_uprobe_opts, opts, .func_name = func.c_str());
  bpf_link* link = bpf_program__attach_uprobe_opts(skel->progs.bare_probe, -1,
                                                   binary.c_str(), 0, &opts);
  if (link == nullptr) {
    Die("cannot attach to " + binary + ":" + func + ": " + strerror(errno));
  }
  uint64_t records = 0;
  ring_buffer* rb = ring_buffer__new(bpf_map__fd(skel->maps.rb), CountRecord,
                                     &records, nullptr);
  if (rb == nullptr) Die("cannot map the ring buffer");

  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  if (!ready_file.empty()) std::ofstream(ready_file) << "ready\n";

  uint64_t polls = 0;
  while (g_signal.load() == 0) {
    int err = ring_buffer__poll(rb, 1);
    if (err >= 0 || err == -EINTR) err = ring_buffer__consume(rb);
    if (err < 0 && err != -EINTR) Die("ring buffer read failed");
    ++polls;
  }
  bpf_link__destroy(link);
  const uint64_t before_final_drain = records;
  ring_buffer__consume(rb);

  const int cpus = libbpf_num_possible_cpus();
  std::vector<uint64_t> per_cpu(cpus > 0 ? cpus : 1, 0);
  uint32_t key = 0;
  uint64_t drops = 0;
  if (bpf_map__lookup_elem(skel->maps.drops, &key, sizeof(key), per_cpu.data(),
                           per_cpu.size() * sizeof(uint64_t), 0) == 0) {
    for (uint64_t d : per_cpu) drops += d;
  }
  std::printf(
      "{\"records\":%llu,\"drops\":%llu,\"polls\":%llu,"
      "\"pending_at_stop\":%llu}\n",
      static_cast<unsigned long long>(records),
      static_cast<unsigned long long>(drops),
      static_cast<unsigned long long>(polls),
      static_cast<unsigned long long>(records - before_final_drain));
  ring_buffer__free(rb);
  bare_ringbuf_bpf__destroy(skel);
  return 0;
}
