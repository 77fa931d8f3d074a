// End-to-end tests of the uprobe program and its loader: a real process
// calls real hooks, the records come back through the ring buffer.
// Requires root (CAP_BPF + CAP_PERFMON); never skips.
#include "collector/ingest/bpf_tracer.h"

#include <bpf/bpf.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <set>
#include <thread>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"
#include "resdb_trace/catalog.h"
#include "resdb_trace/hooks.h"
#include "tests/bpf/hook_target_args.h"
#include "tests/bpf/target_process.h"

namespace resdb_trace::collector {
namespace {

using ::resdb_trace::testing::HookTargetPath;
using ::resdb_trace::testing::TargetProcess;

constexpr int kCatalogueSize = RESDB_TRACE_ID_END - 1;

class BpfTracerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u)
        << "the BPF tests load BPF programs and attach uprobes: run them as "
           "root (CAP_BPF + CAP_PERFMON), e.g. `sudo bazel test "
           "//tests/bpf/...`";
    path_ = HookTargetPath();
  }

  static std::unique_ptr<BpfTracer> MakeTracer(BpfTracer::Options options) {
    absl::StatusOr<std::unique_ptr<BpfTracer>> tracer =
        BpfTracer::Create(options);
    EXPECT_TRUE(tracer.ok()) << tracer.status();
    return tracer.ok() ? std::move(*tracer) : nullptr;
  }

  static std::unique_ptr<TargetProcess> StartTarget(const std::string& path) {
    absl::StatusOr<std::unique_ptr<TargetProcess>> target =
        TargetProcess::Start(path);
    EXPECT_TRUE(target.ok()) << target.status();
    return target.ok() ? std::move(*target) : nullptr;
  }

  // Polls until `want` records arrived (or 10 s passed), then once more to
  // catch duplicates.
  static std::vector<resdb_trace_record> Drain(BpfTracer& tracer, size_t want) {
    std::vector<resdb_trace_record> out;
    auto cb = [&](const resdb_trace_record& r) { out.push_back(r); };
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (out.size() < want && std::chrono::steady_clock::now() < deadline) {
      absl::StatusOr<int> n = tracer.Poll(50, cb);
      EXPECT_TRUE(n.ok()) << n.status();
    }
    absl::StatusOr<int> n = tracer.Poll(50, cb);
    EXPECT_TRUE(n.ok()) << n.status();
    return out;
  }

  std::string path_;
};

TEST_F(BpfTracerTest, AttachReportsEveryCatalogueHook) {
  std::unique_ptr<BpfTracer> tracer = MakeTracer({});
  ASSERT_NE(tracer, nullptr);
  absl::StatusOr<AttachReport> report = tracer->AttachBinary(path_);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->has_semaphores);
  EXPECT_FALSE(report->build_id.empty());
  ASSERT_EQ(report->hooks.size(), static_cast<size_t>(kCatalogueSize));
  EXPECT_EQ(report->attached_count(), kCatalogueSize) << report->Summary();
  for (const HookAttachResult& h : report->hooks) {
    EXPECT_NE(h.ref_ctr_offset, 0u) << h.symbol;
    EXPECT_NE(h.func_offset, 0u) << h.symbol;
  }
  EXPECT_EQ(tracer->attached_link_count(), static_cast<size_t>(kCatalogueSize));
  EXPECT_EQ(tracer->DetachBinary(path_), kCatalogueSize);
  EXPECT_EQ(tracer->attached_link_count(), 0u);
}

TEST_F(BpfTracerTest, MissingHooksAreNamed) {
  std::unique_ptr<BpfTracer> tracer = MakeTracer({});
  ASSERT_NE(tracer, nullptr);
  // a binary without hooks: every hook is reported missing, none fails
  absl::StatusOr<AttachReport> report =
      tracer->AttachBinary("/bin/true", -1, {RESDB_TRACE_ID_committed});
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->hooks.size(), 1u);
  EXPECT_EQ(report->hooks[0].state, HookAttachState::kMissingSymbol);
  EXPECT_EQ(report->hooks[0].symbol, "resdb_trace_committed");
  EXPECT_NE(report->Summary().find("missing symbol resdb_trace_committed"),
            std::string::npos)
      << report->Summary();
  EXPECT_FALSE(report->has_semaphores);

  absl::StatusOr<AttachReport> bad = tracer->AttachBinary("/no/such/binary");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(bad.status().message().find("cannot open /no/such/binary"),
            std::string::npos)
      << bad.status();
}

TEST_F(BpfTracerTest, EveryRecordArrivesOnceWithExactArguments) {
  std::unique_ptr<BpfTracer> tracer = MakeTracer({});
  ASSERT_NE(tracer, nullptr);
  std::unique_ptr<TargetProcess> target = StartTarget(path_);
  ASSERT_NE(target, nullptr);

  // one hook per argument convention, plus the generic one
  const std::vector<uint32_t> ids = {
      RESDB_TRACE_ID_consensus_commit, RESDB_TRACE_ID_pbft_commit_recv,
      RESDB_TRACE_ID_pre_prepare_received, RESDB_TRACE_ID_user};
  absl::StatusOr<AttachReport> report =
      tracer->AttachBinary(path_, target->pid(), ids);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->attached_count(), 4) << report->Summary();

  constexpr uint64_t kCalls = 2000;
  std::map<uint32_t, pid_t> tids;
  for (uint32_t id : ids) {
    absl::StatusOr<pid_t> tid = target->Fire(id, kCalls, 0);
    ASSERT_TRUE(tid.ok()) << tid.status();
    tids[id] = *tid;
  }
  // a hook that is not attached produces nothing
  ASSERT_TRUE(target->Fire(RESDB_TRACE_ID_committed, 10, 0).ok());

  std::vector<resdb_trace_record> records = Drain(*tracer, ids.size() * kCalls);
  ASSERT_EQ(records.size(), ids.size() * kCalls);

  std::set<std::pair<uint32_t, uint64_t>> seen;
  uint64_t last_ktime = 0;
  for (const resdb_trace_record& r : records) {
    ASSERT_EQ(tids.count(r.hook_id), 1u) << "unexpected hook " << r.hook_id;
    EXPECT_EQ(r.pid, static_cast<uint32_t>(target->pid()));
    EXPECT_EQ(r.tid, static_cast<uint32_t>(tids[r.hook_id]));
    EXPECT_LT(r.cpu, 4096u);
    EXPECT_GE(r.ktime_ns, last_ktime);  // one thread: ring order is time order
    last_ktime = r.ktime_ns;
    const uint64_t i = r.args[0] & 0xffffffffu;
    ASSERT_LT(i, kCalls);
    EXPECT_TRUE(seen.insert({r.hook_id, i}).second)
        << "duplicate record: hook " << r.hook_id << " call " << i;
    int checked = 6;
    if (r.hook_id == RESDB_TRACE_ID_pbft_commit_recv) checked = 5;  // 5 args
    if (r.hook_id == RESDB_TRACE_ID_consensus_commit) checked = 5;
    for (int k = 0; k < checked; ++k) {
      uint64_t want = HookTargetArg(r.hook_id, k, i);
      uint64_t got = r.args[k];
      if (r.hook_id == RESDB_TRACE_ID_consensus_commit && (k == 2 || k == 3)) {
        // u32 arguments: only the low word is defined
        want &= 0xffffffffu;
        got &= 0xffffffffu;
      }
      EXPECT_EQ(got, want) << "hook " << r.hook_id << " arg " << k << " call "
                           << i;
    }
  }
  EXPECT_EQ(seen.size(), ids.size() * kCalls);

  Counters c = tracer->ReadCounters();
  EXPECT_EQ(c.emitted, ids.size() * kCalls);
  EXPECT_EQ(c.ringbuf_full, 0u);
  EXPECT_EQ(c.filtered, 0u);
  EXPECT_EQ(c.consumed, ids.size() * kCalls);
  EXPECT_EQ(c.malformed, 0u);
  EXPECT_FALSE(c.ringbuf_full_per_cpu.empty());
}

// --pid attaches through /proc/<pid>/exe: the kernel follows the magic link
// to the executable's inode.
TEST_F(BpfTracerTest, AttachesThroughProcExe) {
  std::unique_ptr<BpfTracer> tracer = MakeTracer({});
  ASSERT_NE(tracer, nullptr);
  std::unique_ptr<TargetProcess> target = StartTarget(path_);
  ASSERT_NE(target, nullptr);
  const std::string exe = "/proc/" + std::to_string(target->pid()) + "/exe";
  const uint32_t id = RESDB_TRACE_ID_execute_end;
  absl::StatusOr<AttachReport> report =
      tracer->AttachBinary(exe, target->pid(), {id});
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->attached_count(), 1) << report->Summary();
  // At least 1, not exactly: the kernel raises the slot once per mapping of
  // the probed page, and a running process may map the text's last page
  // twice (again at the start of the data segment, read-only after RELRO),
  // as this binary does when built with --config=asan-ubsan.
  EXPECT_GE(*target->Semaphore(id), 1);
  ASSERT_TRUE(target->Fire(id, 25, 0).ok());
  EXPECT_EQ(Drain(*tracer, 25).size(), 25u);
  EXPECT_EQ(tracer->DetachBinary(exe, target->pid()), 1);
  EXPECT_EQ(*target->Semaphore(id), 0);
}

TEST_F(BpfTracerTest, SemaphoreIsRaisedOnlyWhileAttached) {
  std::unique_ptr<BpfTracer> tracer = MakeTracer({});
  ASSERT_NE(tracer, nullptr);
  std::unique_ptr<TargetProcess> before = StartTarget(path_);
  ASSERT_NE(before, nullptr);
  const uint32_t id = RESDB_TRACE_ID_pre_prepare_received;

  EXPECT_EQ(*before->Semaphore(id), 0);
  // detached: the gated wrapper does not call the hook
  ASSERT_TRUE(before->Gated(100, 0).ok());

  absl::StatusOr<AttachReport> report = tracer->AttachBinary(path_, -1, {id});
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->attached_count(), 1) << report->Summary();

  // pid -1 covers running processes and ones started later (at least 1:
  // see AttachesThroughProcExe)
  EXPECT_GE(*before->Semaphore(id), 1);
  EXPECT_EQ(*before->Semaphore(RESDB_TRACE_ID_prepared), 0);
  std::unique_ptr<TargetProcess> after = StartTarget(path_);
  ASSERT_NE(after, nullptr);
  EXPECT_GE(*after->Semaphore(id), 1);

  constexpr uint64_t kCalls = 50;
  ASSERT_TRUE(before->Gated(kCalls, 0).ok());
  ASSERT_TRUE(after->Gated(kCalls, 1000).ok());
  std::vector<resdb_trace_record> records = Drain(*tracer, 2 * kCalls);
  ASSERT_EQ(records.size(), 2 * kCalls);
  for (const resdb_trace_record& r : records) {
    EXPECT_EQ(r.hook_id, id);
    EXPECT_EQ(r.args[2],
              ResdbTracePackMeta(RESDB_TRACE_TYPE_PRE_PREPARE, 2, 3));
  }

  EXPECT_EQ(tracer->DetachBinary(path_), 1);
  EXPECT_EQ(*before->Semaphore(id), 0);
  EXPECT_EQ(*after->Semaphore(id), 0);
  ASSERT_TRUE(before->Gated(kCalls, 0).ok());
  EXPECT_TRUE(Drain(*tracer, 0).empty());
  EXPECT_EQ(tracer->ReadCounters().emitted, 2 * kCalls);
}

TEST_F(BpfTracerTest, OverloadCountsEveryLostRecord) {
  BpfTracer::Options options;
  options.ringbuf_bytes = 4096;
  std::unique_ptr<BpfTracer> tracer = MakeTracer(options);
  ASSERT_NE(tracer, nullptr);
  std::unique_ptr<TargetProcess> target = StartTarget(path_);
  ASSERT_NE(target, nullptr);
  const uint32_t id = RESDB_TRACE_ID_committed;
  ASSERT_EQ(tracer->AttachBinary(path_, target->pid(), {id})->attached_count(),
            1);

  // nobody polls while the target produces
  constexpr uint64_t kCalls = 20000;
  ASSERT_TRUE(target->Fire(id, kCalls, 0).ok());
  Counters c = tracer->ReadCounters();
  EXPECT_EQ(c.emitted + c.ringbuf_full, kCalls);
  EXPECT_GT(c.ringbuf_full, 0u);
  EXPECT_LT(c.emitted, 4096u / sizeof(resdb_trace_record));
  uint64_t per_cpu_sum = 0;
  for (uint64_t v : c.ringbuf_full_per_cpu) per_cpu_sum += v;
  EXPECT_EQ(per_cpu_sum, c.ringbuf_full);

  // the records that made it are intact and in call order
  std::vector<resdb_trace_record> records = Drain(*tracer, c.emitted);
  ASSERT_EQ(records.size(), c.emitted);
  for (size_t k = 0; k < records.size(); ++k) {
    EXPECT_EQ(records[k].args[0], HookTargetArg(id, 0, k));
  }
  EXPECT_EQ(tracer->ReadCounters().consumed, c.emitted);
}

// One Poll hands out at most max_records_per_poll records, so a reader under
// sustained load returns to its housekeeping; the rest wait, none is lost.
TEST_F(BpfTracerTest, PollHandsOutAtMostItsBudget) {
  BpfTracer::Options options;
  options.max_records_per_poll = 1000;
  std::unique_ptr<BpfTracer> tracer = MakeTracer(options);
  ASSERT_NE(tracer, nullptr);
  std::unique_ptr<TargetProcess> target = StartTarget(path_);
  ASSERT_NE(target, nullptr);
  const uint32_t id = RESDB_TRACE_ID_committed;
  ASSERT_EQ(tracer->AttachBinary(path_, target->pid(), {id})->attached_count(),
            1);
  constexpr uint64_t kCalls = 2500;  // fits the 8 MiB ring: nothing dropped
  ASSERT_TRUE(target->Fire(id, kCalls, 0).ok());
  ASSERT_EQ(tracer->ReadCounters().emitted, kCalls);

  std::vector<uint64_t> args;
  auto cb = [&](const resdb_trace_record& r) { args.push_back(r.args[0]); };
  std::vector<int> polls;
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<int> n = tracer->Poll(0, cb);
    ASSERT_TRUE(n.ok()) << n.status();
    polls.push_back(*n);
    EXPECT_EQ(tracer->last_poll_capped(), *n == 1000) << "poll " << i;
  }
  EXPECT_EQ(polls, (std::vector<int>{1000, 1000, 500, 0, 0}));
  ASSERT_EQ(args.size(), kCalls);
  for (size_t k = 0; k < args.size(); ++k) {
    ASSERT_EQ(args[k], HookTargetArg(id, 0, k)) << "record " << k;
  }
  const Counters c = tracer->ReadCounters();
  EXPECT_EQ(c.consumed, kCalls);
  EXPECT_EQ(c.emitted, kCalls);
  EXPECT_EQ(c.ringbuf_full, 0u);

  options.max_records_per_poll = 0;
  EXPECT_EQ(BpfTracer::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Wakeups are batched: a blocked reader sleeps through a trickle of records
// and is woken once unread data passes the wakeup threshold.
TEST_F(BpfTracerTest, ReaderWakesOnlyPastTheThreshold) {
  BpfTracer::Options options;
  options.ringbuf_bytes = 64 * 1024;
  options.wakeup_fraction = 0.25;  // 16 KiB: about 200 records
  std::unique_ptr<BpfTracer> tracer = MakeTracer(options);
  ASSERT_NE(tracer, nullptr);
  std::unique_ptr<TargetProcess> target = StartTarget(path_);
  ASSERT_NE(target, nullptr);
  const uint32_t id = RESDB_TRACE_ID_commit_received;
  ASSERT_EQ(tracer->AttachBinary(path_, target->pid(), {id})->attached_count(),
            1);

  // returns how long a Poll(timeout) blocked while `fire` ran, and what it got
  auto blocked_poll = [&](uint64_t calls, int timeout_ms) {
    size_t got = 0;
    std::chrono::milliseconds waited{0};
    std::thread reader([&] {
      auto start = std::chrono::steady_clock::now();
      absl::StatusOr<int> n =
          tracer->Poll(timeout_ms, [&](const resdb_trace_record&) { ++got; });
      EXPECT_TRUE(n.ok()) << n.status();
      waited = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - start);
    });
    // let the reader block in epoll before anything is produced
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_TRUE(target->Fire(id, calls, 0).ok());
    reader.join();
    return std::make_pair(waited, got);
  };

  auto [trickle_wait, trickle_got] = blocked_poll(10, 2000);
  EXPECT_GE(trickle_wait.count(), 1900) << "a trickle woke the reader";
  EXPECT_EQ(trickle_got, 10u);  // the drain after the timeout finds them

  auto [burst_wait, burst_got] = blocked_poll(400, 20000);
  EXPECT_LT(burst_wait.count(), 10000) << "the threshold did not wake it";
  EXPECT_GT(burst_got, 0u);
  EXPECT_EQ(trickle_got + burst_got +
                Drain(*tracer, 410 - trickle_got - burst_got).size(),
            410u);
  EXPECT_EQ(tracer->ReadCounters().ringbuf_full, 0u);
}

TEST_F(BpfTracerTest, PidFilterDropsOtherProcesses) {
  std::unique_ptr<TargetProcess> target = StartTarget(path_);
  ASSERT_NE(target, nullptr);
  BpfTracer::Options options;
  options.pid_filter = {static_cast<uint32_t>(getpid())};  // not the target
  std::unique_ptr<BpfTracer> tracer = MakeTracer(options);
  ASSERT_NE(tracer, nullptr);
  EXPECT_TRUE(tracer->pid_filter_enabled());
  const uint32_t id = RESDB_TRACE_ID_user;
  ASSERT_EQ(tracer->AttachBinary(path_, -1, {id})->attached_count(), 1);

  ASSERT_TRUE(target->Fire(id, 100, 0).ok());
  EXPECT_TRUE(Drain(*tracer, 0).empty());
  EXPECT_EQ(tracer->ReadCounters().filtered, 100u);
  EXPECT_EQ(tracer->ReadCounters().emitted, 0u);

  ASSERT_TRUE(tracer->AddPid(static_cast<uint32_t>(target->pid())).ok());
  ASSERT_TRUE(target->Fire(id, 100, 0).ok());
  EXPECT_EQ(Drain(*tracer, 100).size(), 100u);

  ASSERT_TRUE(tracer->RemovePid(static_cast<uint32_t>(target->pid())).ok());
  EXPECT_EQ(tracer->RemovePid(static_cast<uint32_t>(target->pid())).code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(target->Fire(id, 100, 0).ok());
  EXPECT_TRUE(Drain(*tracer, 0).empty());
  Counters c = tracer->ReadCounters();
  EXPECT_EQ(c.filtered, 200u);
  EXPECT_EQ(c.emitted, 100u);
}

// The thread_phase map costs an LRU update per hit: it is written only when
// the loader asks for it (the profiler), and then holds the thread's last hook.
TEST_F(BpfTracerTest, ThreadPhaseOnlyWhenTracked) {
  for (bool track : {false, true}) {
    SCOPED_TRACE(track ? "tracked" : "not tracked");
    BpfTracer::Options options;
    options.track_thread_phase = track;
    std::unique_ptr<BpfTracer> tracer = MakeTracer(options);
    ASSERT_NE(tracer, nullptr);
    EXPECT_EQ(tracer->tracks_thread_phase(), track);
    std::unique_ptr<TargetProcess> target = StartTarget(path_);
    ASSERT_NE(target, nullptr);
    const uint32_t id = RESDB_TRACE_ID_prepared;
    ASSERT_EQ(
        tracer->AttachBinary(path_, target->pid(), {id})->attached_count(), 1);
    ASSERT_TRUE(target->Fire(id, 50, 0).ok());
    EXPECT_EQ(Drain(*tracer, 50).size(), 50u);

    const int fd = tracer->thread_phase_map_fd();
    ASSERT_GE(fd, 0);
    std::vector<uint32_t> tids;
    uint32_t key = 0, next = 0;
    uint32_t* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
      tids.push_back(next);
      key = next;
      prev = &key;
    }
    if (!track) {
      EXPECT_TRUE(tids.empty()) << tids.size() << " threads recorded";
      continue;
    }
    ASSERT_EQ(tids.size(), 1u);
    resdb_trace_thread_phase phase{};
    ASSERT_EQ(bpf_map_lookup_elem(fd, &tids[0], &phase), 0);
    EXPECT_EQ(phase.hook_id, id);
    EXPECT_EQ(phase.seq, HookTargetArg(id, 1, 49));  // the last call's seq
    EXPECT_GT(phase.since_ns, 0u);
  }
}

TEST_F(BpfTracerTest, RejectsBadOptions) {
  BpfTracer::Options options;
  options.ringbuf_bytes = 5000;
  EXPECT_EQ(BpfTracer::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.ringbuf_bytes = 1 << 16;
  options.wakeup_fraction = 0;
  EXPECT_EQ(BpfTracer::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(BpfTracerTest, LibbpfLogReachesTheLogger) {
  std::vector<std::string> lines;
  BpfTracer::Options options;
  options.logger = [&](LibbpfLogLevel, std::string_view line) {
    lines.emplace_back(line);
  };
  std::unique_ptr<BpfTracer> tracer = MakeTracer(options);
  ASSERT_NE(tracer, nullptr);
  // no such process: the kernel refuses the uprobe and libbpf logs why
  absl::StatusOr<AttachReport> report =
      tracer->AttachBinary(path_, 999999999, {RESDB_TRACE_ID_user});
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->hooks.size(), 1u);
  EXPECT_EQ(report->hooks[0].state, HookAttachState::kAttachError);
  EXPECT_NE(report->hooks[0].error.find("errno"), std::string::npos)
      << report->hooks[0].error;
  EXPECT_FALSE(lines.empty());
  SetLibbpfLogger(nullptr);
}

// Without CAP_BPF/CAP_PERFMON/CAP_SYS_ADMIN, Create names the capabilities.
TEST_F(BpfTracerTest, PermissionDeniedNamesTheCapabilities) {
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    __user_cap_header_struct header{};
    header.version = _LINUX_CAPABILITY_VERSION_3;
    __user_cap_data_struct data[2] = {};
    if (syscall(SYS_capget, &header, data) != 0) _exit(10);
    for (int cap : {CAP_SYS_ADMIN, 38 /* CAP_PERFMON */, 39 /* CAP_BPF */}) {
      data[cap / 32].effective &= ~(1u << (cap % 32));
    }
    if (syscall(SYS_capset, &header, data) != 0) _exit(11);
    absl::StatusOr<std::unique_ptr<BpfTracer>> tracer = BpfTracer::Create({});
    if (tracer.ok()) _exit(12);
    if (tracer.status().code() != absl::StatusCode::kPermissionDenied) {
      _exit(13);
    }
    const std::string msg(tracer.status().message());
    if (msg.find("CAP_BPF") == std::string::npos ||
        msg.find("CAP_PERFMON") == std::string::npos) {
      _exit(14);
    }
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "10/11: capget/capset failed, 12: Create succeeded, 13: wrong code, "
         "14: message does not name CAP_BPF and CAP_PERFMON";
}

}  // namespace
}  // namespace resdb_trace::collector
