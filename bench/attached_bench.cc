// What one hook hit costs the traced thread while a tracer is attached
// (issue #7, section 1), side by side in one process and one run:
//
//   Detached          the nop5 hook, nothing attached (the call itself);
//   Floor/nop5        an empty BPF uprobe (bench/floor.bpf.c) on that hook:
//                     the kernel's floor, nothing can be cheaper;
//   Ours              resdb-trace-collector attached to this process
//                     (bpf/hooks.bpf.c: record into the ring buffer) with a
//                     gRPC subscriber reading every event;
//   Seed              DeepObserve's shape: a noipa C hook whose first
//                     instruction is not a nop5, traced by bpftrace with the
//                     seed's printf action, read by a line consumer;
// and, to show where the time goes:
//   Floor/seed_hook   the empty uprobe on the seed-shaped hook;
//   Bpftrace/nop5     the seed's bpftrace script on our nop5 hook;
//   OursBpf/nop5      our BPF program (collector/ingest/bpf_tracer) with a
//   reader
//                     thread in this process that only counts: ours minus
//                     the collector process and gRPC;
//   Step/<step>/nop5  one step of bpf/hooks.bpf.c's per-hit work alone
//                     (bench/ablation.bpf.c): ktime, phase (the per-thread
//                     LRU map update), record (ring-buffer reserve/submit,
//                     drained by a reader thread), counter.
//
// Each case runs a fixed number of hits per repetition (its tracer is
// started before and stopped after the timed loop), so repetitions can be
// interleaved. Every case checks that its tracer really saw the hits:
// `delivered` (events that reached the consumer), `dropped` (losses the
// pipeline reported) and `unaccounted` (hits neither delivered nor reported:
// silent loss) are reported as counters; the floor cases count program runs
// with BPF run-time statistics switched on after the timed loop.
//
// Needs root. Typically run by bench/run_all.sh:
//   bazel build -c opt //bench:attached_bench
//   bazel-bin/bench/attached_bench --benchmark_repetitions=5
//       --benchmark_enable_random_interleaving=true
// Flags of its own, besides Google Benchmark's: --hits=N (nop5 cases,
// default 1000000), --slow_hits=N (bpftrace and seed-hook cases, default
// 200000), --bpf_stats (also report BPF program ns per hit; switches on the
// kernel's run-time statistics, which add their own cost, so never use those
// runs for the ratios), --collector=, --subscriber=, --line_consumer=,
// --bpftrace= (paths; default: runfiles and PATH).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/ablation.skel.h"
#include "bench/floor.skel.h"
#include "bench/targets/seed_hook.h"
#include "benchmark/benchmark.h"
#include "collector/ingest/bpf_tracer.h"
#include "lib/flags/flags.h"
#include "resdb_trace/hooks.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

struct Config {
  std::string collector;
  std::string subscriber;
  std::string line_consumer;
  std::string bpftrace = "bpftrace";
  std::string self;  // this binary, where the hooks live
  int64_t hits = 1'000'000;
  int64_t slow_hits = 200'000;
  bool bpf_stats = false;
};
Config g_config;

// Hits before the timed loop: the first hit of a nop5 uprobe traps and is
// then rewritten into a trampoline call, and caches warm up.
constexpr int64_t kWarmupHits = 2000;
// Hits counted with BPF statistics on, to prove a floor probe fires.
constexpr int64_t kVerifyHits = 1000;

constexpr char kNop5Hook[] = "resdb_trace_prepare_received";
constexpr char kSeedHook[] = "seed_pbft_commit_state";

// ---------------------------------------------------------------- the hooks

enum class Hook { kNop5, kSeed };

int g_request;
uint64_t Req() { return reinterpret_cast<uint64_t>(&g_request); }

// The call sites: DeepObserve-style direct calls. The seed's call site also
// reads the wall clock, as the seed's call sites do.
template <Hook kHook>
inline void Call(uint64_t req, uint64_t seq) {
  const uint64_t meta = ResdbTracePackMeta(RESDB_TRACE_TYPE_COMMIT,
                                           static_cast<uint32_t>(seq & 3), 1);
  if (kHook == Hook::kNop5) {
    resdb_trace_prepare_received(req, seq, meta, 42, 3, seq ^ 0x5a5a);
  } else {
    seed_pbft_commit_state(req, seq, meta, 42, ResdbTraceEpochNs());
  }
}

template <Hook kHook>
void Hits(int64_t n) {
  const uint64_t req = Req();
  for (int64_t i = 0; i < n; ++i) Call<kHook>(req, static_cast<uint64_t>(i));
}

// The timed loop, the same scaffolding as bench/detached_bench.cc.
template <Hook kHook>
void TimedLoop(benchmark::State& state) {
  uint64_t seq = 0;
  const uint64_t req = Req();
  for (auto _ : state) {
    ++seq;
    Call<kHook>(req, seq);
    benchmark::DoNotOptimize(seq);
    benchmark::ClobberMemory();
  }
}

// ------------------------------------------------------------- processes

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool WaitForFile(const std::string& path, double seconds) {
  const auto deadline =
      Clock::now() + std::chrono::milliseconds(static_cast<int>(seconds * 1e3));
  struct stat st;
  while (stat(path.c_str(), &st) != 0) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

// Value of `"key":<number>` in a one-line JSON object; nullopt when absent.
std::optional<double> JsonNumber(const std::string& json,
                                 const std::string& key) {
  const std::string needle = "\"" + key + "\":";
  const size_t at = json.find(needle);
  if (at == std::string::npos) return std::nullopt;
  return std::strtod(json.c_str() + at + needle.size(), nullptr);
}

// A child process; killed (SIGKILL) and reaped if still running when
// destroyed, so an early return never leaks one.
class Child {
 public:
  Child() = default;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  // stdin_fd/stdout_fd: -1 for /dev/null (stdin) or `stdout_path`.
  bool Start(const std::vector<std::string>& args, int stdin_fd, int stdout_fd,
             const std::string& stdout_path, const std::string& stderr_path) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (stdin_fd >= 0) {
      posix_spawn_file_actions_adddup2(&fa, stdin_fd, 0);
    } else {
      posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    }
    if (stdout_fd >= 0) {
      posix_spawn_file_actions_adddup2(&fa, stdout_fd, 1);
    } else {
      posix_spawn_file_actions_addopen(&fa, 1, stdout_path.c_str(),
                                       O_WRONLY | O_CREAT | O_TRUNC, 0644);
    }
    posix_spawn_file_actions_addopen(&fa, 2, stderr_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const int rc =
        posix_spawnp(&pid_, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) pid_ = -1;
    return rc == 0;
  }

  pid_t pid() const { return pid_; }
  void Signal(int sig) const {
    if (pid_ > 0) kill(pid_, sig);
  }

  // Exit status, or -1 on timeout (the child is then killed).
  int Wait(double seconds) {
    if (pid_ <= 0) return -1;
    const auto deadline = Clock::now() + std::chrono::milliseconds(
                                             static_cast<int>(seconds * 1e3));
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (Clock::now() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        pid_ = -1;
        return -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  pid_t pid_ = -1;
};

// Waits until a consumer's --progress-file ("<events> <lost> <ns>") accounts
// for `expected` events, or has not changed for `quiet_ms`, at most
// `timeout_s`: bpftrace drops what it has not printed when it exits, and the
// collector ends streams soon after it is told to stop.
void WaitUntilCaughtUp(const std::string& progress_file, int64_t expected,
                       int quiet_ms, double timeout_s) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(
                                           static_cast<int>(timeout_s * 1e3));
  std::string last = ReadFile(progress_file);
  auto last_change = Clock::now();
  while (Clock::now() < deadline) {
    const std::string now = ReadFile(progress_file);
    long long events = 0, lost = 0;
    if (std::sscanf(now.c_str(), "%lld %lld", &events, &lost) == 2 &&
        events + lost >= expected) {
      return;
    }
    if (now != last) {
      last = now;
      last_change = Clock::now();
    } else if (Clock::now() - last_change >
               std::chrono::milliseconds(quiet_ms)) {
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// A fresh temporary directory for one case's sockets and files, removed
// with everything in it when the case ends.
class WorkDir {
 public:
  explicit WorkDir(const std::string& tag) {
    std::string tmpl = "/tmp/resdb_trace_bench_" + tag + "_XXXXXX";
    if (mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  WorkDir(const WorkDir&) = delete;
  WorkDir& operator=(const WorkDir&) = delete;
  ~WorkDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// ------------------------------------------------------- BPF statistics

struct ProgRuns {
  uint64_t run_time_ns = 0;
  uint64_t run_cnt = 0;
};

ProgRuns ReadProgRuns(int prog_fd) {
  bpf_prog_info info = {};
  uint32_t len = sizeof(info);
  ProgRuns r;
  if (bpf_obj_get_info_by_fd(prog_fd, &info, &len) == 0) {
    r.run_time_ns = info.run_time_ns;
    r.run_cnt = info.run_cnt;
  }
  return r;
}

// Sums the statistics of every BPF program process `pid` holds an fd of
// (found through /proc/PID/fdinfo).
ProgRuns ReadProcessProgRuns(pid_t pid) {
  ProgRuns total;
  const std::string dir = "/proc/" + std::to_string(pid) + "/fdinfo";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return total;
  std::vector<uint32_t> seen;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream in(dir + "/" + e->d_name);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("prog_id:", 0) != 0) continue;
      const uint32_t id =
          static_cast<uint32_t>(std::strtoul(line.c_str() + 8, nullptr, 10));
      bool dup = false;
      for (uint32_t s : seen) dup = dup || s == id;
      if (dup) continue;
      seen.push_back(id);
      const int fd = bpf_prog_get_fd_by_id(id);
      if (fd < 0) continue;
      const ProgRuns r = ReadProgRuns(fd);
      close(fd);
      total.run_time_ns += r.run_time_ns;
      total.run_cnt += r.run_cnt;
    }
  }
  closedir(d);
  return total;
}

// Switches the kernel's BPF run-time statistics on for its lifetime.
class BpfStatsScope {
 public:
  explicit BpfStatsScope(bool on)
      : fd_(on ? bpf_enable_stats(BPF_STATS_RUN_TIME) : -1) {}
  ~BpfStatsScope() {
    if (fd_ >= 0) close(fd_);
  }
  bool on() const { return fd_ >= 0; }

 private:
  int fd_;
};

// Adds bpf_ns_per_hit when --bpf_stats is on: `before`/`after` bracket the
// timed loop.
void ReportBpfNs(benchmark::State& state, const ProgRuns& before,
                 const ProgRuns& after) {
  const uint64_t runs = after.run_cnt - before.run_cnt;
  if (runs == 0) return;
  state.counters["bpf_ns_per_hit"] =
      static_cast<double>(after.run_time_ns - before.run_time_ns) / runs;
}

void ReportAccounting(benchmark::State& state, int64_t expected,
                      int64_t delivered, int64_t dropped) {
  state.counters["delivered"] = static_cast<double>(delivered);
  state.counters["dropped"] = static_cast<double>(dropped);
  state.counters["unaccounted"] =
      static_cast<double>(expected - delivered - dropped);
}

// ------------------------------------------------------------ the cases

template <Hook kHook>
void BM_Detached(benchmark::State& state) {
  Hits<kHook>(kWarmupHits);
  TimedLoop<kHook>(state);
}

floor_bpf* FloorSkeleton() {
  static floor_bpf* skel = floor_bpf__open_and_load();
  return skel;
}

template <Hook kHook>
void BM_Floor(benchmark::State& state) {
  floor_bpf* skel = FloorSkeleton();
  if (skel == nullptr) {
    state.SkipWithError("cannot load bench/floor.bpf.c (root needed)");
    return;
  }
  LIBBPF_OPTS(bpf_uprobe_opts, opts,
              .func_name = kHook == Hook::kNop5 ? kNop5Hook : kSeedHook);
  bpf_link* link = bpf_program__attach_uprobe_opts(
      skel->progs.floor_probe, getpid(), g_config.self.c_str(), 0, &opts);
  if (link == nullptr) {
    state.SkipWithError("cannot attach the floor uprobe");
    return;
  }
  const int prog_fd = bpf_program__fd(skel->progs.floor_probe);
  Hits<kHook>(kWarmupHits);
  {
    BpfStatsScope stats(g_config.bpf_stats);
    const ProgRuns before = ReadProgRuns(prog_fd);
    TimedLoop<kHook>(state);
    if (stats.on()) ReportBpfNs(state, before, ReadProgRuns(prog_fd));
  }
  // proof that the probe fires on every hit, outside the timed loop
  {
    BpfStatsScope stats(true);
    const ProgRuns before = ReadProgRuns(prog_fd);
    Hits<kHook>(kVerifyHits);
    const ProgRuns after = ReadProgRuns(prog_fd);
    if (stats.on()) {
      ReportAccounting(state, kVerifyHits,
                       static_cast<int64_t>(after.run_cnt - before.run_cnt), 0);
    }
  }
  bpf_link__destroy(link);
}

// Drains a ring buffer from a thread of its own, as a reader would, until
// destroyed; then drains what is left. Polls with a 1 ms timeout, the
// collector's busy cadence.
class RingDrainer {
 public:
  explicit RingDrainer(std::function<void(int)> poll)
      : poll_(std::move(poll)), thread_([this] {
          while (!stop_.load()) poll_(1);
        }) {}
  ~RingDrainer() {
    stop_.store(true);
    thread_.join();
    poll_(0);
  }

 private:
  std::function<void(int)> poll_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

ablation_bpf* AblationSkeleton() {
  static ablation_bpf* skel = [] {
    ablation_bpf* s = ablation_bpf__open();
    if (s == nullptr) return s;
    s->rodata->wakeup_bytes = 4u << 20;  // a quarter of the 16 MiB ring
    if (ablation_bpf__load(s) != 0) {
      ablation_bpf__destroy(s);
      return static_cast<ablation_bpf*>(nullptr);
    }
    return s;
  }();
  return skel;
}

int CountSample(void* ctx, void*, size_t) {
  ++*static_cast<int64_t*>(ctx);
  return 0;
}

void BM_Step(benchmark::State& state, const char* program) {
  ablation_bpf* skel = AblationSkeleton();
  if (skel == nullptr) {
    state.SkipWithError("cannot load bench/ablation.bpf.c (root needed)");
    return;
  }
  bpf_program* prog = bpf_object__find_program_by_name(skel->obj, program);
  LIBBPF_OPTS(bpf_uprobe_opts, opts,
              .bpf_cookie = RESDB_TRACE_ID_prepare_received,
              .func_name = kNop5Hook);
  bpf_link* link = prog == nullptr
                       ? nullptr
                       : bpf_program__attach_uprobe_opts(
                             prog, getpid(), g_config.self.c_str(), 0, &opts);
  if (link == nullptr) {
    state.SkipWithError("cannot attach the ablation uprobe");
    return;
  }
  int64_t records = 0;
  ring_buffer* rb = ring_buffer__new(bpf_map__fd(skel->maps.rb), CountSample,
                                     &records, nullptr);
  {
    RingDrainer drainer([rb](int ms) {
      ring_buffer__poll(rb, ms);
      ring_buffer__consume(rb);
    });
    Hits<Hook::kNop5>(kWarmupHits);
    BpfStatsScope stats(g_config.bpf_stats);
    const ProgRuns before = ReadProgRuns(bpf_program__fd(prog));
    TimedLoop<Hook::kNop5>(state);
    if (stats.on()) {
      ReportBpfNs(state, before, ReadProgRuns(bpf_program__fd(prog)));
    }
    bpf_link__destroy(link);
  }
  ring_buffer__free(rb);
  if (std::string(program) == "abl_record") {
    ReportAccounting(state, kWarmupHits + state.iterations(), records, 0);
  }
}

void BM_OursBpf(benchmark::State& state) {
  namespace rc = resdb_trace::collector;
  rc::BpfTracer::Options topt;
  topt.ringbuf_bytes = 8u << 20;    // the collector's default
  topt.track_thread_phase = false;  // the collector, unless profiling
  absl::StatusOr<std::unique_ptr<rc::BpfTracer>> tracer =
      rc::BpfTracer::Create(topt);
  if (!tracer.ok()) {
    state.SkipWithError(std::string(tracer.status().message()).c_str());
    return;
  }
  absl::StatusOr<rc::AttachReport> report = (*tracer)->AttachBinary(
      g_config.self, getpid(), {RESDB_TRACE_ID_prepare_received});
  if (!report.ok() || report->attached_count() != 1) {
    state.SkipWithError("cannot attach the hooks BPF program");
    return;
  }
  int64_t records = 0;
  const rc::BpfTracer::RecordCallback count =
      [&records](const resdb_trace_record&) { ++records; };
  {
    RingDrainer drainer([&](int ms) { (void)(*tracer)->Poll(ms, count); });
    Hits<Hook::kNop5>(kWarmupHits);
    {
      // only this program fires during the loop: the process-wide sum is its
      BpfStatsScope stats(g_config.bpf_stats);
      const ProgRuns before = ReadProcessProgRuns(getpid());
      TimedLoop<Hook::kNop5>(state);
      if (stats.on()) ReportBpfNs(state, before, ReadProcessProgRuns(getpid()));
    }
    (*tracer)->DetachAll();
  }
  ReportAccounting(
      state, kWarmupHits + state.iterations(), records,
      static_cast<int64_t>((*tracer)->ReadCounters().ringbuf_full));
}

void BM_Ours(benchmark::State& state) {
  const WorkDir work("ours");
  const std::string& dir = work.path();
  if (dir.empty()) {
    state.SkipWithError("cannot create a directory in /tmp");
    return;
  }
  const std::string listen = "unix://" + dir + "/collector.sock";
  Child collector;
  if (!collector.Start({g_config.collector, "--pid", std::to_string(getpid()),
                        "--hooks", "prepare_received", "--listen", listen,
                        "--ready-file", dir + "/collector.ready"},
                       -1, -1, dir + "/collector.out",
                       dir + "/collector.err") ||
      !WaitForFile(dir + "/collector.ready", 30)) {
    state.SkipWithError(
        ("collector did not start: " + ReadFile(dir + "/collector.err"))
            .c_str());
    return;
  }
  Child subscriber;
  if (!subscriber.Start(
          {g_config.subscriber, "--listen", listen, "--ready-file",
           dir + "/subscriber.ready", "--progress-file", dir + "/progress"},
          -1, -1, dir + "/subscriber.out", dir + "/subscriber.err") ||
      !WaitForFile(dir + "/subscriber.ready", 30)) {
    state.SkipWithError(
        ("subscriber did not start: " + ReadFile(dir + "/subscriber.err"))
            .c_str());
    return;
  }
  if (!ResdbTraceEnabled(RESDB_TRACE_ID_prepare_received)) {
    state.SkipWithError("collector ready but the hook's semaphore is 0");
    return;
  }
  Hits<Hook::kNop5>(kWarmupHits);
  {
    BpfStatsScope stats(g_config.bpf_stats);
    const ProgRuns before = ReadProcessProgRuns(collector.pid());
    TimedLoop<Hook::kNop5>(state);
    if (stats.on()) {
      ReportBpfNs(state, before, ReadProcessProgRuns(collector.pid()));
    }
  }
  // let the subscriber work off its backlog, then stop the collector: it
  // detaches, drains and ends the stream after its last event
  WaitUntilCaughtUp(dir + "/progress", kWarmupHits + state.iterations(), 300,
                    120);
  collector.Signal(SIGTERM);
  const int sub_rc = subscriber.Wait(60);
  // the stream is complete; the collector may then sit in grpc_shutdown for
  // seconds (a gRPC executor timer), which the destructor cuts short
  collector.Wait(2);
  const std::string out = ReadFile(dir + "/subscriber.out");
  const auto events = JsonNumber(out, "events");
  if (sub_rc != 0 || !events) {
    state.SkipWithError(
        ("subscriber failed: " + out + ReadFile(dir + "/subscriber.err"))
            .c_str());
    return;
  }
  // Loss notices do not say which kind of event was lost: the one lifecycle
  // event of this run (ProcessStarted for this process; it does not exit)
  // is taken out of the reported losses if it did not arrive.
  const int64_t lifecycle_missing = std::max<int64_t>(
      0, 1 - static_cast<int64_t>(JsonNumber(out, "lifecycle").value_or(0)));
  const int64_t dropped =
      static_cast<int64_t>(JsonNumber(out, "ringbuf_dropped").value_or(0) +
                           JsonNumber(out, "subscriber_dropped").value_or(0)) -
      lifecycle_missing;
  ReportAccounting(state, kWarmupHits + state.iterations(),
                   static_cast<int64_t>(*events), dropped);
}

// The seed's bpftrace module, with its commit_state printf, on `symbol`.
std::string SeedScript(const std::string& symbol) {
  return "uprobe:" + g_config.self + ":" + symbol +
         R"(
{
  $meta = arg2;
  $type = $meta & 0xffffffff;
  $sender = ($meta >> 32) & 0xffff;
  $self = ($meta >> 48) & 0xffff;
  printf("%llu %lld %d %d commit_state %lu sender=%u self=%u proxy=%lu req=0x%lx type=%u\n",
    nsecs, arg4, pid, tid, arg1, $sender, $self, arg3, arg0, $type);
}
BEGIN { printf("ready\n"); }
)";
}

template <Hook kHook>
void BM_Bpftrace(benchmark::State& state) {
  const WorkDir work("bpftrace");
  const std::string& dir = work.path();
  if (dir.empty()) {
    state.SkipWithError("cannot create a directory in /tmp");
    return;
  }
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    state.SkipWithError("pipe2 failed");
    return;
  }
  Child bpftrace, consumer;
  const bool started =
      bpftrace.Start({g_config.bpftrace, "-e",
                      SeedScript(kHook == Hook::kNop5 ? kNop5Hook : kSeedHook)},
                     -1, pipe_fds[1], "", dir + "/bpftrace.err") &&
      consumer.Start(
          {g_config.line_consumer, "--ready-file", dir + "/consumer.ready",
           "--progress-file", dir + "/progress"},
          pipe_fds[0], -1, dir + "/consumer.out", dir + "/consumer.err");
  close(pipe_fds[0]);
  close(pipe_fds[1]);
  if (!started || !WaitForFile(dir + "/consumer.ready", 60)) {
    state.SkipWithError(
        ("bpftrace did not start: " + ReadFile(dir + "/bpftrace.err")).c_str());
    return;
  }
  Hits<kHook>(kWarmupHits);
  {
    BpfStatsScope stats(g_config.bpf_stats);
    const ProgRuns before = ReadProcessProgRuns(bpftrace.pid());
    TimedLoop<kHook>(state);
    if (stats.on()) {
      ReportBpfNs(state, before, ReadProcessProgRuns(bpftrace.pid()));
    }
  }
  // bpftrace drops whatever it has not printed when it exits: give the
  // consumer every line it will ever get first
  WaitUntilCaughtUp(dir + "/progress", kWarmupHits + state.iterations(), 300,
                    120);
  bpftrace.Signal(SIGINT);
  bpftrace.Wait(60);
  const int rc = consumer.Wait(60);
  const std::string out = ReadFile(dir + "/consumer.out");
  const auto events = JsonNumber(out, "events");
  if (rc != 0 || !events) {
    state.SkipWithError(("line consumer failed: " + out).c_str());
    return;
  }
  ReportAccounting(
      state, kWarmupHits + state.iterations(), static_cast<int64_t>(*events),
      static_cast<int64_t>(JsonNumber(out, "lost_reported").value_or(0)));
}

std::string SelfPath() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

constexpr char kUsage[] =
    R"(attached_bench: hook cost with a tracer attached (bench/RESULTS.md).

Usage: attached_bench [options] [--benchmark_*=...]

  --collector PATH      resdb-trace-collector (default: the runfiles')
  --subscriber PATH     bench/subscriber (default: the runfiles')
  --line_consumer PATH  bench/line_consumer (default: the runfiles')
  --bpftrace PATH       bpftrace (default: bpftrace on PATH)
  --hits N              timed hits of the fast benchmarks (default 1000000)
  --slow_hits N         timed hits of the slow ones (default 200000)
  --bpf_stats           also report the BPF programs' own ns per hit
  --version             print the version and exit
  -h, --help            print this text and exit
Any other flag goes to Google Benchmark (e.g. --benchmark_filter=REGEX).
)";

// Parses this binary's own flags; leaves Google Benchmark's in argv.
void ParseOwnFlags(int* argc, char** argv) {
  CLI::App app;
  resdb_trace::flags::Setup(&app, "attached_bench", kUsage);
  app.allow_extras();
  app.add_option("--collector", g_config.collector);
  app.add_option("--subscriber", g_config.subscriber);
  app.add_option("--line_consumer", g_config.line_consumer);
  app.add_option("--bpftrace", g_config.bpftrace);
  app.add_option("--hits", g_config.hits);
  app.add_option("--slow_hits", g_config.slow_hits);
  app.add_flag("--bpf_stats", g_config.bpf_stats);
  resdb_trace::flags::ParseOrExit(&app, *argc, argv);
  // remaining() keeps the order; argv's strings outlive main's use of them.
  static std::vector<std::string> rest;
  rest = app.remaining();
  int out = 1;
  for (std::string& r : rest) argv[out++] = r.data();
  *argc = out;
}

}  // namespace

int main(int argc, char** argv) {
  g_config.self = SelfPath();
  const std::string runfiles = g_config.self + ".runfiles/resdb_trace/";
  g_config.collector = runfiles + "collector/resdb-trace-collector";
  g_config.subscriber = runfiles + "bench/subscriber";
  g_config.line_consumer = runfiles + "bench/line_consumer";
  ParseOwnFlags(&argc, argv);
  benchmark::Initialize(&argc, argv);
  // Google Benchmark names the flag on one line; exit 2 like every binary.
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  if (geteuid() != 0) {
    std::fprintf(stderr,
                 "attached_bench: run as root (it loads BPF programs)\n");
    return 1;
  }
  const int64_t fast = g_config.hits, slow = g_config.slow_hits;
  auto reg = [](const char* name, void (*fn)(benchmark::State&), int64_t n) {
    benchmark::RegisterBenchmark(name, fn)->Iterations(n)->Unit(
        benchmark::kNanosecond);
  };
  reg("Detached/nop5", BM_Detached<Hook::kNop5>, fast);
  reg("Floor/nop5", BM_Floor<Hook::kNop5>, fast);
  reg("Ours/nop5", BM_Ours, fast);
  reg("Seed/seed_hook", BM_Bpftrace<Hook::kSeed>, slow);
  reg("Floor/seed_hook", BM_Floor<Hook::kSeed>, slow);
  reg("Bpftrace/nop5", BM_Bpftrace<Hook::kNop5>, slow);
  reg("OursBpf/nop5", BM_OursBpf, fast);
  for (const char* step : {"ktime", "phase", "record", "counter"}) {
    static std::vector<std::string> names;
    names.push_back(std::string("Step/") + step + "/nop5");
    const std::string program = std::string("abl_") + step;
    benchmark::RegisterBenchmark(
        names.back().c_str(),
        [program](benchmark::State& st) { BM_Step(st, program.c_str()); })
        ->Iterations(fast)
        ->Unit(benchmark::kNanosecond);
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
