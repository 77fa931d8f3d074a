// Kernel text symbols from /proc/kallsyms, for the kernel half of a stack.
#ifndef RESDB_TRACE_COLLECTOR_PROFILE_KERNEL_SYMBOLS_H_
#define RESDB_TRACE_COLLECTOR_PROFILE_KERNEL_SYMBOLS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace resdb_trace::collector::profile {

class KernelSymbols {
 public:
  struct Symbol {
    uint64_t address = 0;
    std::string name;
    std::string module;  // "" for the kernel image, else "[name]" as printed.
  };

  // Parses kallsyms text ("<hex> <type> <name>[\t[module]]" per line). Only
  // text symbols (types t/T/w/W) are kept; malformed lines are skipped.
  static KernelSymbols Parse(std::string_view text);
  // Reads and parses `path`. An error only when the file cannot be read.
  static absl::StatusOr<KernelSymbols> Load(
      const std::string& path = "/proc/kallsyms");

  // The symbol whose range holds `addr` (from its address to the next
  // symbol's), or nullptr; nullptr too beyond the last symbol + 1 MiB.
  const Symbol* Find(uint64_t addr) const;

  size_t size() const { return symbols_.size(); }
  // Every address read as 0: kptr_restrict hides them from this process
  // (needs CAP_SYSLOG, or kernel.kptr_restrict=0).
  bool addresses_hidden() const { return hidden_; }

 private:
  std::vector<Symbol> symbols_;  // ascending address.
  bool hidden_ = false;
};

}  // namespace resdb_trace::collector::profile

#endif  // RESDB_TRACE_COLLECTOR_PROFILE_KERNEL_SYMBOLS_H_
