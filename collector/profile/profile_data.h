// The profiler's vocabulary: a symbolized frame, an aggregated sample, the
// profile a query returns (ProfileData) and the query itself. Every encoder
// (pprof, folded, SVG, markdown) reads ProfileData and nothing else.
#ifndef RESDB_TRACE_COLLECTOR_PROFILE_PROFILE_DATA_H_
#define RESDB_TRACE_COLLECTOR_PROFILE_PROFILE_DATA_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/time/time.h"

namespace resdb_trace::collector::profile {

// One stack frame after symbolization.
struct Frame {
  enum class Kind : uint8_t {
    kUser,    // user-space code of the sampled process.
    kKernel,  // kernel code (the sample interrupted a syscall or fault).
    kMarker,  // not code: stands for a stack the kernel could not record
              // ("[lost user stack]") or a cut ("[truncated]").
  };

  Kind kind = Kind::kUser;
  // Human-readable (demangled) function name; empty when unknown. Kernel
  // module functions read "name [module]".
  std::string function;
  // The name as the symbol table has it (mangled for C++), or "".
  std::string mangled;
  // Path of the mapped file, or a pseudo name: "[vdso]", "[anon]" (an
  // anonymous executable mapping, e.g. JIT code), "[kernel.kallsyms]" (every
  // kernel frame); "" when no mapping held the address (markers too).
  std::string module;
  // NT_GNU_BUILD_ID of the module as lowercase hex; "" when none.
  std::string build_id;
  // Source file and line from DWARF; empty / 0 when unknown.
  std::string file;
  uint32_t line = 0;
  // Known frames: start of the function, as a module-relative (ELF virtual)
  // address. Unknown frames: the module-relative address itself.
  uint64_t address = 0;

  bool known() const { return !function.empty(); }
  // Last path component of `module` ("libfoo.so"), or `module` itself.
  std::string ModuleBaseName() const;
  // What flamegraphs and summaries show: the function name, or for an
  // unknown frame "[unknown] <module base name>+0x<address>".
  std::string Label() const;

  friend bool operator==(const Frame& a, const Frame& b) {
    return a.kind == b.kind && a.function == b.function &&
           a.mangled == b.mangled && a.module == b.module &&
           a.build_id == b.build_id && a.file == b.file && a.line == b.line &&
           a.address == b.address;
  }
  friend bool operator!=(const Frame& a, const Frame& b) { return !(a == b); }
  template <typename H>
  friend H AbslHashValue(H h, const Frame& f) {
    return H::combine(std::move(h), static_cast<uint8_t>(f.kind), f.function,
                      f.mangled, f.module, f.build_id, f.file, f.line,
                      f.address);
  }
};

// Names of the marker frames (Frame::Kind::kMarker). A sample whose stack
// the kernel could not deliver keeps its count and carries one of these in
// place of the missing frames, so losses stay visible in every rendering.
inline constexpr char kLostUserStackMarker[] = "[lost user stack]";
inline constexpr char kLostKernelStackMarker[] = "[lost kernel stack]";
inline constexpr char kEvictedStackMarker[] = "[evicted stack]";
inline constexpr char kNoUserStackMarker[] = "[no user stack]";
inline constexpr char kTruncatedMarker[] = "[truncated]";

// A marker frame named `name` (one of the constants above).
Frame MarkerFrame(std::string_view name);

// Samples that share a stack, a thread and a phase.
struct ProfileSample {
  // Indices into ProfileData::frames, leaf first (kernel frames, then user
  // frames, then markers for what is missing at the root end).
  std::vector<uint32_t> frames;
  uint64_t count = 0;  // number of CPU samples.
  uint32_t pid = 0;    // process (tgid).
  uint32_t tid = 0;    // thread; 0 when the profiler did not key by thread.
  uint32_t phase = 0;  // hook id of the thread's last resdb_trace hook; 0 =
                       // none (no hook yet, or profiling standalone).
};

// What the profiler knows about one sampled process.
struct ProcessInfo {
  uint32_t pid = 0;
  std::string comm;                    // /proc/PID/comm when first seen.
  std::string exe;                     // /proc/PID/exe target when first seen.
  std::optional<uint32_t> replica_id;  // set by Profiler::SetReplicaId.
  bool exited = false;                 // the process has exited.
};

// Losses and quality figures of a profile, counted over the samples it
// selects (from their marker frames), except `dropped_samples`, which has no
// process and is summed over the drain intervals the profile covers.
struct ProfileCounters {
  uint64_t samples = 0;  // CPU samples in the profile (sum of counts).
  // The kernel could not store the user (kernel) stack: stack-map bucket
  // collision or map full. Such samples are kept, with a marker frame.
  uint64_t lost_user_stacks = 0;
  uint64_t lost_kernel_stacks = 0;
  // Samples with no user stack at all (e.g. the task was exiting); marked
  // "[no user stack]".
  uint64_t empty_user_stacks = 0;
  // Samples lost entirely: the in-kernel count map was full.
  uint64_t dropped_samples = 0;
  // Stacks cut at the depth limit (127 frames): the outermost callers are
  // missing; marked with "[truncated]".
  uint64_t truncated_stacks = 0;
  // A count referred to a stack id that was gone from the stack map;
  // marked "[evicted stack]".
  uint64_t evicted_stacks = 0;
  // Frames (weighted by samples) the symbolizer could not name.
  uint64_t unknown_frames = 0;
  // Drain intervals the profile covers.
  uint64_t intervals = 0;

  ProfileCounters& operator+=(const ProfileCounters& o);
};

// A profile: what Profiler::Collect returns and every encoder reads.
struct ProfileData {
  std::vector<Frame> frames;           // deduplicated; referenced by index.
  std::vector<ProfileSample> samples;  // aggregated, in no particular order.
  std::map<uint32_t, ProcessInfo> processes;  // every pid in `samples`.
  absl::Time start = absl::UnixEpoch();       // covered wall-clock time.
  absl::Time end = absl::UnixEpoch();
  uint32_t frequency_hz = 0;  // sampling frequency per CPU.
  ProfileCounters counters;

  // Sum of all sample counts.
  uint64_t TotalCount() const;
  // CPU time one sample stands for, in ns (1e9 / frequency_hz).
  int64_t PeriodNs() const;
  // Appends `frame` unless an equal one exists; returns its index. Linear
  // in the number of frames: for building small profiles (tests, readers).
  uint32_t AddFrame(const Frame& frame);
};

// Which stored samples a query selects.
struct ProfileQuery {
  std::vector<uint32_t> pids;         // empty: every process.
  std::vector<uint32_t> replica_ids;  // empty: every replica; else only
                                      // processes with one of these ids.
  std::vector<uint32_t> phases;       // hook ids; empty: every phase; 0 =
                                      // "none" (catalogue::PhaseName).
  // Wall-clock window: a drain interval is selected when it ends in
  // (start, end]. Defaults select everything stored.
  absl::Time start = absl::InfinitePast();
  absl::Time end = absl::InfiniteFuture();
  // When positive, replaces `start` with "now - last": the last N seconds.
  absl::Duration last = absl::ZeroDuration();
};

}  // namespace resdb_trace::collector::profile

#endif  // RESDB_TRACE_COLLECTOR_PROFILE_PROFILE_DATA_H_
