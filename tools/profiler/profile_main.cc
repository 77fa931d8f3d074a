// resdb-trace-profile: profile running processes for a few seconds and write
// a flamegraph, pprof, folded stacks or a markdown summary. A development
// tool of the profiler library; `resdb-trace profile` will offer the same
// through the collector.
//
//   resdb-trace-profile --pid 1234 --seconds 10 -o cpu.svg -o cpu.md
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "collector/ingest/bpf_tracer.h"
#include "collector/profile/flamegraph_svg.h"
#include "collector/profile/folded.h"
#include "collector/profile/pprof.h"
#include "collector/profile/profiler.h"
#include "collector/profile/summary_md.h"
#include "lib/catalogue.h"
#include "lib/flags/flags.h"

namespace {

using namespace resdb_trace::collector::profile;  // NOLINT: a small main
using resdb_trace::collector::BpfTracer;

constexpr char kUsage[] =
    R"(resdb-trace-profile: CPU profile of running processes.

Usage:
  resdb-trace-profile --pid N [--pid M ...] [--seconds S] [-o FILE ...]

Options:
  --pid N            process to profile (repeat, or N,M; --pids is the same)
  --seconds S        how long to sample (default 10)
  --frequency HZ     samples per second per CPU (default 99)
  --phase NAMES      keep only these consensus phases, comma separated:
                     prepare, commit, pre_prepare, execute, request, hook
                     names or ids ("none" = before any hook);
                     --phases is the same
  --no-phases        do not attach the hook uprobes (every phase "none")
  --split-by-pid     one flamegraph tower per process
  --split-by-phase   one flamegraph tower per phase
  --title TEXT       title of the flamegraph and summary
  -o FILE            output; the format follows the name:
                       *.svg flamegraph, *.pb.gz / *.pprof pprof,
                       *.folded folded stacks, *.md markdown summary
                     (repeatable; default: the summary on stdout;
                     --output FILE is the same)
  --version          print the version and exit
  -h, --help         print this text and exit
)";

using resdb_trace::flags::Die;

enum class Format { kSvg, kPprof, kFolded, kMarkdown };

Format FormatOf(const std::string& path) {
  if (absl::EndsWith(path, ".svg")) return Format::kSvg;
  if (absl::EndsWith(path, ".pb.gz") || absl::EndsWith(path, ".pprof") ||
      absl::EndsWith(path, ".pb")) {
    return Format::kPprof;
  }
  if (absl::EndsWith(path, ".folded")) return Format::kFolded;
  if (absl::EndsWith(path, ".md")) return Format::kMarkdown;
  Die(absl::StrFormat(
      "-o %s: unknown format; name it *.svg, *.pb.gz, *.folded or *.md", path));
}

struct Args {
  std::vector<uint32_t> pids;
  int seconds = 10;
  uint32_t frequency = 99;
  std::vector<uint32_t> phases;
  bool attach_hooks = true;
  StackOptions stacks;
  std::string title;
  std::vector<std::string> outputs;
};

Args Parse(int argc, char** argv) {
  Args a;
  CLI::App app;
  resdb_trace::flags::Setup(&app, "resdb-trace-profile", kUsage);
  app.add_option("--pid,--pids", a.pids)
      ->delimiter(',')
      ->allow_extra_args(false)
      ->check(resdb_trace::flags::kPositive);
  app.add_option("--seconds", a.seconds)->check(resdb_trace::flags::kPositive);
  app.add_option("--frequency", a.frequency)
      ->check(resdb_trace::flags::kPositive);
  std::vector<std::string> phases;
  app.add_option("--phase,--phases", phases)
      ->delimiter(',')
      ->allow_extra_args(false);
  app.add_flag_callback("--no-phases", [&a] { a.attach_hooks = false; });
  app.add_flag("--split-by-pid", a.stacks.split_by_pid);
  app.add_flag("--split-by-phase", a.stacks.split_by_phase);
  app.add_option("--title", a.title);
  app.add_option("-o,--output", a.outputs)->allow_extra_args(false);
  resdb_trace::flags::ParseOrExit(&app, argc, argv);
  for (const std::string& t : phases) {
    if (t.empty()) continue;
    absl::StatusOr<uint32_t> id = resdb_trace::catalogue::ParsePhase(t);
    if (!id.ok()) {
      Die(absl::StrCat("--phase: ", id.status().message()));
    }
    a.phases.push_back(*id);
  }
  for (const std::string& o : a.outputs) FormatOf(o);
  if (a.pids.empty()) Die("name at least one process with --pid");
  return a;
}

// A bar redrawn in place on a terminal; one line per second otherwise.
void Progress(double fraction, int seconds) {
  static const bool tty = isatty(STDERR_FILENO) == 1;
  static int last_second = -1;
  const double elapsed = fraction * seconds;
  if (!tty) {
    if (static_cast<int>(elapsed) == last_second) return;
    last_second = static_cast<int>(elapsed);
    std::fprintf(stderr, "sampling: %d/%d s\n", last_second, seconds);
    return;
  }
  const int kWidth = 30;
  const int done = static_cast<int>(std::lround(fraction * kWidth));
  std::fprintf(stderr, "\rsampling [%s%s] %5.1f/%d s",
               std::string(done, '#').c_str(),
               std::string(kWidth - done, '.').c_str(), elapsed, seconds);
  std::fflush(stderr);
}

bool WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return out.good();
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = Parse(argc, argv);
  for (uint32_t pid : args.pids) {
    if (access(absl::StrCat("/proc/", pid).c_str(), F_OK) != 0) {
      Die(absl::StrFormat("pid %d does not exist (no /proc/%d)", pid, pid), 1);
    }
  }

  // the hooks' uprobes fill the thread_phase map the profiler reads; their
  // ring buffer is never read here, so keep it small
  std::unique_ptr<BpfTracer> tracer;
  if (args.attach_hooks) {
    BpfTracer::Options topts;
    topts.ringbuf_bytes = 64 * 1024;
    absl::StatusOr<std::unique_ptr<BpfTracer>> t = BpfTracer::Create(topts);
    if (!t.ok()) Die(std::string(t.status().message()), 1);
    tracer = std::move(*t);
    for (uint32_t pid : args.pids) {
      const std::string exe = absl::StrCat("/proc/", pid, "/exe");
      absl::StatusOr<resdb_trace::collector::AttachReport> report =
          tracer->AttachBinary(exe, static_cast<int>(pid));
      if (!report.ok()) {
        Die(absl::StrCat("pid ", pid, ": ", report.status().message()), 1);
      }
      if (report->attached_count() == 0) {
        std::fprintf(stderr,
                     "resdb-trace-profile: pid %u has no resdb_trace hooks: "
                     "its samples will have phase 'none'\n",
                     pid);
      }
    }
  }

  ProfilerOptions popts;
  popts.frequency_hz = args.frequency;
  popts.pids = args.pids;
  popts.thread_phase_map_fd = tracer ? tracer->thread_phase_map_fd() : -1;
  absl::StatusOr<std::unique_ptr<Profiler>> profiler = Profiler::Create(popts);
  if (!profiler.ok()) Die(std::string(profiler.status().message()), 1);
  if (absl::Status s = (*profiler)->Start(); !s.ok()) {
    Die(std::string(s.message()), 1);
  }

  ProfileQuery query;
  query.phases = args.phases;
  absl::StatusOr<ProfileData> data =
      (*profiler)->CollectFor(absl::Seconds(args.seconds), query,
                              [&](double f) { Progress(f, args.seconds); });
  if (isatty(STDERR_FILENO) == 1) std::fputc('\n', stderr);
  (*profiler)->Stop();
  if (!data.ok()) Die(std::string(data.status().message()), 1);

  const ProfileCounters& c = data->counters;
  std::fprintf(stderr,
               "%llu samples from %zu process(es); lost stacks: %llu user, "
               "%llu kernel; truncated %llu; dropped %llu\n",
               static_cast<unsigned long long>(c.samples),
               data->processes.size(),
               static_cast<unsigned long long>(c.lost_user_stacks),
               static_cast<unsigned long long>(c.lost_kernel_stacks),
               static_cast<unsigned long long>(c.truncated_stacks),
               static_cast<unsigned long long>(c.dropped_samples));

  SummaryOptions sopts;
  sopts.title = args.title;
  if (args.outputs.empty()) {
    std::fputs(RenderSummaryMarkdown(*data, sopts).c_str(), stdout);
    return 0;
  }
  int failed = 0;
  for (const std::string& path : args.outputs) {
    std::string bytes;
    switch (FormatOf(path)) {
      case Format::kSvg: {
        FlamegraphOptions fo;
        fo.stacks = args.stacks;
        fo.title = args.title;
        bytes = RenderFlamegraphSvg(*data, fo);
        break;
      }
      case Format::kPprof: {
        absl::StatusOr<std::string> gz = EncodePprofGzip(*data);
        if (!gz.ok()) Die(std::string(gz.status().message()), 1);
        bytes = std::move(*gz);
        break;
      }
      case Format::kFolded:
        bytes = RenderFolded(*data, args.stacks);
        break;
      case Format::kMarkdown:
        bytes = RenderSummaryMarkdown(*data, sopts);
        break;
    }
    if (!WriteFile(path, bytes)) {
      std::fprintf(stderr, "resdb-trace-profile: cannot write %s\n",
                   path.c_str());
      ++failed;
      continue;
    }
    std::fprintf(stderr, "wrote %s (%zu bytes)\n", path.c_str(), bytes.size());
  }
  return failed == 0 ? 0 : 1;
}
