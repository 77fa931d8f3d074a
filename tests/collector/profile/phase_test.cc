// Phase attribution with real eBPF: the hooks' uprobe program (BpfTracer)
// fills thread_phase, the profiler shares that map and tags each CPU sample
// with the last hook its thread passed. phase_target passes a hook and then
// spins in a function of its own per phase; a second thread never passes a
// hook. Requires root; never skips.
#include <unistd.h>

#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "collector/ingest/bpf_tracer.h"
#include "collector/profile/profiler.h"
#include "gtest/gtest.h"
#include "lib/catalogue.h"
#include "resdb_trace/catalog.h"
#include "tests/collector/profile/child_process.h"

namespace resdb_trace::collector::profile {
namespace {

using ::resdb_trace::testing::ChildProcess;
using ::resdb_trace::testing::RunfilePath;

// Of the samples of one spin function, at least this fraction must carry
// its phase. Misattribution can only come from the few instructions
// between a hook and the spin loop.
constexpr double kPhaseThreshold = 0.90;
constexpr uint64_t kMinSamples = 30;
// Above the default 99 Hz, so that even the lightest phase (20% of one
// thread) gets enough samples on a busy machine.
constexpr uint32_t kTestHz = 499;

struct PhaseCounts {
  std::map<uint32_t, uint64_t> by_phase;
  uint64_t total = 0;
  double Fraction(uint32_t phase) const {
    auto it = by_phase.find(phase);
    return total == 0 || it == by_phase.end()
               ? 0.0
               : static_cast<double>(it->second) / total;
  }
};

// Phase histogram of the samples whose leaf user frame is `function`.
PhaseCounts CountsOf(const ProfileData& d, const std::string& function) {
  PhaseCounts out;
  for (const ProfileSample& s : d.samples) {
    for (uint32_t i : s.frames) {
      const Frame& f = d.frames[i];
      if (f.kind == Frame::Kind::kKernel) continue;
      if (f.function == function) {
        out.by_phase[s.phase] += s.count;
        out.total += s.count;
      }
      break;
    }
  }
  return out;
}

class PhaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "run the BPF tests as root";
    absl::StatusOr<std::unique_ptr<ChildProcess>> child =
        ChildProcess::Start(RunfilePath("tests/testdata/phase_target"), {"14"});
    ASSERT_TRUE(child.ok()) << child.status();
    child_ = std::move(*child);
  }

  // A tracer with every hook of phase_target attached, for its pid.
  void AttachTracer() {
    BpfTracer::Options options;
    options.ringbuf_bytes = 64 * 1024;  // never read here
    absl::StatusOr<std::unique_ptr<BpfTracer>> tracer =
        BpfTracer::Create(options);
    ASSERT_TRUE(tracer.ok()) << tracer.status();
    tracer_ = std::move(*tracer);
    absl::StatusOr<AttachReport> report = tracer_->AttachBinary(
        RunfilePath("tests/testdata/phase_target"), child_->pid());
    ASSERT_TRUE(report.ok()) << report.status();
    ASSERT_EQ(report->error_count(), 0) << report->Summary();
    ASSERT_GE(report->attached_count(), 3) << report->Summary();
  }

  std::unique_ptr<Profiler> StartProfiler(int phase_fd,
                                          absl::Duration max_age) {
    ProfilerOptions options;
    options.pids = {static_cast<uint32_t>(child_->pid())};
    options.thread_phase_map_fd = phase_fd;
    options.phase_max_age = max_age;
    options.frequency_hz = kTestHz;
    absl::StatusOr<std::unique_ptr<Profiler>> p = Profiler::Create(options);
    EXPECT_TRUE(p.ok()) << p.status();
    if (!p.ok()) return nullptr;
    absl::Status s = (*p)->Start();
    EXPECT_TRUE(s.ok()) << s;
    return std::move(*p);
  }

  std::unique_ptr<ChildProcess> child_;
  std::unique_ptr<BpfTracer> tracer_;
};

TEST_F(PhaseTest, SamplesLandOnTheirThreadsPhase) {
  AttachTracer();
  ASSERT_NE(tracer_, nullptr);
  std::unique_ptr<Profiler> profiler =
      StartProfiler(tracer_->thread_phase_map_fd(), absl::ZeroDuration());
  ASSERT_NE(profiler, nullptr);
  EXPECT_TRUE(profiler->attributes_phases());
  absl::StatusOr<ProfileData> d = profiler->CollectFor(absl::Seconds(5));
  ASSERT_TRUE(d.ok()) << d.status();

  struct Case {
    const char* function;
    uint32_t phase;
  };
  const Case cases[] = {
      {"resdb_phase_target::SpinPrepare(unsigned long, unsigned long)",
       RESDB_TRACE_ID_prepare_received},
      {"resdb_phase_target::SpinCommit(unsigned long, unsigned long)",
       RESDB_TRACE_ID_commit_received},
      {"resdb_phase_target::SpinExecute(unsigned long, unsigned long)",
       RESDB_TRACE_ID_execute_start},
      {"resdb_phase_target::SpinNoPhase(unsigned long, unsigned long)", 0},
  };
  for (const Case& c : cases) {
    PhaseCounts counts = CountsOf(*d, c.function);
    std::printf("%s: %llu samples, %.1f%% in phase %s\n", c.function,
                static_cast<unsigned long long>(counts.total),
                100.0 * counts.Fraction(c.phase),
                catalogue::PhaseName(c.phase).c_str());
    EXPECT_GE(counts.total, kMinSamples) << c.function;
    EXPECT_GE(counts.Fraction(c.phase), kPhaseThreshold)
        << c.function << " should be in phase "
        << catalogue::PhaseName(c.phase);
  }

  // a phase filter selects that phase's function
  ProfileQuery prepare;
  prepare.phases = {RESDB_TRACE_ID_prepare_received};
  prepare.start = d->start;
  prepare.end = d->end;
  ProfileData only = profiler->Collect(prepare);
  ASSERT_GT(only.TotalCount(), 0u);
  for (const ProfileSample& s : only.samples) {
    EXPECT_EQ(s.phase, static_cast<uint32_t>(RESDB_TRACE_ID_prepare_received));
  }
  EXPECT_GE(static_cast<double>(
                CountsOf(only,
                         "resdb_phase_target::SpinPrepare(unsigned long, "
                         "unsigned long)")
                    .total) /
                only.TotalCount(),
            kPhaseThreshold);
}

// Standalone (no tracer): the profiler's own empty map, every phase none.
TEST_F(PhaseTest, StandaloneProfilerReportsPhaseNone) {
  std::unique_ptr<Profiler> profiler = StartProfiler(-1, absl::ZeroDuration());
  ASSERT_NE(profiler, nullptr);
  EXPECT_FALSE(profiler->attributes_phases());
  absl::StatusOr<ProfileData> d = profiler->CollectFor(absl::Seconds(2));
  ASSERT_TRUE(d.ok());
  EXPECT_GT(d->TotalCount(), 0u);
  for (const ProfileSample& s : d->samples) EXPECT_EQ(s.phase, 0u);
}

// A phase older than phase_max_age reads as none: with 1 ns, every phase is
// stale by the time a sample looks at it.
TEST_F(PhaseTest, StalePhasesAreNone) {
  AttachTracer();
  ASSERT_NE(tracer_, nullptr);
  std::unique_ptr<Profiler> profiler =
      StartProfiler(tracer_->thread_phase_map_fd(), absl::Nanoseconds(1));
  ASSERT_NE(profiler, nullptr);
  absl::StatusOr<ProfileData> d = profiler->CollectFor(absl::Seconds(2));
  ASSERT_TRUE(d.ok());
  EXPECT_GT(d->TotalCount(), 0u);
  for (const ProfileSample& s : d->samples) EXPECT_EQ(s.phase, 0u);
}

TEST_F(PhaseTest, ForeignMapFdIsRejected) {
  // the tracer's map is the only acceptable one: a pipe is not a map
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  ProfilerOptions options;
  options.thread_phase_map_fd = fds[0];
  absl::StatusOr<std::unique_ptr<Profiler>> p = Profiler::Create(options);
  close(fds[0]);
  close(fds[1]);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(p.status().message().find("thread_phase"), std::string::npos);
}

}  // namespace
}  // namespace resdb_trace::collector::profile
