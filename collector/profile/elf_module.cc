#include "collector/profile/elf_module.h"

#include <elf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <tuple>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace resdb_trace::collector::profile {
namespace {

std::string Hex(const unsigned char* bytes, size_t n) {
  std::string out;
  out.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) absl::StrAppendFormat(&out, "%02x", bytes[i]);
  return out;
}

absl::Status InitLibelf() {
  // libelf refuses to work until the caller states the version it speaks
  if (elf_version(EV_CURRENT) == EV_NONE) {
    return absl::InternalError(
        absl::StrCat("libelf is unusable: ", elf_errmsg(-1)));
  }
  return absl::OkStatus();
}

// Which of several names of one address a frame shows: the one with the
// fewest leading underscores (getpid, not __getpid), then global over weak
// over local, then the shorter.
struct AliasRank {
  size_t underscores = 0;
  int binding = 0;
  size_t length = 0;
  bool operator<(const AliasRank& o) const {
    return std::tie(underscores, binding, length) <
           std::tie(o.underscores, o.binding, o.length);
  }
};

AliasRank RankOf(const std::string& name, unsigned char bind) {
  int b = bind == STB_GLOBAL ? 0 : bind == STB_WEAK ? 1 : 2;
  size_t u = 0;
  while (u < name.size() && name[u] == '_') ++u;
  return {u, b, name.size()};
}

}  // namespace

struct ElfModule::RawSymbol {
  uint64_t start = 0;
  uint64_t size = 0;
  std::string name;
  AliasRank rank;
};

namespace {

// Appends the defined functions of every SHT_SYMTAB / SHT_DYNSYM section;
// sets *has_symtab when a .symtab with contents was seen.
template <typename Raw>
void ReadSymbols(Elf* elf, std::vector<Raw>* out, bool* has_symtab) {
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr;
       scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr) continue;
    if (shdr.sh_type != SHT_SYMTAB && shdr.sh_type != SHT_DYNSYM) continue;
    // NOBITS: a stripped debug file keeps the header but not the contents
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (data == nullptr || data->d_buf == nullptr || shdr.sh_entsize == 0) {
      continue;
    }
    if (shdr.sh_type == SHT_SYMTAB) *has_symtab = true;
    size_t n = shdr.sh_size / shdr.sh_entsize;
    for (size_t i = 0; i < n; ++i) {
      GElf_Sym sym;
      if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr) break;
      int type = GELF_ST_TYPE(sym.st_info);
      if (type != STT_FUNC && type != STT_GNU_IFUNC) continue;
      if (sym.st_shndx == SHN_UNDEF || sym.st_value == 0) continue;
      const char* name = elf_strptr(elf, shdr.sh_link, sym.st_name);
      if (name == nullptr || name[0] == '\0') continue;
      Raw s;
      s.start = sym.st_value;
      s.size = sym.st_size;
      s.name = name;
      s.rank = RankOf(s.name, GELF_ST_BIND(sym.st_info));
      out->push_back(std::move(s));
    }
  }
}

}  // namespace

ElfModule::~ElfModule() {
  {
    absl::MutexLock lock(&dwarf_mu_);
    if (dwarf_ != nullptr) dwarf_end(dwarf_);
    dwarf_ = nullptr;
  }
  if (debug_elf_ != nullptr) elf_end(debug_elf_);
  if (debug_fd_ >= 0) close(debug_fd_);
  if (elf_ != nullptr) elf_end(elf_);
  if (fd_ >= 0) close(fd_);
}

absl::StatusOr<std::unique_ptr<ElfModule>> ElfModule::Open(
    const std::string& open_path, const std::string& display_path,
    const Options& options) {
  if (absl::Status s = InitLibelf(); !s.ok()) return s;
  std::unique_ptr<ElfModule> m(new ElfModule());
  m->path_ = display_path;
  m->fd_ = open(open_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (m->fd_ < 0) {
    int err = errno;
    return absl::ErrnoToStatus(err, absl::StrCat("cannot open ", open_path));
  }
  m->elf_ = elf_begin(m->fd_, ELF_C_READ_MMAP, nullptr);
  if (m->elf_ == nullptr || elf_kind(m->elf_) != ELF_K_ELF) {
    return absl::InvalidArgumentError(
        absl::StrCat(open_path, " is not an ELF file"));
  }
  if (absl::Status s = m->LoadHeaders(); !s.ok()) return s;
  std::vector<RawSymbol> raw;
  ReadSymbols(m->elf_, &raw, &m->has_symtab_);
  m->OpenDebugInfo(options, &raw);
  m->FinishSymbols(std::move(raw));
  return m;
}

absl::StatusOr<std::unique_ptr<ElfModule>> ElfModule::OpenMemory(
    std::string image, const std::string& display_path) {
  if (absl::Status s = InitLibelf(); !s.ok()) return s;
  std::unique_ptr<ElfModule> m(new ElfModule());
  m->path_ = display_path;
  m->image_ = std::move(image);
  m->elf_ = elf_memory(m->image_.data(), m->image_.size());
  if (m->elf_ == nullptr || elf_kind(m->elf_) != ELF_K_ELF) {
    return absl::InvalidArgumentError(
        absl::StrCat(display_path, " is not an ELF image"));
  }
  if (absl::Status s = m->LoadHeaders(); !s.ok()) return s;
  std::vector<RawSymbol> raw;
  ReadSymbols(m->elf_, &raw, &m->has_symtab_);
  m->FinishSymbols(std::move(raw));
  return m;
}

absl::Status ElfModule::LoadHeaders() {
  GElf_Ehdr ehdr;
  if (gelf_getehdr(elf_, &ehdr) == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ": cannot read the ELF header: ", elf_errmsg(-1)));
  }
  size_t phnum = 0;
  if (elf_getphdrnum(elf_, &phnum) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        path_, ": cannot read the program headers: ", elf_errmsg(-1)));
  }
  for (size_t i = 0; i < phnum; ++i) {
    GElf_Phdr phdr;
    if (gelf_getphdr(elf_, static_cast<int>(i), &phdr) == nullptr) continue;
    if (phdr.p_type != PT_LOAD) continue;
    segments_.push_back({phdr.p_vaddr, phdr.p_offset, phdr.p_filesz,
                         (phdr.p_flags & PF_X) != 0});
  }
  // executable segments first: code addresses resolve through them even
  // when a linker packs several segments into overlapping pages
  std::stable_sort(
      segments_.begin(), segments_.end(),
      [](const Segment& a, const Segment& b) { return a.exec && !b.exec; });

  for (Elf_Scn* scn = elf_nextscn(elf_, nullptr); scn != nullptr;
       scn = elf_nextscn(elf_, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_type != SHT_NOTE) {
      continue;
    }
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (data == nullptr || data->d_buf == nullptr) continue;
    GElf_Nhdr nhdr;
    size_t off = 0;
    size_t name_off = 0;
    size_t desc_off = 0;
    while ((off = gelf_getnote(data, off, &nhdr, &name_off, &desc_off)) > 0) {
      const char* note_name = static_cast<const char*>(data->d_buf) + name_off;
      if (nhdr.n_type == NT_GNU_BUILD_ID && nhdr.n_namesz == 4 &&
          std::memcmp(note_name, "GNU", 4) == 0) {
        build_id_ =
            Hex(static_cast<const unsigned char*>(data->d_buf) + desc_off,
                nhdr.n_descsz);
        break;
      }
    }
    if (!build_id_.empty()) break;
  }
  return absl::OkStatus();
}

void ElfModule::OpenDebugInfo(const Options& options,
                              std::vector<RawSymbol>* raw) {
  const bool want_symbols = !has_symtab_;
  if (!options.line_numbers && !want_symbols) return;

  Dwarf* dw = options.line_numbers
                  ? dwarf_begin_elf(elf_, DWARF_C_READ, nullptr)
                  : nullptr;
  if ((dw == nullptr || want_symbols) && build_id_.size() > 2) {
    for (const std::string& dir : options.debug_dirs) {
      std::string path =
          absl::StrCat(dir, "/.build-id/", build_id_.substr(0, 2), "/",
                       build_id_.substr(2), ".debug");
      int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) continue;
      Elf* elf = elf_begin(fd, ELF_C_READ_MMAP, nullptr);
      if (elf == nullptr || elf_kind(elf) != ELF_K_ELF) {
        if (elf != nullptr) elf_end(elf);
        close(fd);
        continue;
      }
      debug_fd_ = fd;
      debug_elf_ = elf;
      if (want_symbols) ReadSymbols(elf, raw, &has_symtab_);
      if (dw == nullptr && options.line_numbers) {
        dw = dwarf_begin_elf(elf, DWARF_C_READ, nullptr);
      }
      break;
    }
  }
  if (dw == nullptr) return;
  absl::MutexLock lock(&dwarf_mu_);
  dwarf_ = dw;
}

void ElfModule::FinishSymbols(std::vector<RawSymbol> raw) {
  std::sort(raw.begin(), raw.end(), [](const RawSymbol& a, const RawSymbol& b) {
    if (a.start != b.start) return a.start < b.start;
    if (a.rank < b.rank || b.rank < a.rank) return a.rank < b.rank;
    return a.name < b.name;
  });
  functions_.clear();
  functions_.reserve(raw.size());
  for (RawSymbol& s : raw) {
    // one function per address: the best-ranked alias came first
    if (!functions_.empty() && functions_.back().start == s.start) {
      ElfFunction& prev = functions_.back();
      prev.end = std::max(prev.end, s.start + s.size);
      continue;
    }
    functions_.push_back({s.start, s.start + s.size, std::move(s.name)});
  }
  // size-0 symbols (hand-written assembly) extend to the next symbol
  for (size_t i = 0; i < functions_.size(); ++i) {
    ElfFunction& f = functions_[i];
    if (f.end > f.start) continue;
    f.end = i + 1 < functions_.size() ? functions_[i + 1].start : f.start + 1;
  }
}

std::optional<uint64_t> ElfModule::FileOffsetToAddress(uint64_t offset) const {
  for (const Segment& seg : segments_) {
    if (offset >= seg.offset && offset - seg.offset < seg.filesz) {
      return offset - seg.offset + seg.vaddr;
    }
  }
  return std::nullopt;
}

const ElfFunction* ElfModule::FindFunction(uint64_t addr) const {
  // last function starting at or before addr
  auto it = std::upper_bound(
      functions_.begin(), functions_.end(), addr,
      [](uint64_t a, const ElfFunction& f) { return a < f.start; });
  if (it == functions_.begin()) return nullptr;
  --it;
  if (addr >= it->end) return nullptr;
  return &*it;
}

std::optional<SourceLine> ElfModule::FindLine(uint64_t addr) const {
  absl::MutexLock lock(&dwarf_mu_);
  if (dwarf_ == nullptr) return std::nullopt;
  Dwarf_Die cudie;
  if (dwarf_addrdie(dwarf_, addr, &cudie) == nullptr) {
    // no .debug_aranges (clang's default): walk the units' ranges
    Dwarf_Off off = 0;
    Dwarf_Off next = 0;
    size_t header = 0;
    bool found = false;
    while (!found && dwarf_nextcu(dwarf_, off, &next, &header, nullptr, nullptr,
                                  nullptr) == 0) {
      if (dwarf_offdie(dwarf_, off + header, &cudie) != nullptr &&
          dwarf_haspc(&cudie, addr) == 1) {
        found = true;
      }
      off = next;
    }
    if (!found) return std::nullopt;
  }
  Dwarf_Line* line = dwarf_getsrc_die(&cudie, addr);
  if (line == nullptr) return std::nullopt;
  int lineno = 0;
  if (dwarf_lineno(line, &lineno) != 0 || lineno <= 0) return std::nullopt;
  const char* file = dwarf_linesrc(line, nullptr, nullptr);
  SourceLine out;
  out.file = file != nullptr ? file : "";
  out.line = static_cast<uint32_t>(lineno);
  return out;
}

}  // namespace resdb_trace::collector::profile
