// Reads the ELF of a stripped copy of a PIE that links //:resdb_trace, the
// way the collector does (no root, no libelf): every catalogue hook must be
// an exported nop5+ret function and the semaphore table a file-backed
// .probes object, or uprobes with ref_ctr_offset cannot attach.
//
// Usage (from BUILD): binary_inspection_test <pie binary> <exports.bzl>
#include <elf.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "resdb_trace/hooks.h"

namespace {

std::string g_binary_path;
std::string g_exports_path;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in),
                     std::istreambuf_iterator<char>());
}

std::set<std::string> CatalogueSymbols() {
  std::set<std::string> names;
#define X(id, name, Name, abi, type, event, where, seq_arg, aux_arg) \
  names.insert("resdb_trace_" #name);
  RESDB_TRACE_HOOKS(X)
#undef X
  return names;
}

struct Symbol {
  uint64_t value = 0;
  uint64_t size = 0;
  unsigned type = 0;
  unsigned bind = 0;
  uint16_t shndx = 0;
};

// A minimal ELF64 little-endian reader: sections, segments, .dynsym.
class ElfImage {
 public:
  explicit ElfImage(std::string bytes) : bytes_(std::move(bytes)) {}

  bool Parse(std::string* error) {
    if (bytes_.size() < sizeof(Elf64_Ehdr) ||
        std::memcmp(bytes_.data(), ELFMAG, SELFMAG) != 0) {
      *error = "not an ELF file";
      return false;
    }
    std::memcpy(&ehdr_, bytes_.data(), sizeof(ehdr_));
    if (ehdr_.e_ident[EI_CLASS] != ELFCLASS64) {
      *error = "not ELF64";
      return false;
    }
    for (unsigned i = 0; i < ehdr_.e_shnum; ++i) {
      Elf64_Shdr shdr;
      std::memcpy(&shdr, At(ehdr_.e_shoff + i * ehdr_.e_shentsize),
                  sizeof(shdr));
      sections_.push_back(shdr);
    }
    for (unsigned i = 0; i < ehdr_.e_phnum; ++i) {
      Elf64_Phdr phdr;
      std::memcpy(&phdr, At(ehdr_.e_phoff + i * ehdr_.e_phentsize),
                  sizeof(phdr));
      segments_.push_back(phdr);
    }
    if (ehdr_.e_shstrndx >= sections_.size()) {
      *error = "no section name table";
      return false;
    }
    for (const Elf64_Shdr& shdr : sections_) {
      if (shdr.sh_type != SHT_DYNSYM) continue;
      const Elf64_Shdr& strtab = sections_.at(shdr.sh_link);
      for (uint64_t off = 0; off + sizeof(Elf64_Sym) <= shdr.sh_size;
           off += sizeof(Elf64_Sym)) {
        Elf64_Sym sym;
        std::memcpy(&sym, At(shdr.sh_offset + off), sizeof(sym));
        if (sym.st_name == 0) continue;
        const std::string name = At(strtab.sh_offset + sym.st_name);
        Symbol s;
        s.value = sym.st_value;
        s.size = sym.st_size;
        s.type = ELF64_ST_TYPE(sym.st_info);
        s.bind = ELF64_ST_BIND(sym.st_info);
        s.shndx = sym.st_shndx;
        dynsym_[name] = s;
      }
    }
    return true;
  }

  const Elf64_Ehdr& header() const { return ehdr_; }
  const std::vector<Elf64_Phdr>& segments() const { return segments_; }
  const std::map<std::string, Symbol>& dynsym() const { return dynsym_; }
  bool HasSection(const std::string& name) const {
    for (const Elf64_Shdr& shdr : sections_) {
      if (SectionName(shdr) == name) return true;
    }
    return false;
  }

  const Elf64_Shdr* Section(uint16_t index) const {
    return index < sections_.size() ? &sections_[index] : nullptr;
  }
  std::string SectionName(const Elf64_Shdr& shdr) const {
    return At(sections_[ehdr_.e_shstrndx].sh_offset + shdr.sh_name);
  }

  // File offset of a virtual address through the PT_LOAD that maps it from
  // the file (what the kernel's uprobe and ref_ctr_offset use); -1 if none.
  int64_t FileOffset(uint64_t vaddr, uint64_t len) const {
    for (const Elf64_Phdr& phdr : segments_) {
      if (phdr.p_type != PT_LOAD) continue;
      if (vaddr >= phdr.p_vaddr &&
          vaddr + len <= phdr.p_vaddr + phdr.p_filesz) {
        return static_cast<int64_t>(phdr.p_offset + (vaddr - phdr.p_vaddr));
      }
    }
    return -1;
  }

  std::string Bytes(uint64_t offset, size_t len) const {
    if (offset + len > bytes_.size()) return std::string();
    return bytes_.substr(offset, len);
  }

 private:
  const char* At(uint64_t offset) const {
    if (offset >= bytes_.size()) return "";
    return bytes_.data() + offset;
  }

  std::string bytes_;
  Elf64_Ehdr ehdr_{};
  std::vector<Elf64_Shdr> sections_;
  std::vector<Elf64_Phdr> segments_;
  std::map<std::string, Symbol> dynsym_;
};

std::string Hex(const std::string& bytes) {
  std::ostringstream out;
  for (unsigned char c : bytes) {
    static const char kDigits[] = "0123456789abcdef";
    out << kDigits[c >> 4] << kDigits[c & 15] << ' ';
  }
  return out.str();
}

class StrippedBinaryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const char* tmp = std::getenv("TEST_TMPDIR");
    stripped_path_ =
        std::string(tmp != nullptr ? tmp : "/tmp") + "/pie_probe.stripped";
    const std::string cmd =
        "strip -o '" + stripped_path_ + "' '" + g_binary_path + "'";
    strip_status_ = std::system(cmd.c_str());
    image_ = new ElfImage(ReadFile(stripped_path_));
    parsed_ = image_->Parse(&parse_error_);
  }
  static void TearDownTestSuite() {
    delete image_;
    image_ = nullptr;
  }
  void SetUp() override {
    ASSERT_EQ(strip_status_, 0) << "strip failed on " << g_binary_path;
    ASSERT_TRUE(parsed_) << stripped_path_ << ": " << parse_error_;
  }

  static std::string stripped_path_;
  static int strip_status_;
  static ElfImage* image_;
  static bool parsed_;
  static std::string parse_error_;
};

std::string StrippedBinaryTest::stripped_path_;
int StrippedBinaryTest::strip_status_ = -1;
ElfImage* StrippedBinaryTest::image_ = nullptr;
bool StrippedBinaryTest::parsed_ = false;
std::string StrippedBinaryTest::parse_error_;

TEST_F(StrippedBinaryTest, IsAStrippedPieExecutable) {
  EXPECT_EQ(image_->header().e_type, ET_DYN) << "not position independent";
  bool interp = false;
  for (const Elf64_Phdr& phdr : image_->segments()) {
    interp |= phdr.p_type == PT_INTERP;
  }
  EXPECT_TRUE(interp) << "a PIE executable has PT_INTERP; a .so would not";
  EXPECT_FALSE(image_->HasSection(".symtab")) << "strip left .symtab";
}

TEST_F(StrippedBinaryTest, EveryHookIsAnExportedNop5RetFunction) {
  const std::string expected("\x0f\x1f\x44\x00\x00\xc3", 6);
  const std::string endbr64("\xf3\x0f\x1e\xfa", 4);
  for (const std::string& name : CatalogueSymbols()) {
    SCOPED_TRACE(name);
    auto it = image_->dynsym().find(name);
    ASSERT_TRUE(it != image_->dynsym().end())
        << "not in .dynsym: missing from include/resdb_trace/exports.bzl?";
    const Symbol& sym = it->second;
    EXPECT_EQ(sym.type, static_cast<unsigned>(STT_FUNC));
    EXPECT_NE(sym.shndx, SHN_UNDEF) << "exported but not defined";
    EXPECT_EQ(sym.size, expected.size());
    EXPECT_EQ(sym.value % 16, 0u) << "hook not 16-byte aligned";
    const int64_t offset = image_->FileOffset(sym.value, expected.size());
    ASSERT_GE(offset, 0) << "hook not in a file-backed PT_LOAD";
    const std::string bytes = image_->Bytes(offset, expected.size());
    EXPECT_EQ(Hex(bytes), Hex(expected)) << "hook body is not nop5; ret";
    EXPECT_NE(bytes.substr(0, 4), endbr64) << "hook starts with endbr64";
    const Elf64_Shdr* section = image_->Section(sym.shndx);
    ASSERT_NE(section, nullptr);
    EXPECT_TRUE(section->sh_flags & SHF_EXECINSTR);
  }
}

TEST_F(StrippedBinaryTest, SemaphoreTableIsAFileBackedProbesObject) {
  auto it = image_->dynsym().find("resdb_trace_semaphores");
  ASSERT_TRUE(it != image_->dynsym().end()) << "semaphore table not exported";
  const Symbol& sym = it->second;
  EXPECT_EQ(sym.type, static_cast<unsigned>(STT_OBJECT));
  EXPECT_EQ(sym.size, 2u * RESDB_TRACE_SEMAPHORE_SLOTS);
  EXPECT_EQ(sym.size, 128u);
  const Elf64_Shdr* section = image_->Section(sym.shndx);
  ASSERT_NE(section, nullptr) << "semaphore table has no section";
  EXPECT_EQ(image_->SectionName(*section), ".probes");
  EXPECT_EQ(section->sh_type, static_cast<uint32_t>(SHT_PROGBITS))
      << ".probes must be file-backed (not NOBITS) for ref_ctr_offset";
  EXPECT_TRUE(section->sh_flags & SHF_WRITE);
  EXPECT_TRUE(section->sh_flags & SHF_ALLOC);
  // ref_ctr_offset is the table's file offset: it must be mapped from the
  // file, and the section and segment views must agree on it.
  const int64_t offset = image_->FileOffset(sym.value, sym.size);
  ASSERT_GE(offset, 0) << "semaphores not in a PT_LOAD's file image";
  EXPECT_EQ(static_cast<uint64_t>(offset),
            section->sh_offset + (sym.value - section->sh_addr));
  EXPECT_EQ(image_->Bytes(offset, sym.size), std::string(sym.size, '\0'))
      << "semaphores must start at zero in the file";
}

TEST_F(StrippedBinaryTest, NoResdbTraceSymbolOutsideTheCatalogue) {
  std::set<std::string> allowed = CatalogueSymbols();
  allowed.insert("resdb_trace_semaphores");
  for (const auto& entry : image_->dynsym()) {
    if (entry.first.rfind("resdb_trace_", 0) != 0) continue;
    EXPECT_TRUE(allowed.count(entry.first))
        << entry.first << " is exported but not in catalog.h";
  }
}

TEST(ExportsTest, ExportListMatchesTheCatalogueExactly) {
  const std::string text = ReadFile(g_exports_path);
  ASSERT_FALSE(text.empty()) << "cannot read " << g_exports_path;
  // Only the list literal, not the docstring.
  const size_t begin = text.find("RESDB_TRACE_EXPORTED_SYMBOLS = [");
  ASSERT_NE(begin, std::string::npos);
  const size_t end = text.find(']', begin);
  ASSERT_NE(end, std::string::npos);
  const std::string list = text.substr(begin, end - begin);
  std::set<std::string> exported;
  std::vector<std::string> in_order;
  const std::regex quoted("\"([A-Za-z0-9_]+)\"");
  for (auto it = std::sregex_iterator(list.begin(), list.end(), quoted);
       it != std::sregex_iterator(); ++it) {
    in_order.push_back((*it)[1]);
    exported.insert((*it)[1]);
  }
  EXPECT_EQ(in_order.size(), exported.size()) << "duplicate export";
  std::set<std::string> expected = CatalogueSymbols();
  expected.insert("resdb_trace_semaphores");
  for (const std::string& name : expected) {
    EXPECT_TRUE(exported.count(name)) << name << " missing from exports.bzl";
  }
  for (const std::string& name : exported) {
    EXPECT_TRUE(expected.count(name))
        << name << " in exports.bzl but not in catalog.h";
  }
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s <pie binary> <exports.bzl>\n", argv[0]);
    return 2;
  }
  g_binary_path = argv[1];
  g_exports_path = argv[2];
  return RUN_ALL_TESTS();
}
