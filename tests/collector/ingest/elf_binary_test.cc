// ElfBinary on a real hook binary (tests/bpf/hook_target), on a stripped
// copy of it, and on files that are not ELF at all. Needs no privileges.
#include "collector/ingest/elf_binary.h"

#include <limits.h>
#include <stdlib.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "resdb_trace/catalog.h"

namespace resdb_trace::collector {
namespace {

constexpr int kCatalogueSize = RESDB_TRACE_ID_END - 1;

std::string TargetPath() {
  char resolved[PATH_MAX];
  if (realpath("tests/bpf/hook_target", resolved) == nullptr) {
    return "tests/bpf/hook_target";
  }
  return resolved;
}

std::string TmpDir() {
  const char* dir = getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

std::vector<unsigned char> ReadBytes(const std::string& path, uint64_t offset,
                                     size_t n) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(offset));
  std::vector<unsigned char> out(n);
  in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(n));
  out.resize(static_cast<size_t>(in.gcount()));
  return out;
}

// Checks what both the full and the stripped binary must show.
void ExpectTraceable(const ElfBinary& elf) {
  EXPECT_TRUE(elf.is_pie());
  EXPECT_TRUE(elf.is_dyn());
  EXPECT_FALSE(elf.build_id().empty());
  EXPECT_EQ(elf.build_id().find_first_not_of("0123456789abcdef"),
            std::string::npos)
      << elf.build_id();

  ASSERT_EQ(elf.hooks().size(), static_cast<size_t>(kCatalogueSize));
  EXPECT_EQ(elf.present_hook_count(), kCatalogueSize);
  const std::vector<unsigned char> nop5_ret = {0x0f, 0x1f, 0x44,
                                               0x00, 0x00, 0xc3};
  uint32_t want_id = 1;
  for (const HookLocation& h : elf.hooks()) {
    EXPECT_EQ(h.id, want_id++);
    EXPECT_EQ(h.symbol, "resdb_trace_" + h.name);
    EXPECT_TRUE(h.present) << h.symbol;
    EXPECT_EQ(h.vaddr % 16, 0u) << h.symbol << " is not 16-byte aligned";
    // the file offset really points at the hook's code
    EXPECT_EQ(ReadBytes(elf.path(), h.file_offset, 6), nop5_ret) << h.symbol;
  }
  const HookLocation* prepared = elf.FindHook(RESDB_TRACE_ID_prepared);
  ASSERT_NE(prepared, nullptr);
  EXPECT_EQ(prepared->name, "prepared");
  EXPECT_EQ(elf.FindHook(0), nullptr);
  EXPECT_EQ(elf.FindHook(RESDB_TRACE_ID_END), nullptr);

  ASSERT_TRUE(elf.semaphores().has_value());
  const SemaphoreTable& sem = *elf.semaphores();
  EXPECT_EQ(sem.size, 2u * RESDB_TRACE_SEMAPHORE_SLOTS);
  EXPECT_EQ(ReadBytes(elf.path(), sem.file_offset, sem.size),
            std::vector<unsigned char>(sem.size, 0));
  EXPECT_EQ(sem.SlotFileOffset(0), sem.file_offset);
  EXPECT_EQ(sem.SlotFileOffset(RESDB_TRACE_ID_user),
            sem.file_offset + 2 * RESDB_TRACE_ID_user);
  EXPECT_EQ(sem.SlotFileOffset(RESDB_TRACE_SEMAPHORE_SLOTS - 1),
            sem.file_offset + 2 * (RESDB_TRACE_SEMAPHORE_SLOTS - 1));
  EXPECT_FALSE(sem.SlotFileOffset(RESDB_TRACE_SEMAPHORE_SLOTS).has_value());
  EXPECT_EQ(elf.VaddrToFileOffset(sem.vaddr).value(), sem.file_offset);

  std::optional<ElfSymbol> table = elf.FindSymbol(ElfBinary::kSemaphoreSymbol);
  ASSERT_TRUE(table.has_value());
  EXPECT_TRUE(table->dynamic) << "the table must be exported in .dynsym";
  EXPECT_FALSE(elf.FindSymbol("main").has_value());  // only resdb_trace_*
}

TEST(ElfBinaryTest, FindsHooksAndSemaphores) {
  absl::StatusOr<ElfBinary> elf = ElfBinary::Open(TargetPath());
  ASSERT_TRUE(elf.ok()) << elf.status();
  ExpectTraceable(*elf);
}

TEST(ElfBinaryTest, StrippedBinaryStaysTraceable) {
  const std::string full = TargetPath();
  const std::string stripped = TmpDir() + "/hook_target.stripped";
  const std::string cmd =
      "strip --strip-all -o '" + stripped + "' '" + full + "'";
  ASSERT_EQ(system(cmd.c_str()), 0) << cmd;

  absl::StatusOr<ElfBinary> a = ElfBinary::Open(full);
  absl::StatusOr<ElfBinary> b = ElfBinary::Open(stripped);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  ExpectTraceable(*b);
  // stripping rewrites the file after the segments, not the code or data
  EXPECT_EQ(a->build_id(), b->build_id());
  for (size_t i = 0; i < a->hooks().size(); ++i) {
    EXPECT_EQ(a->hooks()[i].file_offset, b->hooks()[i].file_offset);
  }
  EXPECT_EQ(a->semaphores()->file_offset, b->semaphores()->file_offset);
}

TEST(ElfBinaryTest, BinaryWithoutHooks) {
  absl::StatusOr<ElfBinary> elf = ElfBinary::Open("/bin/true");
  ASSERT_TRUE(elf.ok()) << elf.status();
  EXPECT_EQ(elf->present_hook_count(), 0);
  EXPECT_FALSE(elf->semaphores().has_value());
  ASSERT_EQ(elf->hooks().size(), static_cast<size_t>(kCatalogueSize));
  EXPECT_FALSE(elf->hooks()[0].present);
}

TEST(ElfBinaryTest, MissingFile) {
  absl::StatusOr<ElfBinary> elf = ElfBinary::Open("/no/such/file");
  ASSERT_FALSE(elf.ok());
  EXPECT_EQ(elf.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(elf.status().message(),
            "cannot open /no/such/file: No such file or directory");
}

TEST(ElfBinaryTest, NotAnElfFile) {
  const std::string path = TmpDir() + "/not_elf.txt";
  {
    std::ofstream out(path);
    out << "#!/bin/sh\necho this is a script, not an ELF file\n";
  }
  absl::StatusOr<ElfBinary> elf = ElfBinary::Open(path);
  ASSERT_FALSE(elf.ok());
  EXPECT_EQ(elf.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(elf.status().message(), path + " is not an ELF file");

  const std::string empty = TmpDir() + "/empty";
  { std::ofstream out(empty); }
  elf = ElfBinary::Open(empty);
  ASSERT_FALSE(elf.ok());
  EXPECT_EQ(elf.status().message(), empty + " is not an ELF file");
}

TEST(ElfBinaryTest, DirectoryIsNotAnElfFile) {
  absl::StatusOr<ElfBinary> elf = ElfBinary::Open(TmpDir());
  ASSERT_FALSE(elf.ok());
  EXPECT_EQ(elf.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace resdb_trace::collector
