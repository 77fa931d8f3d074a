// The symbolizer without BPF: this process's own code and libc, a fake
// /proc tree that maps the test targets at made-up PIE load addresses
// (unstripped, stripped with .dynsym, fully stripped, deleted), processes
// that vanish, module sharing, and kernel symbols from a fake kallsyms.
#include "collector/profile/symbolizer.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"

namespace symbolizer_test_fns {
constexpr int kMarkerLine = __LINE__ + 1;
__attribute__((noipa)) int Marker(int x) { return x * 3 + 1; }
}  // namespace symbolizer_test_fns

namespace resdb_trace::collector::profile {
namespace {

constexpr char kBurnSeventy[] = "_ZN20resdb_profile_target11BurnSeventyEmm";
constexpr char kBurnSeventyDemangled[] =
    "resdb_profile_target::BurnSeventy(unsigned long, unsigned long)";

std::string Runfile(const std::string& path) {
  char resolved[PATH_MAX];
  if (realpath(path.c_str(), resolved) == nullptr) return path;
  return resolved;
}

// What the test needs from an ELF file, read with libelf directly (not
// with the code under test): the executable PT_LOAD and a symbol's value.
struct ElfFacts {
  uint64_t exec_vaddr = 0;
  uint64_t exec_offset = 0;
  uint64_t exec_filesz = 0;
  uint64_t symbol = 0;  // 0 when absent
};

ElfFacts ReadElfFacts(const std::string& path, const std::string& symbol) {
  ElfFacts facts;
  elf_version(EV_CURRENT);
  int fd = open(path.c_str(), O_RDONLY);
  EXPECT_GE(fd, 0) << path;
  if (fd < 0) return facts;
  Elf* elf = elf_begin(fd, ELF_C_READ, nullptr);
  size_t n = 0;
  elf_getphdrnum(elf, &n);
  for (size_t i = 0; i < n; ++i) {
    GElf_Phdr ph;
    gelf_getphdr(elf, static_cast<int>(i), &ph);
    if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X)) {
      facts.exec_vaddr = ph.p_vaddr;
      facts.exec_offset = ph.p_offset;
      facts.exec_filesz = ph.p_filesz;
    }
  }
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr;
       scn = elf_nextscn(elf, scn)) {
    GElf_Shdr sh;
    gelf_getshdr(scn, &sh);
    if (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM) continue;
    Elf_Data* data = elf_getdata(scn, nullptr);
    for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; ++i) {
      GElf_Sym sym;
      gelf_getsym(data, static_cast<int>(i), &sym);
      const char* name = elf_strptr(elf, sh.sh_link, sym.st_name);
      if (name != nullptr && symbol == name && sym.st_value != 0) {
        facts.symbol = sym.st_value;
      }
    }
  }
  elf_end(elf);
  close(fd);
  return facts;
}

// A /proc look-alike in a temporary directory.
class FakeProc {
 public:
  FakeProc() {
    char tmpl[] = "/tmp/resdb_fake_proc_XXXXXX";
    root_ = mkdtemp(tmpl);
  }
  ~FakeProc() { std::filesystem::remove_all(root_); }
  const std::string& root() const { return root_; }

  void WriteMaps(uint32_t pid, const std::string& text) {
    std::filesystem::create_directories(absl::StrCat(root_, "/", pid));
    std::ofstream(absl::StrCat(root_, "/", pid, "/maps")) << text;
  }
  void Remove(uint32_t pid) {
    std::filesystem::remove_all(absl::StrCat(root_, "/", pid));
  }

 private:
  std::string root_;
};

// A maps line that places the executable segment of `path` at `base` the
// way ld.so does (page-aligned).
std::string ExecLine(uint64_t base, const ElfFacts& f, const std::string& path,
                     bool deleted = false) {
  const uint64_t page_vaddr = f.exec_vaddr & ~uint64_t{0xfff};
  const uint64_t page_offset = f.exec_offset & ~uint64_t{0xfff};
  const uint64_t size =
      ((f.exec_vaddr + f.exec_filesz - page_vaddr) + 0xfff) & ~uint64_t{0xfff};
  return absl::StrFormat("%x-%x r-xp %08x 08:01 4242 %s%s\n", base, base + size,
                         page_offset, path, deleted ? " (deleted)" : "");
}

uint64_t RuntimeAddress(uint64_t base, const ElfFacts& f, uint64_t vaddr) {
  return base + (vaddr - (f.exec_vaddr & ~uint64_t{0xfff}));
}

TEST(DemangleTest, DemanglesCppAndLeavesTheRest) {
  EXPECT_EQ(Demangle(kBurnSeventy), kBurnSeventyDemangled);
  EXPECT_EQ(Demangle("main"), "main");
  EXPECT_EQ(Demangle("_Zgarbage"), "_Zgarbage");
  EXPECT_EQ(Demangle(""), "");
}

TEST(SymbolizerTest, OwnFunctionWithDemangledNameAndLine) {
  Symbolizer sym;
  ASSERT_TRUE(sym.AddProcess(getpid()).ok());
  const uint64_t addr =
      reinterpret_cast<uintptr_t>(&symbolizer_test_fns::Marker);
  Frame f = sym.SymbolizeUser(getpid(), addr, /*return_address=*/false);
  EXPECT_EQ(f.kind, Frame::Kind::kUser);
  EXPECT_EQ(f.function, "symbolizer_test_fns::Marker(int)");
  EXPECT_EQ(f.mangled, "_ZN19symbolizer_test_fns6MarkerEi");
  EXPECT_EQ(f.module, Runfile("/proc/self/exe"));
  EXPECT_FALSE(f.build_id.empty());
  EXPECT_TRUE(absl::EndsWith(f.file, "tests/collector/profile/symbolizer_test.cc"))
      << f.file;
  EXPECT_GE(f.line, static_cast<uint32_t>(symbolizer_test_fns::kMarkerLine));
  EXPECT_LE(f.line,
            static_cast<uint32_t>(symbolizer_test_fns::kMarkerLine + 1));
  EXPECT_EQ(f.Label(), "symbolizer_test_fns::Marker(int)");

  // a return address just past the function's first byte is still in it
  Frame ret = sym.SymbolizeUser(getpid(), addr + 1, /*return_address=*/true);
  EXPECT_EQ(ret.function, f.function);
  EXPECT_EQ(ret.address, f.address);
}

TEST(SymbolizerTest, LibcFunctionByItsPlainName) {
  Symbolizer sym;
  ASSERT_TRUE(sym.AddProcess(getpid()).ok());
  pid_t (*fn)() = &getpid;
  Frame f = sym.SymbolizeUser(getpid(), reinterpret_cast<uintptr_t>(fn), false);
  // getpid and __getpid share the address: the plain name wins
  EXPECT_EQ(f.function, "getpid");
  EXPECT_TRUE(absl::StartsWith(f.ModuleBaseName(), "libc.so")) << f.module;
}

TEST(SymbolizerTest, UnknownAddressesNeverFail) {
  Symbolizer::Options options;
  options.min_refresh_interval = absl::ZeroDuration();
  Symbolizer sym(options);
  ASSERT_TRUE(sym.AddProcess(getpid()).ok());

  // executable memory mapped after the snapshot (JIT-like): the miss makes
  // the symbolizer re-read the maps, and the frame names the mapping
  void* anon = mmap(nullptr, 4096, PROT_READ | PROT_EXEC,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(anon, MAP_FAILED);
  Frame jit = sym.SymbolizeUser(
      getpid(), reinterpret_cast<uintptr_t>(anon) + 0x10, false);
  munmap(anon, 4096);
  EXPECT_FALSE(jit.known());
  EXPECT_EQ(jit.module, "[anon]");
  EXPECT_EQ(jit.address, 0x10u);
  EXPECT_EQ(jit.Label(), "[unknown] [anon]+0x10");

  Frame nowhere = sym.SymbolizeUser(getpid(), 0x10, false);
  EXPECT_FALSE(nowhere.known());
  EXPECT_EQ(nowhere.module, "");
  EXPECT_EQ(nowhere.Label(), "[unknown]");

  Frame stranger = sym.SymbolizeUser(1u << 30, 0x401000, false);
  EXPECT_FALSE(stranger.known());
  EXPECT_EQ(stranger.Label(), "[unknown]");
  EXPECT_GE(sym.stats().unknown_frames, 3u);
}

TEST(SymbolizerTest, MissingProcessIsNotFound) {
  Symbolizer sym;
  absl::Status s = sym.AddProcess(1u << 30);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(s.message().find("1073741824"), std::string::npos) << s;
  EXPECT_FALSE(sym.HasProcess(1u << 30));
}

TEST(SymbolizerTest, RelocatedPieUnstrippedAndStripped) {
  FakeProc proc;
  Symbolizer::Options options;
  options.proc_root = proc.root();

  const std::string unstripped = Runfile("tests/testdata/profile_target");
  const std::string stripped =
      Runfile("tests/testdata/profile_target_stripped");
  const ElfFacts a = ReadElfFacts(unstripped, kBurnSeventy);
  const ElfFacts b = ReadElfFacts(stripped, kBurnSeventy);
  ASSERT_NE(a.symbol, 0u);
  ASSERT_NE(b.symbol, 0u) << "the stripped target must export the symbol";

  const uint64_t base_a = 0x555555554000;
  const uint64_t base_b = 0x7f1234560000;
  proc.WriteMaps(100, ExecLine(base_a, a, unstripped));
  proc.WriteMaps(200, ExecLine(base_b, b, stripped));

  Symbolizer sym_a(options);
  ASSERT_TRUE(sym_a.AddProcess(100).ok());
  // a return address inside the function (past its first instruction)
  Frame fa =
      sym_a.SymbolizeUser(100, RuntimeAddress(base_a, a, a.symbol) + 4, true);
  EXPECT_EQ(fa.function, kBurnSeventyDemangled);
  EXPECT_EQ(fa.mangled, kBurnSeventy);
  EXPECT_EQ(fa.module, unstripped);
  EXPECT_EQ(fa.address, a.symbol);
  EXPECT_TRUE(absl::EndsWith(fa.file, "tests/testdata/profile_target.cc"))
      << fa.file;
  EXPECT_GT(fa.line, 0u);

  // alone, the stripped file names the function from .dynsym, no line
  Symbolizer sym_b(options);
  ASSERT_TRUE(sym_b.AddProcess(200).ok());
  Frame fb =
      sym_b.SymbolizeUser(200, RuntimeAddress(base_b, b, b.symbol) + 4, true);
  EXPECT_EQ(fb.function, kBurnSeventyDemangled);
  EXPECT_EQ(fb.module, stripped);
  EXPECT_EQ(fb.file, "");
  EXPECT_EQ(fa.build_id, fb.build_id) << "strip keeps the build id";

  // together, one build id is one module: the stripped process gets the
  // unstripped file's symbols and lines
  Symbolizer both(options);
  ASSERT_TRUE(both.AddProcess(100).ok());
  ASSERT_TRUE(both.AddProcess(200).ok());
  EXPECT_EQ(both.stats().modules, 1u);
  Frame fab =
      both.SymbolizeUser(200, RuntimeAddress(base_b, b, b.symbol) + 4, true);
  EXPECT_EQ(fab.function, kBurnSeventyDemangled);
  EXPECT_EQ(fab.module, stripped);
  EXPECT_EQ(fab.file, fa.file);
}

TEST(SymbolizerTest, FullyStrippedFramesNameTheModuleAndOffset) {
  FakeProc proc;
  Symbolizer::Options options;
  options.proc_root = proc.root();
  Symbolizer sym(options);
  // strip does not move code: the plain build's symbol gives the address
  const std::string plain = Runfile("tests/testdata/profile_target_plain");
  const std::string nosyms = Runfile("tests/testdata/profile_target_nosyms");
  const ElfFacts facts = ReadElfFacts(plain, kBurnSeventy);
  ASSERT_NE(facts.symbol, 0u);
  ASSERT_EQ(ReadElfFacts(nosyms, kBurnSeventy).symbol, 0u);

  const uint64_t base = 0x561200000000;
  proc.WriteMaps(300, ExecLine(base, facts, nosyms));
  ASSERT_TRUE(sym.AddProcess(300).ok());
  Frame f = sym.SymbolizeUser(
      300, RuntimeAddress(base, facts, facts.symbol) + 8, false);
  EXPECT_FALSE(f.known());
  EXPECT_EQ(f.module, nosyms);
  EXPECT_EQ(f.address, facts.symbol + 8);
  EXPECT_EQ(f.Label(), absl::StrFormat("[unknown] profile_target_nosyms+0x%x",
                                       facts.symbol + 8));
}

TEST(SymbolizerTest, DeletedUnreadableFileStillNamesTheModule) {
  FakeProc proc;
  Symbolizer::Options options;
  options.proc_root = proc.root();
  Symbolizer sym(options);
  proc.WriteMaps(400,
                 "7f0000000000-7f0000004000 r-xp 00002000 08:01 99 "
                 "/nonexistent/dir/gone lib.so (deleted)\n");
  ASSERT_TRUE(sym.AddProcess(400).ok());
  Frame f = sym.SymbolizeUser(400, 0x7f0000000123, false);
  EXPECT_FALSE(f.known());
  EXPECT_EQ(f.module, "/nonexistent/dir/gone lib.so");
  EXPECT_EQ(f.address, 0x2123u);
  EXPECT_EQ(f.Label(), "[unknown] gone lib.so+0x2123");
  EXPECT_GE(sym.stats().open_errors, 1u);
}

TEST(SymbolizerTest, ExitedProcessKeepsItsSymbolsUntilRemoved) {
  FakeProc proc;
  Symbolizer::Options options;
  options.proc_root = proc.root();
  options.min_refresh_interval = absl::ZeroDuration();
  Symbolizer sym(options);
  const std::string path = Runfile("tests/testdata/profile_target");
  const ElfFacts facts = ReadElfFacts(path, kBurnSeventy);
  const uint64_t base = 0x555500000000;
  proc.WriteMaps(500, ExecLine(base, facts, path));
  proc.WriteMaps(501, ExecLine(base + 0x100000000, facts, path));
  ASSERT_TRUE(sym.AddProcess(500).ok());
  ASSERT_TRUE(sym.AddProcess(501).ok());
  // both processes map one file: it is opened once
  EXPECT_EQ(sym.stats().modules, 1u);

  proc.Remove(500);  // the process exits
  const uint64_t addr = RuntimeAddress(base, facts, facts.symbol) + 4;
  EXPECT_EQ(sym.SymbolizeUser(500, addr, true).function, kBurnSeventyDemangled);
  // a miss would re-read the maps: that fails, the snapshot stays
  EXPECT_FALSE(sym.SymbolizeUser(500, 0x10, false).known());
  absl::Status refresh = sym.RefreshProcess(500);
  EXPECT_EQ(refresh.code(), absl::StatusCode::kNotFound) << refresh;
  EXPECT_EQ(sym.SymbolizeUser(500, addr, true).function, kBurnSeventyDemangled);

  sym.RemoveProcess(500);
  EXPECT_FALSE(sym.SymbolizeUser(500, addr, true).known());
  EXPECT_EQ(sym.stats().modules, 1u);  // 501 still maps it
  sym.RemoveProcess(501);
  EXPECT_EQ(sym.stats().modules, 0u);
  EXPECT_EQ(sym.stats().processes, 0u);
}

TEST(ElfModuleTest, SymbolsOfStrippedAndUnstrippedBuilds) {
  ElfModule::Options options;
  absl::StatusOr<std::unique_ptr<ElfModule>> full = ElfModule::Open(
      Runfile("tests/testdata/profile_target"), "profile_target", options);
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_TRUE((*full)->has_symtab());
  EXPECT_TRUE((*full)->has_line_info());

  absl::StatusOr<std::unique_ptr<ElfModule>> dyn =
      ElfModule::Open(Runfile("tests/testdata/profile_target_stripped"),
                      "profile_target_stripped", options);
  ASSERT_TRUE(dyn.ok()) << dyn.status();
  EXPECT_FALSE((*dyn)->has_symtab());
  EXPECT_FALSE((*dyn)->has_line_info());
  EXPECT_LT((*dyn)->function_count(), (*full)->function_count());
  EXPECT_EQ((*full)->build_id(), (*dyn)->build_id());
  EXPECT_GE((*full)->build_id().size(), 32u);  // md5 or sha1, in hex
  EXPECT_EQ((*full)->build_id().find_first_not_of("0123456789abcdef"),
            std::string::npos);

  absl::StatusOr<std::unique_ptr<ElfModule>> not_elf =
      ElfModule::Open("/proc/self/status", "status", options);
  EXPECT_EQ(not_elf.status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<std::unique_ptr<ElfModule>> missing =
      ElfModule::Open("/nonexistent", "x", options);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

constexpr char kFakeKallsyms[] =
    "ffffffff81000000 T _text\n"
    "ffffffff81000100 t do_thing\n"
    "ffffffff81000200 T other_thing\n"
    "0000000000000000 A fixed_percpu_data\n"
    "ffffffff81000180 D some_data\n"
    "not a kallsyms line\n"
    "ffffffffc0001000 t bpf_prog_1234_probe\t[bpf]\n"
    "ffffffffc0000800 t mod_func\t[nf_tables]\n";

TEST(KernelSymbolsTest, ParsesTextSymbolsSortedWithModules) {
  KernelSymbols k = KernelSymbols::Parse(kFakeKallsyms);
  EXPECT_EQ(k.size(), 5u);  // data, absolute and junk skipped
  EXPECT_FALSE(k.addresses_hidden());
  ASSERT_NE(k.Find(0xffffffff81000150), nullptr);
  EXPECT_EQ(k.Find(0xffffffff81000150)->name, "do_thing");
  EXPECT_EQ(k.Find(0xffffffff81000200)->name, "other_thing");
  EXPECT_EQ(k.Find(0xffffffff80000000), nullptr);
  ASSERT_NE(k.Find(0xffffffffc0000900), nullptr);
  EXPECT_EQ(k.Find(0xffffffffc0000900)->name, "mod_func");
  EXPECT_EQ(k.Find(0xffffffffc0000900)->module, "[nf_tables]");
  EXPECT_EQ(k.Find(0xffffffffc0001000 + (2 << 20)), nullptr);

  KernelSymbols hidden = KernelSymbols::Parse(
      "0000000000000000 T _text\n0000000000000000 t do_thing\n");
  EXPECT_TRUE(hidden.addresses_hidden());
  EXPECT_EQ(hidden.size(), 0u);
}

TEST(SymbolizerTest, KernelFramesFromKallsyms) {
  char path[] = "/tmp/resdb_kallsyms_XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, kFakeKallsyms, sizeof(kFakeKallsyms) - 1),
            static_cast<ssize_t>(sizeof(kFakeKallsyms) - 1));
  close(fd);
  Symbolizer::Options options;
  options.kallsyms_path = path;
  Symbolizer sym(options);

  Frame f = sym.SymbolizeKernel(0xffffffff81000150, false);
  EXPECT_EQ(f.kind, Frame::Kind::kKernel);
  EXPECT_EQ(f.function, "do_thing");
  EXPECT_EQ(f.module, kKernelModule);
  EXPECT_EQ(f.address, 0xffffffff81000100u);
  // a return address at a symbol's first byte belongs to the caller before
  EXPECT_EQ(sym.SymbolizeKernel(0xffffffff81000200, true).function, "do_thing");
  Frame mod = sym.SymbolizeKernel(0xffffffffc0001004, false);
  EXPECT_EQ(mod.function, "bpf_prog_1234_probe [bpf]");
  EXPECT_EQ(mod.module, kKernelModule);
  Frame unknown = sym.SymbolizeKernel(0x1000, false);
  EXPECT_FALSE(unknown.known());
  EXPECT_EQ(unknown.Label(), "[unknown] [kernel.kallsyms]+0x1000");
  unlink(path);
}

}  // namespace
}  // namespace resdb_trace::collector::profile
