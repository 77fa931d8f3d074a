#include "collector/ingest/elf_file.h"

#include <elf.h>
#include <elfutils/libdwelf.h>
#include <fcntl.h>
#include <libelf.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace resdb_trace::collector {
namespace {

absl::Status InitLibelf() {
  // libelf refuses to work until the caller states the version it speaks
  if (elf_version(EV_CURRENT) == EV_NONE) {
    return absl::InternalError(
        absl::StrCat("libelf is unusable: ", elf_errmsg(-1)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ElfFile> ElfFile::Open(const std::string& path,
                                      const std::string& name) {
  if (absl::Status s = InitLibelf(); !s.ok()) return s;
  ElfFile file;
  file.name_ = name.empty() ? path : name;
  file.fd_ = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (file.fd_ < 0) {
    int err = errno;
    return absl::ErrnoToStatus(err, absl::StrCat("cannot open ", path));
  }
  file.elf_ = elf_begin(file.fd_, ELF_C_READ_MMAP, nullptr);
  if (file.elf_ == nullptr || elf_kind(file.elf_) != ELF_K_ELF) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not an ELF file"));
  }
  return file;
}

absl::StatusOr<ElfFile> ElfFile::FromMemory(std::string image,
                                            const std::string& name) {
  if (absl::Status s = InitLibelf(); !s.ok()) return s;
  ElfFile file;
  file.name_ = name;
  file.image_ = std::make_unique<std::string>(std::move(image));
  file.elf_ = elf_memory(file.image_->data(), file.image_->size());
  if (file.elf_ == nullptr || elf_kind(file.elf_) != ELF_K_ELF) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " is not an ELF image"));
  }
  return file;
}

ElfFile::ElfFile(ElfFile&& other) noexcept { *this = std::move(other); }

ElfFile& ElfFile::operator=(ElfFile&& other) noexcept {
  if (this != &other) {
    Reset();
    name_ = std::move(other.name_);
    fd_ = std::exchange(other.fd_, -1);
    image_ = std::move(other.image_);
    elf_ = std::exchange(other.elf_, nullptr);
  }
  return *this;
}

ElfFile::~ElfFile() { Reset(); }

void ElfFile::Reset() {
  // the handle reads the descriptor or the image: end it first
  if (elf_ != nullptr) elf_end(elf_);
  elf_ = nullptr;
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  image_.reset();
}

absl::StatusOr<GElf_Ehdr> ElfFile::Header() const {
  GElf_Ehdr ehdr;
  if (gelf_getehdr(elf_, &ehdr) == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(name_, ": cannot read the ELF header: ", elf_errmsg(-1)));
  }
  return ehdr;
}

absl::StatusOr<std::vector<GElf_Phdr>> ElfFile::ProgramHeaders() const {
  size_t phnum = 0;
  if (elf_getphdrnum(elf_, &phnum) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        name_, ": cannot read the program headers: ", elf_errmsg(-1)));
  }
  std::vector<GElf_Phdr> phdrs(phnum);
  for (size_t i = 0; i < phnum; ++i) {
    if (gelf_getphdr(elf_, static_cast<int>(i), &phdrs[i]) == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          name_, ": cannot read program header ", i, ": ", elf_errmsg(-1)));
    }
  }
  return phdrs;
}

void ElfFile::ForEachSection(
    const std::function<void(Elf_Scn*, const GElf_Shdr&)>& fn) const {
  for (Elf_Scn* scn = elf_nextscn(elf_, nullptr); scn != nullptr;
       scn = elf_nextscn(elf_, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr) continue;
    fn(scn, shdr);
  }
}

ElfSymbolTables ElfFile::ForEachSymbol(
    const std::function<void(const ElfSymbolEntry&)>& fn) const {
  ElfSymbolTables seen;
  ForEachSection([&](Elf_Scn* scn, const GElf_Shdr& shdr) {
    if (shdr.sh_type != SHT_SYMTAB && shdr.sh_type != SHT_DYNSYM) return;
    // NOBITS: a stripped debug file keeps the header but not the contents
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (data == nullptr || data->d_buf == nullptr || shdr.sh_entsize == 0) {
      return;
    }
    const bool dynamic = shdr.sh_type == SHT_DYNSYM;
    (dynamic ? seen.dynsym : seen.symtab) = true;
    const size_t n = shdr.sh_size / shdr.sh_entsize;
    for (size_t i = 0; i < n; ++i) {
      GElf_Sym sym;
      if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr) break;
      if (sym.st_shndx == SHN_UNDEF) continue;
      fn(ElfSymbolEntry{sym, elf_strptr(elf_, shdr.sh_link, sym.st_name),
                        dynamic});
    }
  });
  return seen;
}

std::string ElfFile::BuildId() const {
  const void* bits = nullptr;
  const ssize_t n = dwelf_elf_gnu_build_id(elf_, &bits);
  if (n <= 0 || bits == nullptr) return "";
  std::string hex;
  hex.reserve(2 * static_cast<size_t>(n));
  for (ssize_t i = 0; i < n; ++i) {
    absl::StrAppendFormat(&hex, "%02x",
                          static_cast<const unsigned char*>(bits)[i]);
  }
  return hex;
}

}  // namespace resdb_trace::collector
