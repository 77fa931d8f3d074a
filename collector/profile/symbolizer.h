// Turns sampled instruction addresses into frames: user addresses through a
// per-process snapshot of /proc/PID/maps and the ELF symbol tables of the
// mapped files (PIE and shared objects relocated by their mapping), kernel
// addresses through /proc/kallsyms. C++ names are demangled; DWARF file:line
// is added when the file (or its build-id debug file) has line tables.
//
// A process's snapshot is taken when it is added and refreshed when an
// address falls outside it (dlopen), so a process that has exited keeps its
// symbols until RemoveProcess: the profiler removes it only after draining
// its last samples. ELF files are opened once and shared, keyed by build id
// (or device, inode and path when there is none).
#ifndef RESDB_TRACE_COLLECTOR_PROFILE_SYMBOLIZER_H_
#define RESDB_TRACE_COLLECTOR_PROFILE_SYMBOLIZER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "collector/profile/elf_module.h"
#include "collector/profile/kernel_symbols.h"
#include "collector/profile/proc_maps.h"
#include "collector/profile/profile_data.h"

namespace resdb_trace::collector::profile {

// Module name of kernel-image frames.
inline constexpr char kKernelModule[] = "[kernel.kallsyms]";

// The demangled form of a C++ linkage name (abi::__cxa_demangle), or `name`
// unchanged when it is not a mangled name or cannot be demangled.
std::string Demangle(const std::string& name);

class Symbolizer {
 public:
  struct Options {
    // Where /proc is mounted (tests point this at a fake tree).
    std::string proc_root = "/proc";
    std::string kallsyms_path = "/proc/kallsyms";
    bool demangle = true;
    // DWARF file:line per frame, when the module has line tables.
    bool line_numbers = true;
    // Roots searched for build-id debug files.
    std::vector<std::string> debug_dirs = {"/usr/lib/debug"};
    // Shortest time between two re-reads of one process's maps.
    absl::Duration min_refresh_interval = absl::Milliseconds(200);
  };

  struct Stats {
    size_t processes = 0;         // snapshots held.
    size_t modules = 0;           // ELF files open.
    uint64_t maps_reads = 0;      // /proc/PID/maps reads.
    uint64_t open_errors = 0;     // mapped files that could not be opened.
    uint64_t unknown_frames = 0;  // addresses no symbol covered.
  };

  explicit Symbolizer(Options options);
  Symbolizer() : Symbolizer(Options{}) {}
  Symbolizer(const Symbolizer&) = delete;
  Symbolizer& operator=(const Symbolizer&) = delete;
  ~Symbolizer();

  // Snapshots the executable mappings of `pid` and opens their files.
  // NotFound ("process N does not exist ...") when it is gone; re-reads the
  // maps when the process is already known.
  absl::Status AddProcess(uint32_t pid);
  // Re-reads the maps of a known process; keeps the old snapshot (and
  // reports NotFound) when the process has exited meanwhile.
  absl::Status RefreshProcess(uint32_t pid);
  // Drops the snapshot; files no other process maps are closed.
  void RemoveProcess(uint32_t pid);
  bool HasProcess(uint32_t pid) const;

  // Symbolizes one user-space address of `pid`. `return_address`: the
  // address follows a call (every frame but an interrupted leaf), so the
  // lookup uses addr - 1, which stays inside the calling function. Never
  // fails: unknown addresses give a frame with an empty function and the
  // module name (or "" when no mapping holds the address).
  Frame SymbolizeUser(uint32_t pid, uint64_t addr, bool return_address);
  // The same for a kernel address.
  Frame SymbolizeKernel(uint64_t addr, bool return_address);

  Stats stats() const;

 private:
  struct Region {
    uint64_t start = 0;
    uint64_t end = 0;
    uint64_t offset = 0;
    std::string name;  // path or pseudo name ("[anon]" when anonymous).
    std::shared_ptr<const ElfModule> module;  // null when unreadable.
  };
  struct Process {
    std::vector<Region> regions;  // executable mappings, ascending.
    absl::Time last_refresh = absl::InfinitePast();
    bool gone = false;
  };

  absl::Status ReadProcessLocked(uint32_t pid, Process* process)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::shared_ptr<const ElfModule> ModuleForLocked(uint32_t pid,
                                                   const MapsEntry& entry)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::shared_ptr<const ElfModule> VdsoModuleLocked()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static const Region* FindRegion(const Process& p, uint64_t addr);
  Frame FrameForLocked(const Region& region, uint64_t lookup_addr,
                       uint64_t addr) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PruneModulesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<uint32_t, Process> processes_ ABSL_GUARDED_BY(mu_);
  // Open files: by "dev:inode:path" and by build id (either may hit).
  absl::flat_hash_map<std::string, std::weak_ptr<const ElfModule>> by_file_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::weak_ptr<const ElfModule>> by_build_id_
      ABSL_GUARDED_BY(mu_);
  // Symbolized frames by (module, link-time address): repeated addresses
  // cost one hash lookup. Cleared when modules close.
  absl::flat_hash_map<std::pair<const ElfModule*, uint64_t>, Frame> frames_
      ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const ElfModule> vdso_ ABSL_GUARDED_BY(mu_);
  bool vdso_tried_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<KernelSymbols> kernel_ ABSL_GUARDED_BY(mu_);
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace resdb_trace::collector::profile

#endif  // RESDB_TRACE_COLLECTOR_PROFILE_SYMBOLIZER_H_
