#include "collector/ingest/elf_binary.h"

#include <elf.h>
#include <gelf.h>
#include <libelf.h>

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "collector/ingest/elf_file.h"
#include "lib/catalogue.h"
#include "lib/status_macros.h"

namespace resdb_trace::collector {

std::optional<uint64_t> SemaphoreTable::SlotFileOffset(uint32_t id) const {
  // each slot is a uint16: the whole slot must lie inside the table
  if (uint64_t{2} * id + 2 > size) return std::nullopt;
  return file_offset + uint64_t{2} * id;
}

absl::StatusOr<ElfBinary> ElfBinary::Open(const std::string& path) {
  ASSIGN_OR_RETURN(ElfFile file, ElfFile::Open(path));
  ASSIGN_OR_RETURN(GElf_Ehdr ehdr, file.Header());
  ASSIGN_OR_RETURN(std::vector<GElf_Phdr> phdrs, file.ProgramHeaders());

  ElfBinary bin;
  bin.path_ = path;
  bin.dyn_ = ehdr.e_type == ET_DYN;
  bin.build_id_ = file.BuildId();

  bool has_interp = false;
  for (const GElf_Phdr& phdr : phdrs) {
    if (phdr.p_type == PT_INTERP) has_interp = true;
    if (phdr.p_type == PT_LOAD) {
      bin.segments_.push_back({phdr.p_vaddr, phdr.p_offset, phdr.p_filesz});
    }
  }

  bool df1_pie = false;
  file.ForEachSection([&](Elf_Scn* scn, const GElf_Shdr& shdr) {
    if (shdr.sh_type != SHT_DYNAMIC) return;
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (data == nullptr || shdr.sh_entsize == 0) return;
    size_t n = shdr.sh_size / shdr.sh_entsize;
    for (size_t i = 0; i < n; ++i) {
      GElf_Dyn dyn;
      if (gelf_getdyn(data, static_cast<int>(i), &dyn) == nullptr) break;
      if (dyn.d_tag == DT_FLAGS_1 && (dyn.d_un.d_val & DF_1_PIE) != 0) {
        df1_pie = true;
      }
    }
  });

  file.ForEachSymbol([&](const ElfSymbolEntry& entry) {
    if (entry.name == nullptr ||
        !absl::StartsWith(entry.name, catalogue::kSymbolPrefix)) {
      return;
    }
    int type = GELF_ST_TYPE(entry.sym.st_info);
    if (type != STT_FUNC && type != STT_OBJECT) return;
    // .symtab and .dynsym repeat each other; keep one entry per name
    for (ElfSymbol& s : bin.symbols_) {
      if (s.name == entry.name) {
        s.dynamic = s.dynamic || entry.dynamic;
        return;
      }
    }
    ElfSymbol s;
    s.name = entry.name;
    s.vaddr = entry.sym.st_value;
    s.size = entry.sym.st_size;
    s.dynamic = entry.dynamic;
    bin.symbols_.push_back(std::move(s));
  });
  bin.pie_ = bin.dyn_ && (df1_pie || has_interp);

  for (ElfSymbol& s : bin.symbols_) {
    // a .bss symbol has no file offset: neither a uprobe nor a ref_ctr fits
    absl::StatusOr<uint64_t> off = bin.VaddrToFileOffset(s.vaddr);
    s.file_backed = off.ok();
    if (off.ok()) s.file_offset = *off;
  }

  for (const catalogue::Hook& h : catalogue::Hooks()) {
    HookLocation hook;
    hook.id = h.id;
    hook.name = std::string(h.name);
    hook.symbol = std::string(h.symbol);
    std::optional<ElfSymbol> s = bin.FindSymbol(hook.symbol);
    if (s && s->file_backed) {
      hook.present = true;
      hook.vaddr = s->vaddr;
      hook.file_offset = s->file_offset;
    }
    bin.hooks_.push_back(std::move(hook));
  }

  std::optional<ElfSymbol> table = bin.FindSymbol(kSemaphoreSymbol);
  if (table && table->file_backed) {
    bin.semaphores_ =
        SemaphoreTable{table->vaddr, table->file_offset, table->size};
  }
  return bin;
}

const HookLocation* ElfBinary::FindHook(uint32_t id) const {
  for (const HookLocation& h : hooks_) {
    if (h.id == id) return &h;
  }
  return nullptr;
}

int ElfBinary::present_hook_count() const {
  int n = 0;
  for (const HookLocation& h : hooks_) n += h.present ? 1 : 0;
  return n;
}

std::optional<ElfSymbol> ElfBinary::FindSymbol(std::string_view name) const {
  for (const ElfSymbol& s : symbols_) {
    if (s.name == name) return s;
  }
  return std::nullopt;
}

absl::StatusOr<uint64_t> ElfBinary::VaddrToFileOffset(uint64_t vaddr) const {
  for (const LoadSegment& seg : segments_) {
    if (vaddr >= seg.vaddr && vaddr < seg.vaddr + seg.filesz) {
      return vaddr - seg.vaddr + seg.offset;
    }
  }
  return absl::NotFoundError(absl::StrFormat(
      "address 0x%x lies in no PT_LOAD segment's file image of %s", vaddr,
      path_));
}

}  // namespace resdb_trace::collector
