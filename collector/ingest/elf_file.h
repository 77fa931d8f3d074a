// The libelf plumbing the ELF readers share (ElfBinary for attaching,
// profile::ElfModule for symbolizing): an owner of one open ELF file or
// in-memory image, its headers, its sections and symbols, and its build id.
#ifndef RESDB_TRACE_COLLECTOR_INGEST_ELF_FILE_H_
#define RESDB_TRACE_COLLECTOR_INGEST_ELF_FILE_H_

#include <gelf.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace resdb_trace::collector {

// One symbol table entry as ElfFile::ForEachSymbol hands it out.
struct ElfSymbolEntry {
  const GElf_Sym& sym;
  const char* name;  // from the table's string table; nullptr if unreadable.
  bool dynamic;      // from .dynsym (survives strip), else .symtab.
};

// Which symbol tables ForEachSymbol found with contents.
struct ElfSymbolTables {
  bool symtab = false;
  bool dynsym = false;
};

// Owns a libelf handle and what it reads from (a file descriptor or a copy
// of an image); movable, closed on every path.
class ElfFile {
 public:
  // Opens `path` for reading. Errors: NotFound / PermissionDenied ("cannot
  // open <path>: <strerror>"), InvalidArgument ("<path> is not an ELF
  // file"). `name` (default: `path`) is what later errors call the file,
  // for callers that open an alias such as /proc/PID/root/...
  static absl::StatusOr<ElfFile> Open(const std::string& path,
                                      const std::string& name = "");
  // Reads an image copied out of memory (the vDSO). InvalidArgument
  // ("<name> is not an ELF image") when it is not one.
  static absl::StatusOr<ElfFile> FromMemory(std::string image,
                                            const std::string& name);

  ElfFile(ElfFile&& other) noexcept;
  ElfFile& operator=(ElfFile&& other) noexcept;
  ElfFile(const ElfFile&) = delete;
  ElfFile& operator=(const ElfFile&) = delete;
  ~ElfFile();

  Elf* elf() const { return elf_; }
  const std::string& name() const { return name_; }

  // The ELF header. InvalidArgument ("<name>: cannot read the ELF header:
  // <libelf message>") when it is malformed.
  absl::StatusOr<GElf_Ehdr> Header() const;
  // Every program header, in file order. InvalidArgument naming the file
  // when the table or one of its entries cannot be read.
  absl::StatusOr<std::vector<GElf_Phdr>> ProgramHeaders() const;

  // Calls `fn` for every section whose header can be read, in file order.
  void ForEachSection(
      const std::function<void(Elf_Scn*, const GElf_Shdr&)>& fn) const;
  // Calls `fn` for every defined (st_shndx != SHN_UNDEF) entry of every
  // .symtab and .dynsym with contents, in section order. Tables without
  // contents (SHT_NOBITS in a stripped debug file) are skipped.
  ElfSymbolTables ForEachSymbol(
      const std::function<void(const ElfSymbolEntry&)>& fn) const;

  // NT_GNU_BUILD_ID as lowercase hex (libdw's dwelf_elf_gnu_build_id); ""
  // when the file has none.
  std::string BuildId() const;

 private:
  ElfFile() = default;
  void Reset();

  std::string name_;
  int fd_ = -1;
  // FromMemory's copy, which elf_ reads; on the heap so a move keeps it put.
  std::unique_ptr<std::string> image_;
  Elf* elf_ = nullptr;
};

}  // namespace resdb_trace::collector

#endif  // RESDB_TRACE_COLLECTOR_INGEST_ELF_FILE_H_
