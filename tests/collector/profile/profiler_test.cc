// The profiler end to end with real eBPF: a CPU-bound target with known
// hot functions (70% / 30%) is sampled, drained, symbolized and checked, in
// an unstripped, a stripped-with-.dynsym and a fully stripped build; a
// process that exits mid-run; bad pids; loss accounting with maps too small
// on purpose. Requires root (CAP_BPF + CAP_PERFMON); never skips.
#include "collector/profile/profiler.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "collector/profile/pprof.h"
#include "collector/profile/summary_md.h"
#include "gtest/gtest.h"
#include "tests/collector/profile/child_process.h"

namespace resdb_trace::collector::profile {
namespace {

using ::resdb_trace::testing::ChildProcess;
using ::resdb_trace::testing::RunfilePath;

constexpr char kSeventy[] =
    "resdb_profile_target::BurnSeventy(unsigned long, unsigned long)";
constexpr char kThirty[] =
    "resdb_profile_target::BurnThirty(unsigned long, unsigned long)";
constexpr char kSeventyMangled[] = "_ZN20resdb_profile_target11BurnSeventyEmm";

// Attribution tolerance, in percentage points.
constexpr double kTolerance = 10.0;
// Sampling frequency of the attribution tests: above the default 99 Hz so
// that a few seconds give several hundred samples even when the machine is
// busy and the target gets a fraction of a CPU (the share's standard error
// stays near 2 points, well inside the tolerance).
constexpr uint32_t kTestHz = 499;
// Fewest samples a share is judged on.
constexpr uint64_t kMinSamples = 100;

class ProfilerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u)
        << "the profiler tests load BPF programs and open perf events: run "
           "them as root (CAP_BPF + CAP_PERFMON)";
  }

  static std::unique_ptr<ChildProcess> StartTarget(const std::string& name,
                                                   const std::string& seconds) {
    absl::StatusOr<std::unique_ptr<ChildProcess>> child =
        ChildProcess::Start(RunfilePath("tests/testdata/" + name), {seconds});
    EXPECT_TRUE(child.ok()) << child.status();
    return child.ok() ? std::move(*child) : nullptr;
  }

  static std::unique_ptr<Profiler> MakeProfiler(const ProfilerOptions& o) {
    absl::StatusOr<std::unique_ptr<Profiler>> p = Profiler::Create(o);
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? std::move(*p) : nullptr;
  }

  // Cumulative percentage of `pid`'s samples with `label` on the stack.
  static double SharePct(const ProfileData& d, const std::string& label) {
    uint64_t total = d.TotalCount();
    for (const FunctionStat& f : ComputeFunctionStats(d)) {
      if (f.label == label) return 100.0 * f.cumulative / total;
    }
    return 0.0;
  }

  // Samples the target for a few seconds and checks the 70/30 split and
  // the names; returns the profile.
  ProfileData CheckAttribution(const std::string& target) {
    std::unique_ptr<ChildProcess> child = StartTarget(target, "12");
    if (child == nullptr) return {};
    ProfilerOptions options;
    options.pids = {static_cast<uint32_t>(child->pid())};
    options.frequency_hz = kTestHz;
    std::unique_ptr<Profiler> profiler = MakeProfiler(options);
    if (profiler == nullptr) return {};
    EXPECT_FALSE(profiler->attributes_phases());
    absl::Status started = profiler->Start();
    EXPECT_TRUE(started.ok()) << started;
    absl::StatusOr<ProfileData> d = profiler->CollectFor(absl::Seconds(4));
    EXPECT_TRUE(d.ok()) << d.status();
    if (!d.ok()) return {};
    profiler->Stop();

    const uint64_t total = d->TotalCount();
    const double seventy = SharePct(*d, kSeventy);
    const double thirty = SharePct(*d, kThirty);
    std::printf("[%s] %llu samples: BurnSeventy %.1f%%, BurnThirty %.1f%%\n",
                target.c_str(), static_cast<unsigned long long>(total), seventy,
                thirty);
    ::testing::Test::RecordProperty("samples", static_cast<int>(total));
    ::testing::Test::RecordProperty("seventy_pct_x10",
                                    static_cast<int>(seventy * 10));
    ::testing::Test::RecordProperty("thirty_pct_x10",
                                    static_cast<int>(thirty * 10));
    EXPECT_GE(total, kMinSamples);
    EXPECT_NEAR(seventy, 70.0, kTolerance);
    EXPECT_NEAR(thirty, 30.0, kTolerance);

    // names are demangled, the raw name kept; the module is the target
    bool found = false;
    for (const Frame& f : d->frames) {
      if (f.function != kSeventy) continue;
      found = true;
      EXPECT_EQ(f.mangled, kSeventyMangled);
      EXPECT_EQ(f.module, RunfilePath("tests/testdata/" + target));
      EXPECT_EQ(f.kind, Frame::Kind::kUser);
      EXPECT_FALSE(f.build_id.empty());
    }
    EXPECT_TRUE(found);
    for (const ProfileSample& s : d->samples) {
      EXPECT_EQ(s.pid, static_cast<uint32_t>(child->pid()));
      EXPECT_NE(s.tid, 0u);
      EXPECT_EQ(s.phase, 0u) << "no tracer: every phase is none";
    }
    EXPECT_EQ(d->frequency_hz, kTestHz);
    EXPECT_GE(d->counters.intervals, 3u);

    // nothing lost silently: every sample the kernel counted is in the
    // history (none was dropped: the maps are large enough)
    const ProfilerCounters c = profiler->counters();
    const ProfileData all = profiler->Collect(ProfileQuery{});
    EXPECT_EQ(all.TotalCount(), c.samples);
    EXPECT_EQ(c.dropped_samples, 0u);
    EXPECT_GE(c.drains, 4u);
    EXPECT_EQ(c.drain_errors, 0u) << c.last_error;

    // the pprof of a real profile parses back to the same totals
    absl::StatusOr<std::string> gz = EncodePprofGzip(*d);
    EXPECT_TRUE(gz.ok());
    absl::StatusOr<ProfileData> back = ParsePprof(*gz);
    EXPECT_TRUE(back.ok()) << back.status();
    if (back.ok()) {
      EXPECT_EQ(back->TotalCount(), total);
      EXPECT_NEAR(SharePct(*back, kSeventy), seventy, 1e-9);
    }
    return std::move(*d);
  }
};

TEST_F(ProfilerTest, AttributesHotFunctionsUnstripped) {
  ProfileData d = CheckAttribution("profile_target");
  // DWARF lines of the unstripped build reach the frames
  bool line = false;
  for (const Frame& f : d.frames) {
    if (f.function == kSeventy) {
      line = absl::EndsWith(f.file, "tests/testdata/profile_target.cc") &&
             f.line > 0;
    }
  }
  EXPECT_TRUE(line);
}

TEST_F(ProfilerTest, AttributesHotFunctionsStrippedWithDynsym) {
  CheckAttribution("profile_target_stripped");
}

TEST_F(ProfilerTest, FullyStrippedFramesAreUnknownWithTheirModule) {
  // the hot functions' address ranges, from the unstripped twin (strip
  // moves no code)
  absl::StatusOr<std::unique_ptr<ElfModule>> plain =
      ElfModule::Open(RunfilePath("tests/testdata/profile_target_plain"),
                      "plain", ElfModule::Options{});
  ASSERT_TRUE(plain.ok()) << plain.status();
  const ElfFunction* seventy = nullptr;
  const ElfFunction* thirty = nullptr;
  for (uint64_t a = 0; a < 0x100000 && (!seventy || !thirty); a += 16) {
    const ElfFunction* f = (*plain)->FindFunction(a);
    if (f == nullptr) continue;
    if (f->name == kSeventyMangled) seventy = f;
    if (f->name == "_ZN20resdb_profile_target10BurnThirtyEmm") thirty = f;
  }
  ASSERT_NE(seventy, nullptr);
  ASSERT_NE(thirty, nullptr);

  std::unique_ptr<ChildProcess> child =
      StartTarget("profile_target_nosyms", "12");
  ASSERT_NE(child, nullptr);
  ProfilerOptions options;
  options.pids = {static_cast<uint32_t>(child->pid())};
  options.frequency_hz = kTestHz;
  std::unique_ptr<Profiler> profiler = MakeProfiler(options);
  ASSERT_NE(profiler, nullptr);
  ASSERT_TRUE(profiler->Start().ok());
  absl::StatusOr<ProfileData> d = profiler->CollectFor(absl::Seconds(4));
  ASSERT_TRUE(d.ok()) << d.status();

  const std::string module =
      RunfilePath("tests/testdata/profile_target_nosyms");
  uint64_t total = 0;
  uint64_t in_seventy = 0;
  uint64_t in_thirty = 0;
  for (const ProfileSample& s : d->samples) {
    total += s.count;
    // the user leaf: the first frame that is not a kernel frame
    for (uint32_t i : s.frames) {
      const Frame& f = d->frames[i];
      if (f.kind == Frame::Kind::kKernel) continue;
      if (f.module == module) {
        EXPECT_FALSE(f.known()) << f.Label();
        EXPECT_TRUE(
            absl::StartsWith(f.Label(), "[unknown] profile_target_nosyms+0x"))
            << f.Label();
        if (f.address >= seventy->start && f.address < seventy->end) {
          in_seventy += s.count;
        }
        if (f.address >= thirty->start && f.address < thirty->end) {
          in_thirty += s.count;
        }
      }
      break;
    }
  }
  for (const Frame& f : d->frames) {
    EXPECT_EQ(f.function.find("BurnSeventy"), std::string::npos);
  }
  // the unnamed addresses still split 70/30 between the two functions
  const double s70 = 100.0 * in_seventy / std::max<uint64_t>(total, 1);
  const double s30 = 100.0 * in_thirty / std::max<uint64_t>(total, 1);
  std::printf(
      "[profile_target_nosyms] %llu samples: 70%% range %.1f%%, "
      "30%% range %.1f%%\n",
      static_cast<unsigned long long>(total), s70, s30);
  EXPECT_GE(total, kMinSamples);
  EXPECT_NEAR(s70, 70.0, kTolerance);
  EXPECT_NEAR(s30, 30.0, kTolerance);
  EXPECT_GT(d->counters.unknown_frames, 0u);
}

TEST_F(ProfilerTest, ProcessExitingMidRunKeepsItsSymbolizedSamples) {
  std::unique_ptr<ChildProcess> child = StartTarget("profile_target", "1.5");
  ASSERT_NE(child, nullptr);
  const uint32_t pid = static_cast<uint32_t>(child->pid());
  ProfilerOptions options;
  options.pids = {pid};
  std::unique_ptr<Profiler> profiler = MakeProfiler(options);
  ASSERT_NE(profiler, nullptr);
  ASSERT_TRUE(profiler->Start().ok());
  absl::StatusOr<ProfileData> d = profiler->CollectFor(absl::Seconds(3.5));
  ASSERT_TRUE(d.ok()) << d.status();
  absl::StatusOr<int> code = child->Wait(absl::Seconds(5));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0);

  EXPECT_GT(d->TotalCount(), 0u);
  EXPECT_GT(SharePct(*d, kSeventy), 0.0) << "samples kept and symbolized";
  EXPECT_GT(SharePct(*d, kThirty), 0.0);
  ASSERT_EQ(d->processes.count(pid), 1u);
  EXPECT_TRUE(d->processes.at(pid).exited);
  EXPECT_EQ(d->processes.at(pid).comm, "profile_target");
  EXPECT_TRUE(profiler->pids().empty());
  EXPECT_EQ(profiler->counters().exited_processes, 1u);
  EXPECT_EQ(profiler->counters().drain_errors, 0u);
  // the exited pid's symbols were released
  EXPECT_FALSE(profiler->symbolizer().HasProcess(pid));
  // and it can no longer be added
  EXPECT_EQ(profiler->AddPid(pid).code(), absl::StatusCode::kNotFound);
}

TEST_F(ProfilerTest, BadPidsGetClearErrors) {
  ProfilerOptions options;
  options.pids = {1u << 30};
  absl::StatusOr<std::unique_ptr<Profiler>> bad = Profiler::Create(options);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(bad.status().message().find("pid 1073741824"), std::string::npos)
      << bad.status();
  EXPECT_NE(bad.status().message().find("does not exist"), std::string::npos)
      << bad.status();

  std::unique_ptr<Profiler> profiler = MakeProfiler(ProfilerOptions{});
  ASSERT_NE(profiler, nullptr);
  EXPECT_EQ(profiler->AddPid(0).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(profiler->AddPid(1u << 30).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(profiler->RemovePid(4242424).code(), absl::StatusCode::kNotFound);
  // a process that has exited and been reaped
  std::unique_ptr<ChildProcess> child = StartTarget("profile_target", "0");
  ASSERT_NE(child, nullptr);
  ASSERT_TRUE(child->Wait(absl::Seconds(5)).ok());
  absl::Status gone = profiler->AddPid(static_cast<uint32_t>(child->pid()));
  EXPECT_EQ(gone.code(), absl::StatusCode::kNotFound) << gone;

  EXPECT_EQ(profiler->CollectFor(absl::Seconds(1)).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ProfilerOptions zero;
  zero.frequency_hz = 0;
  EXPECT_EQ(Profiler::Create(zero).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ProfilerTest, RemovedPidStopsBeingSampledAndKeepsItsHistory) {
  std::unique_ptr<ChildProcess> child = StartTarget("profile_target", "12");
  ASSERT_NE(child, nullptr);
  const uint32_t pid = static_cast<uint32_t>(child->pid());
  ProfilerOptions options;
  options.pids = {pid};
  std::unique_ptr<Profiler> profiler = MakeProfiler(options);
  ASSERT_NE(profiler, nullptr);
  ASSERT_TRUE(profiler->Start().ok());
  absl::StatusOr<ProfileData> before = profiler->CollectFor(absl::Seconds(2));
  ASSERT_TRUE(before.ok());
  EXPECT_GT(before->TotalCount(), 0u);
  ASSERT_TRUE(profiler->RemovePid(pid).ok());
  EXPECT_TRUE(profiler->pids().empty());
  absl::StatusOr<ProfileData> after = profiler->CollectFor(absl::Seconds(1.5));
  ASSERT_TRUE(after.ok());
  // the flip may catch a sample taken before the removal, never more
  EXPECT_LE(after->TotalCount(), 2u);
  ProfileData all = profiler->Collect(ProfileQuery{});
  EXPECT_GE(all.TotalCount(), before->TotalCount());
  // the last second holds nothing of the removed pid; the last minute does
  ProfileQuery last_second;
  last_second.last = absl::Seconds(1);
  EXPECT_LE(profiler->Collect(last_second).TotalCount(), 2u);
  ProfileQuery last_minute;
  last_minute.last = absl::Minutes(1);
  EXPECT_EQ(profiler->Collect(last_minute).TotalCount(), all.TotalCount());
  EXPECT_GT(SharePct(all, kSeventy), 0.0);
  // re-adding works
  EXPECT_TRUE(profiler->AddPid(pid).ok());
  EXPECT_EQ(profiler->pids(), std::vector<uint32_t>({pid}));
}

// A stack deeper than the kernel records ends in a "[truncated]" marker
// and is counted.
TEST_F(ProfilerTest, TruncatedStacksAreMarkedAndCounted) {
  absl::StatusOr<std::unique_ptr<ChildProcess>> child = ChildProcess::Start(
      RunfilePath("tests/testdata/profile_target"), {"12", "300"});
  ASSERT_TRUE(child.ok()) << child.status();
  ProfilerOptions options;
  options.pids = {static_cast<uint32_t>((*child)->pid())};
  std::unique_ptr<Profiler> profiler = MakeProfiler(options);
  ASSERT_NE(profiler, nullptr);
  ASSERT_TRUE(profiler->Start().ok());
  absl::StatusOr<ProfileData> d = profiler->CollectFor(absl::Seconds(2));
  ASSERT_TRUE(d.ok());
  ASSERT_GT(d->TotalCount(), 0u);
  uint64_t marked = 0;
  for (const ProfileSample& s : d->samples) {
    const Frame& root = d->frames[s.frames.back()];
    if (root.kind == Frame::Kind::kMarker &&
        root.function == kTruncatedMarker) {
      marked += s.count;
      // the leaf side is intact
      EXPECT_EQ(s.frames.size() - 1 >= 100, true);
    }
  }
  // every sample of the worker is that deep
  EXPECT_GE(marked, d->TotalCount() * 9 / 10);
  EXPECT_EQ(d->counters.truncated_stacks, marked);
  EXPECT_GE(profiler->counters().truncated_stacks, marked);
  EXPECT_GT(SharePct(*d, kSeventy), 50.0);
}

// Maps far too small: the kernel cannot store most stacks or buckets. Every
// sample is still accounted for: in the history (under a marker frame when
// its stack was lost) or as dropped, never both.
TEST_F(ProfilerTest, LossesAreCountedNeverSilent) {
  std::unique_ptr<ChildProcess> child = StartTarget("phase_target", "12");
  ASSERT_NE(child, nullptr);
  ProfilerOptions options;
  options.pids = {static_cast<uint32_t>(child->pid())};
  options.stack_map_entries = 1;
  options.count_map_entries = 2;
  std::unique_ptr<Profiler> profiler = MakeProfiler(options);
  ASSERT_NE(profiler, nullptr);
  ASSERT_TRUE(profiler->Start().ok());
  absl::StatusOr<ProfileData> d = profiler->CollectFor(absl::Seconds(3));
  ASSERT_TRUE(d.ok());
  profiler->Stop();
  const ProfilerCounters c = profiler->counters();
  std::printf("tiny maps: %llu samples, %llu user stacks lost, %llu dropped\n",
              static_cast<unsigned long long>(c.samples),
              static_cast<unsigned long long>(c.lost_user_stacks),
              static_cast<unsigned long long>(c.dropped_samples));
  EXPECT_GT(c.lost_user_stacks, 0u);
  EXPECT_GT(c.dropped_samples, 0u);
  const ProfileData all = profiler->Collect(ProfileQuery{});
  EXPECT_EQ(all.TotalCount(), c.samples);
  // the kernel's per-CPU counters and the markers in the profile agree
  EXPECT_EQ(all.counters.lost_user_stacks, c.lost_user_stacks);
  EXPECT_EQ(all.counters.dropped_samples, c.dropped_samples);
  uint64_t marked = 0;
  for (const ProfileSample& s : all.samples) {
    for (uint32_t i : s.frames) {
      if (all.frames[i].function == kLostUserStackMarker) marked += s.count;
    }
  }
  EXPECT_EQ(marked, c.lost_user_stacks);
}

}  // namespace
}  // namespace resdb_trace::collector::profile
