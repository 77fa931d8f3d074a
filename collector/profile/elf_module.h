// The symbol table of one ELF file (executable, shared object or the vDSO
// image) for the profiler: functions from .symtab and .dynsym sorted by
// address, the PT_LOAD segments that turn a file offset into a link-time
// address, the build id, and DWARF line tables through libdw when present
// (in the file itself or in /usr/lib/debug/.build-id/xx/yyyy.debug).
#ifndef RESDB_TRACE_COLLECTOR_PROFILE_ELF_MODULE_H_
#define RESDB_TRACE_COLLECTOR_PROFILE_ELF_MODULE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "collector/ingest/elf_file.h"

typedef struct Dwarf Dwarf;

namespace resdb_trace::collector::profile {

// A function symbol.
struct ElfFunction {
  uint64_t start = 0;  // st_value: link-time address.
  uint64_t end = 0;    // start + st_size, or the next symbol for size 0.
  std::string name;    // as in the symbol table (mangled for C++).
};

// A source position from the DWARF line table.
struct SourceLine {
  std::string file;
  uint32_t line = 0;
};

class ElfModule {
 public:
  struct Options {
    bool line_numbers = true;  // open DWARF line tables when present.
    // Roots searched for separate debug files by build id
    // (<dir>/.build-id/ab/cdef....debug); empty disables the search.
    std::vector<std::string> debug_dirs = {"/usr/lib/debug"};
  };

  // Opens the file at `open_path` (which may be a /proc/PID/root/... or
  // /proc/PID/map_files/... alias); `display_path` is the name frames show.
  // Errors: NotFound / PermissionDenied with the path, InvalidArgument when
  // it is not an ELF file.
  static absl::StatusOr<std::unique_ptr<ElfModule>> Open(
      const std::string& open_path, const std::string& display_path,
      const Options& options);

  // Parses an ELF image copied out of memory (the vDSO). No DWARF.
  static absl::StatusOr<std::unique_ptr<ElfModule>> OpenMemory(
      std::string image, const std::string& display_path);

  ElfModule(const ElfModule&) = delete;
  ElfModule& operator=(const ElfModule&) = delete;
  ~ElfModule();

  const std::string& path() const { return path_; }
  // NT_GNU_BUILD_ID as lowercase hex; "" when absent.
  const std::string& build_id() const { return build_id_; }
  // Function symbols known (from .symtab, .dynsym or a debug file).
  size_t function_count() const { return functions_.size(); }
  bool has_symtab() const { return has_symtab_; }
  bool has_line_info() const { return dwarf_ != nullptr; }

  // Link-time address of file offset `offset` via the PT_LOAD segments (the
  // executable one first); nullopt when no segment maps it.
  std::optional<uint64_t> FileOffsetToAddress(uint64_t offset) const;

  // The function containing link-time address `addr`, or nullptr.
  const ElfFunction* FindFunction(uint64_t addr) const;

  // DWARF file:line of `addr`; nullopt without line info for it.
  // Thread-safe.
  std::optional<SourceLine> FindLine(uint64_t addr) const;

 private:
  struct Segment {
    uint64_t vaddr = 0;
    uint64_t offset = 0;
    uint64_t filesz = 0;
    bool exec = false;
  };

  struct RawSymbol;

  explicit ElfModule(ElfFile file) : file_(std::move(file)) {}
  // Reads the segments and the build id of file_.
  absl::Status LoadHeaders();
  // Opens DWARF (and a separate debug file's symbols when the file has no
  // .symtab), appending those symbols to `raw`.
  void OpenDebugInfo(const Options& options, std::vector<RawSymbol>* raw);
  // Sorts `raw` into functions_, one per address, sizes filled in.
  void FinishSymbols(std::vector<RawSymbol> raw);

  std::string path_;
  std::string build_id_;
  std::vector<Segment> segments_;
  std::vector<ElfFunction> functions_;
  bool has_symtab_ = false;

  ElfFile file_;
  // The separate debug file, when one was found by build id.
  std::optional<ElfFile> debug_file_;
  // reads file_ or debug_file_, so ends before them (see the destructor);
  // libdw is not thread-safe per handle: lookups take the mutex
  mutable absl::Mutex dwarf_mu_;
  Dwarf* dwarf_ ABSL_PT_GUARDED_BY(dwarf_mu_) = nullptr;
};

}  // namespace resdb_trace::collector::profile

#endif  // RESDB_TRACE_COLLECTOR_PROFILE_ELF_MODULE_H_
