// Reads what the collector needs to attach to a traced binary: where each
// catalogue hook and the semaphore table live in the file, the build id and
// whether the binary is position independent.
#ifndef RESDB_TRACE_COLLECTOR_INGEST_ELF_BINARY_H_
#define RESDB_TRACE_COLLECTOR_INGEST_ELF_BINARY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace resdb_trace::collector {

// A defined symbol from .symtab or .dynsym.
struct ElfSymbol {
  std::string name;
  uint64_t vaddr = 0;        // st_value: link-time virtual address.
  uint64_t size = 0;         // st_size in bytes.
  uint64_t file_offset = 0;  // where vaddr lives in the file (uprobe offset).
  bool file_backed = false;  // vaddr lies in a PT_LOAD's file image (not
                             // .bss); file_offset is valid only then.
  bool dynamic = false;      // found in .dynsym (survives strip).
};

// One catalogue hook, found in the binary or not.
struct HookLocation {
  uint32_t id = 0;           // catalogue id (the attach cookie).
  std::string name;          // catalogue name, e.g. "prepare_received".
  std::string symbol;        // "resdb_trace_" + name.
  bool present = false;      // defined and backed by the file.
  uint64_t vaddr = 0;        // valid when present.
  uint64_t file_offset = 0;  // valid when present: the uprobe's offset.
};

// The is-enabled table `resdb_trace_semaphores` (uint16 per hook id).
struct SemaphoreTable {
  uint64_t vaddr = 0;
  uint64_t file_offset = 0;  // file offset of slot 0.
  uint64_t size = 0;         // bytes (st_size).

  // File offset of slot `id` (the uprobe's ref_ctr_offset), or nullopt when
  // the slot lies outside the table.
  std::optional<uint64_t> SlotFileOffset(uint32_t id) const;
};

// A parsed ELF file. Only symbols named resdb_trace_* are kept, so opening a
// large binary stays cheap.
class ElfBinary {
 public:
  // Name of the semaphore table symbol.
  static constexpr std::string_view kSemaphoreSymbol = "resdb_trace_semaphores";

  // Opens and parses `path`. Errors: NotFound / PermissionDenied ("cannot
  // open <path>: <strerror>"), InvalidArgument ("<path> is not an ELF file",
  // malformed headers).
  static absl::StatusOr<ElfBinary> Open(const std::string& path);

  const std::string& path() const { return path_; }
  // ET_DYN executable (PT_INTERP or DF_1_PIE); false for ET_EXEC and for
  // shared libraries without an interpreter.
  bool is_pie() const { return pie_; }
  // True for ET_DYN files (PIE executables and shared libraries).
  bool is_dyn() const { return dyn_; }
  // NT_GNU_BUILD_ID as lowercase hex; empty when the file has none.
  const std::string& build_id() const { return build_id_; }

  // Every catalogue hook, in ascending id order.
  const std::vector<HookLocation>& hooks() const { return hooks_; }
  // The catalogue hook `id`, or nullptr when `id` is not in the catalogue.
  const HookLocation* FindHook(uint32_t id) const;
  // Number of catalogue hooks present in the file.
  int present_hook_count() const;

  // The semaphore table, when the binary defines it in a file-backed
  // section (the kernel can only raise slots in file-backed mappings).
  const std::optional<SemaphoreTable>& semaphores() const {
    return semaphores_;
  }

  // A defined resdb_trace_* symbol, or nullopt.
  std::optional<ElfSymbol> FindSymbol(std::string_view name) const;

  // Maps a link-time virtual address to its offset in the file through the
  // PT_LOAD program headers. Fails for addresses outside every segment's
  // file image (e.g. .bss).
  absl::StatusOr<uint64_t> VaddrToFileOffset(uint64_t vaddr) const;

 private:
  struct LoadSegment {
    uint64_t vaddr = 0;
    uint64_t offset = 0;
    uint64_t filesz = 0;
  };

  ElfBinary() = default;

  std::string path_;
  bool pie_ = false;
  bool dyn_ = false;
  std::string build_id_;
  std::vector<LoadSegment> segments_;
  std::vector<ElfSymbol> symbols_;
  std::vector<HookLocation> hooks_;
  std::optional<SemaphoreTable> semaphores_;
};

}  // namespace resdb_trace::collector

#endif  // RESDB_TRACE_COLLECTOR_INGEST_ELF_BINARY_H_
