#include "collector/profile/kernel_symbols.h"

#include <algorithm>
#include <utility>

#include "collector/profile/proc_maps.h"

namespace resdb_trace::collector::profile {
namespace {

// The kernel image and its modules are far smaller than this; an address
// further past the last symbol is not kernel text we know.
constexpr uint64_t kMaxTailBytes = 1 << 20;

}  // namespace

KernelSymbols KernelSymbols::Parse(std::string_view text) {
  KernelSymbols out;
  size_t seen = 0;
  size_t zero = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);

    size_t sp1 = line.find(' ');
    if (sp1 == std::string_view::npos) continue;
    size_t sp2 = line.find(' ', sp1 + 1);
    if (sp2 != sp1 + 2) continue;  // the type is one character
    uint64_t addr = 0;
    if (!ParseHex(line.substr(0, sp1), &addr)) continue;
    char type = line[sp1 + 1];
    ++seen;
    if (addr == 0) ++zero;
    if (type != 't' && type != 'T' && type != 'w' && type != 'W') continue;
    std::string_view rest = line.substr(sp2 + 1);
    std::string_view module;
    size_t tab = rest.find('\t');
    if (tab != std::string_view::npos) {
      module = rest.substr(tab + 1);
      rest = rest.substr(0, tab);
    }
    if (rest.empty() || addr == 0) continue;
    out.symbols_.push_back({addr, std::string(rest), std::string(module)});
  }
  out.hidden_ = seen > 0 && zero == seen;
  // module symbols follow the image's and are not sorted among themselves
  std::stable_sort(
      out.symbols_.begin(), out.symbols_.end(),
      [](const Symbol& a, const Symbol& b) { return a.address < b.address; });
  return out;
}

absl::StatusOr<KernelSymbols> KernelSymbols::Load(const std::string& path) {
  absl::StatusOr<std::string> text = ReadSmallFile(path);
  if (!text.ok()) return text.status();
  return Parse(*text);
}

const KernelSymbols::Symbol* KernelSymbols::Find(uint64_t addr) const {
  auto it = std::upper_bound(
      symbols_.begin(), symbols_.end(), addr,
      [](uint64_t a, const Symbol& s) { return a < s.address; });
  if (it == symbols_.begin()) return nullptr;
  const Symbol* s = &*(it - 1);
  if (it == symbols_.end() && addr - s->address > kMaxTailBytes) {
    return nullptr;
  }
  return s;
}

}  // namespace resdb_trace::collector::profile
