// Fuzzes ELF parsing: the input is written to an in-memory file and opened
// with ElfBinary::Open, as the collector opens every --binary it is given and
// every executable of a process it discovers. A hostile or truncated file
// must be rejected or parsed, never crash; what is parsed must be
// self-consistent (every hook reported present maps to a file offset inside
// a loaded segment's image, semaphore slots lie inside the table).
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "collector/ingest/elf_binary.h"
#include "resdb_trace/catalog.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using resdb_trace::collector::ElfBinary;
using resdb_trace::collector::ElfSymbol;
using resdb_trace::collector::HookLocation;

// One memfd reused for every input; its /proc path is what Open() gets.
int File() {
  static const int fd = [] {
    const int f = memfd_create("elf_binary_fuzz", MFD_CLOEXEC);
    if (f < 0) {
      std::perror("memfd_create");
      std::abort();
    }
    return f;
  }();
  return fd;
}

void Write(const uint8_t* data, size_t size) {
  FUZZ_CHECK(ftruncate(File(), 0) == 0);
  size_t done = 0;
  while (done < size) {
    const ssize_t n =
        pwrite(File(), data + done, size - done, static_cast<off_t>(done));
    FUZZ_CHECK(n > 0);
    done += static_cast<size_t>(n);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Write(data, size);
  const std::string path = absl::StrCat("/proc/self/fd/", File());
  const absl::StatusOr<ElfBinary> bin = ElfBinary::Open(path);
  if (!bin.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(bin.status()));
    return 0;
  }
  FUZZ_CHECK(bin->path() == path);
  if (bin->is_pie()) FUZZ_CHECK(bin->is_dyn());
  FUZZ_CHECK(bin->build_id().size() % 2 == 0);
  for (char c : bin->build_id()) {
    FUZZ_CHECK((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
  }

  FUZZ_CHECK(bin->hooks().size() == RESDB_TRACE_ID_END - 1);
  int present = 0;
  uint32_t last_id = 0;
  for (const HookLocation& h : bin->hooks()) {
    FUZZ_CHECK(h.id > last_id);
    last_id = h.id;
    FUZZ_CHECK(bin->FindHook(h.id) == &h);
    FUZZ_CHECK(h.symbol == "resdb_trace_" + h.name);
    if (!h.present) continue;
    ++present;
    const std::optional<ElfSymbol> s = bin->FindSymbol(h.symbol);
    FUZZ_CHECK(s.has_value() && s->file_backed);
    FUZZ_CHECK(s->vaddr == h.vaddr && s->file_offset == h.file_offset);
    const absl::StatusOr<uint64_t> off = bin->VaddrToFileOffset(h.vaddr);
    FUZZ_CHECK(off.ok() && *off == h.file_offset);
  }
  FUZZ_CHECK(present == bin->present_hook_count());
  FUZZ_CHECK(bin->FindHook(0) == nullptr);
  FUZZ_CHECK(bin->FindHook(RESDB_TRACE_ID_END) == nullptr);

  if (const auto& table = bin->semaphores()) {
    for (uint32_t id = 0; id < 64; ++id) {
      const std::optional<uint64_t> slot = table->SlotFileOffset(id);
      if (!slot) continue;
      FUZZ_CHECK(*slot - table->file_offset == 2ull * id);
      FUZZ_CHECK(2ull * id + 2 <= table->size);
    }
  }
  return 0;
}
