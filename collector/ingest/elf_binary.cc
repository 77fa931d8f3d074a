#include "collector/ingest/elf_binary.h"

#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "lib/catalogue.h"

namespace resdb_trace::collector {
namespace {

// Closes the descriptor and ends the libelf handle on every path.
class ElfHandle {
 public:
  ElfHandle() = default;
  ElfHandle(const ElfHandle&) = delete;
  ElfHandle& operator=(const ElfHandle&) = delete;
  ~ElfHandle() {
    if (elf_ != nullptr) elf_end(elf_);
    if (fd_ >= 0) close(fd_);
  }

  absl::Status Open(const std::string& path) {
    // libelf refuses to work until the caller states the version it speaks.
    if (elf_version(EV_CURRENT) == EV_NONE) {
      return absl::InternalError(
          absl::StrCat("libelf is unusable: ", elf_errmsg(-1)));
    }
    fd_ = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) {
      int err = errno;
      return absl::ErrnoToStatus(err, absl::StrCat("cannot open ", path));
    }
    elf_ = elf_begin(fd_, ELF_C_READ_MMAP, nullptr);
    if (elf_ == nullptr || elf_kind(elf_) != ELF_K_ELF) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, " is not an ELF file"));
    }
    return absl::OkStatus();
  }

  Elf* get() const { return elf_; }

 private:
  int fd_ = -1;
  Elf* elf_ = nullptr;
};

std::string Hex(const unsigned char* bytes, size_t n) {
  std::string out;
  out.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) absl::StrAppendFormat(&out, "%02x", bytes[i]);
  return out;
}

}  // namespace

std::optional<uint64_t> SemaphoreTable::SlotFileOffset(uint32_t id) const {
  // each slot is a uint16: the whole slot must lie inside the table
  if (uint64_t{2} * id + 2 > size) return std::nullopt;
  return file_offset + uint64_t{2} * id;
}

absl::StatusOr<ElfBinary> ElfBinary::Open(const std::string& path) {
  ElfHandle handle;
  if (absl::Status s = handle.Open(path); !s.ok()) return s;
  Elf* elf = handle.get();

  GElf_Ehdr ehdr;
  if (gelf_getehdr(elf, &ehdr) == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": cannot read the ELF header: ", elf_errmsg(-1)));
  }

  ElfBinary bin;
  bin.path_ = path;
  bin.dyn_ = ehdr.e_type == ET_DYN;

  size_t phnum = 0;
  if (elf_getphdrnum(elf, &phnum) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": cannot read the program headers: ", elf_errmsg(-1)));
  }
  bool has_interp = false;
  for (size_t i = 0; i < phnum; ++i) {
    GElf_Phdr phdr;
    if (gelf_getphdr(elf, static_cast<int>(i), &phdr) == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": cannot read program header ", i, ": ", elf_errmsg(-1)));
    }
    if (phdr.p_type == PT_INTERP) has_interp = true;
    if (phdr.p_type == PT_LOAD) {
      bin.segments_.push_back({phdr.p_vaddr, phdr.p_offset, phdr.p_filesz});
    }
  }

  bool df1_pie = false;
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr;
       scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr) continue;

    if (shdr.sh_type == SHT_NOTE && bin.build_id_.empty()) {
      Elf_Data* data = elf_getdata(scn, nullptr);
      if (data == nullptr) continue;
      GElf_Nhdr nhdr;
      size_t off = 0;
      size_t name_off = 0;
      size_t desc_off = 0;
      while ((off = gelf_getnote(data, off, &nhdr, &name_off, &desc_off)) > 0) {
        const char* note_name =
            static_cast<const char*>(data->d_buf) + name_off;
        if (nhdr.n_type == NT_GNU_BUILD_ID && nhdr.n_namesz == 4 &&
            std::memcmp(note_name, "GNU", 4) == 0) {
          bin.build_id_ =
              Hex(static_cast<const unsigned char*>(data->d_buf) + desc_off,
                  nhdr.n_descsz);
          break;
        }
      }
      continue;
    }

    if (shdr.sh_type == SHT_DYNAMIC) {
      Elf_Data* data = elf_getdata(scn, nullptr);
      if (data == nullptr || shdr.sh_entsize == 0) continue;
      size_t n = shdr.sh_size / shdr.sh_entsize;
      for (size_t i = 0; i < n; ++i) {
        GElf_Dyn dyn;
        if (gelf_getdyn(data, static_cast<int>(i), &dyn) == nullptr) break;
        if (dyn.d_tag == DT_FLAGS_1 && (dyn.d_un.d_val & DF_1_PIE) != 0) {
          df1_pie = true;
        }
      }
      continue;
    }

    if (shdr.sh_type != SHT_SYMTAB && shdr.sh_type != SHT_DYNSYM) continue;
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (data == nullptr || shdr.sh_entsize == 0) continue;
    const bool dynamic = shdr.sh_type == SHT_DYNSYM;
    size_t n = shdr.sh_size / shdr.sh_entsize;
    for (size_t i = 0; i < n; ++i) {
      GElf_Sym sym;
      if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr) break;
      if (sym.st_shndx == SHN_UNDEF) continue;
      const char* name = elf_strptr(elf, shdr.sh_link, sym.st_name);
      if (name == nullptr || !absl::StartsWith(name, catalogue::kSymbolPrefix))
        continue;
      int type = GELF_ST_TYPE(sym.st_info);
      if (type != STT_FUNC && type != STT_OBJECT) continue;
      // .symtab and .dynsym repeat each other; keep one entry per name
      bool seen = false;
      for (ElfSymbol& s : bin.symbols_) {
        if (s.name == name) {
          s.dynamic = s.dynamic || dynamic;
          seen = true;
          break;
        }
      }
      if (seen) continue;
      ElfSymbol s;
      s.name = name;
      s.vaddr = sym.st_value;
      s.size = sym.st_size;
      s.dynamic = dynamic;
      bin.symbols_.push_back(std::move(s));
    }
  }
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
