#include "collector/profile/elf_module.h"

#include <elf.h>
#include <elfutils/libdw.h>
#include <gelf.h>

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "lib/status_macros.h"

namespace resdb_trace::collector::profile {
namespace {

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

// Appends the defined functions of `file`'s .symtab and .dynsym; sets
// *has_symtab when a .symtab with contents was seen.
template <typename Raw>
void ReadSymbols(const ElfFile& file, std::vector<Raw>* out, bool* has_symtab) {
  const ElfSymbolTables tables =
      file.ForEachSymbol([out](const ElfSymbolEntry& entry) {
        int type = GELF_ST_TYPE(entry.sym.st_info);
        if (type != STT_FUNC && type != STT_GNU_IFUNC) return;
        if (entry.sym.st_value == 0) return;
        if (entry.name == nullptr || entry.name[0] == '\0') return;
        Raw s;
        s.start = entry.sym.st_value;
        s.size = entry.sym.st_size;
        s.name = entry.name;
        s.rank = RankOf(s.name, GELF_ST_BIND(entry.sym.st_info));
        out->push_back(std::move(s));
      });
  if (tables.symtab) *has_symtab = true;
}

}  // namespace

ElfModule::~ElfModule() {
  absl::MutexLock lock(&dwarf_mu_);
  if (dwarf_ != nullptr) dwarf_end(dwarf_);
  dwarf_ = nullptr;
}

absl::StatusOr<std::unique_ptr<ElfModule>> ElfModule::Open(
    const std::string& open_path, const std::string& display_path,
    const Options& options) {
  ASSIGN_OR_RETURN(ElfFile file, ElfFile::Open(open_path, display_path));
  std::unique_ptr<ElfModule> m(new ElfModule(std::move(file)));
  m->path_ = display_path;
  RETURN_IF_ERROR(m->LoadHeaders());
  std::vector<RawSymbol> raw;
  ReadSymbols(m->file_, &raw, &m->has_symtab_);
  m->OpenDebugInfo(options, &raw);
  m->FinishSymbols(std::move(raw));
  return m;
}

absl::StatusOr<std::unique_ptr<ElfModule>> ElfModule::OpenMemory(
    std::string image, const std::string& display_path) {
  ASSIGN_OR_RETURN(ElfFile file,
                   ElfFile::FromMemory(std::move(image), display_path));
  std::unique_ptr<ElfModule> m(new ElfModule(std::move(file)));
  m->path_ = display_path;
  RETURN_IF_ERROR(m->LoadHeaders());
  std::vector<RawSymbol> raw;
  ReadSymbols(m->file_, &raw, &m->has_symtab_);
  m->FinishSymbols(std::move(raw));
  return m;
}

absl::Status ElfModule::LoadHeaders() {
  RETURN_IF_ERROR(file_.Header().status());
  ASSIGN_OR_RETURN(std::vector<GElf_Phdr> phdrs, file_.ProgramHeaders());
  for (const GElf_Phdr& phdr : phdrs) {
    if (phdr.p_type != PT_LOAD) continue;
    segments_.push_back({phdr.p_vaddr, phdr.p_offset, phdr.p_filesz,
                         (phdr.p_flags & PF_X) != 0});
  }
  // executable segments first: code addresses resolve through them even
  // when a linker packs several segments into overlapping pages
  std::stable_sort(
      segments_.begin(), segments_.end(),
      [](const Segment& a, const Segment& b) { return a.exec && !b.exec; });
  build_id_ = file_.BuildId();
  return absl::OkStatus();
}

void ElfModule::OpenDebugInfo(const Options& options,
                              std::vector<RawSymbol>* raw) {
  const bool want_symbols = !has_symtab_;
  if (!options.line_numbers && !want_symbols) return;

  Dwarf* dw = options.line_numbers
                  ? dwarf_begin_elf(file_.elf(), DWARF_C_READ, nullptr)
                  : nullptr;
  if ((dw == nullptr || want_symbols) && build_id_.size() > 2) {
    for (const std::string& dir : options.debug_dirs) {
      std::string path =
          absl::StrCat(dir, "/.build-id/", build_id_.substr(0, 2), "/",
                       build_id_.substr(2), ".debug");
      absl::StatusOr<ElfFile> debug = ElfFile::Open(path);
      if (!debug.ok()) continue;
      debug_file_ = std::move(*debug);
      if (want_symbols) ReadSymbols(*debug_file_, raw, &has_symtab_);
      if (dw == nullptr && options.line_numbers) {
        dw = dwarf_begin_elf(debug_file_->elf(), DWARF_C_READ, nullptr);
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
