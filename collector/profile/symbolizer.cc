#include "collector/profile/symbolizer.h"

#include <cxxabi.h>
#include <sys/auxv.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace resdb_trace::collector::profile {
namespace {

// Frames cached before the cache is dropped and rebuilt.
constexpr size_t kMaxCachedFrames = 1 << 18;

std::string FileKey(const MapsEntry& e) {
  return absl::StrFormat("%x:%x:%d:%s", e.dev_major, e.dev_minor, e.inode,
                         e.path);
}

}  // namespace

std::string Demangle(const std::string& name) {
  if (name.size() < 2 || name[0] != '_' || name[1] != 'Z') return name;
  int status = 0;
  char* out = abi::__cxa_demangle(name.c_str(), nullptr, nullptr, &status);
  if (status != 0 || out == nullptr) {
    std::free(out);
    return name;
  }
  std::string result(out);
  std::free(out);
  return result;
}

Symbolizer::Symbolizer(Options options) : options_(std::move(options)) {}

Symbolizer::~Symbolizer() = default;

absl::Status Symbolizer::AddProcess(uint32_t pid) {
  absl::MutexLock lock(&mu_);
  Process fresh;
  absl::Status s = ReadProcessLocked(pid, &fresh);
  if (!s.ok()) return s;
  processes_[pid] = std::move(fresh);
  PruneModulesLocked();
  return absl::OkStatus();
}

absl::Status Symbolizer::RefreshProcess(uint32_t pid) {
  absl::MutexLock lock(&mu_);
  auto it = processes_.find(pid);
  if (it == processes_.end()) {
    return absl::NotFoundError(
        absl::StrCat("process ", pid, " is not known to the symbolizer"));
  }
  Process fresh;
  absl::Status s = ReadProcessLocked(pid, &fresh);
  it->second.last_refresh = absl::Now();
  if (!s.ok()) {
    // keep what we had: its samples may still be waiting in the kernel
    if (absl::IsNotFound(s)) it->second.gone = true;
    return s;
  }
  it->second = std::move(fresh);
  PruneModulesLocked();
  return absl::OkStatus();
}

void Symbolizer::RemoveProcess(uint32_t pid) {
  absl::MutexLock lock(&mu_);
  processes_.erase(pid);
  PruneModulesLocked();
}

bool Symbolizer::HasProcess(uint32_t pid) const {
  absl::MutexLock lock(&mu_);
  return processes_.contains(pid);
}

Symbolizer::Stats Symbolizer::stats() const {
  absl::MutexLock lock(&mu_);
  Stats s = stats_;
  s.processes = processes_.size();
  // several files (paths, inodes) may share one module by build id
  absl::flat_hash_set<const ElfModule*> open;
  for (const auto& [key, weak] : by_file_) {
    if (std::shared_ptr<const ElfModule> m = weak.lock()) open.insert(m.get());
  }
  s.modules = open.size() + (vdso_ != nullptr ? 1 : 0);
  return s;
}

absl::Status Symbolizer::ReadProcessLocked(uint32_t pid, Process* process) {
  ++stats_.maps_reads;
  absl::StatusOr<ProcMaps> maps = ReadProcMaps(pid, options_.proc_root);
  if (!maps.ok()) return maps.status();
  if (maps->entries.empty()) {
    // a zombie (or a kernel thread) has no mappings left
    return absl::NotFoundError(absl::StrCat(
        "process ", pid, " has no memory mappings (it has exited)"));
  }
  process->regions.clear();
  process->last_refresh = absl::Now();
  process->gone = false;
  for (const MapsEntry& e : maps->entries) {
    if (!e.exec) continue;
    Region r;
    r.start = e.start;
    r.end = e.end;
    r.offset = e.offset;
    r.name = e.path.empty() ? "[anon]" : e.path;
    if (e.file_backed()) {
      r.module = ModuleForLocked(pid, e);
    } else if (e.path == "[vdso]") {
      r.module = VdsoModuleLocked();
    }
    process->regions.push_back(std::move(r));
  }
  std::sort(process->regions.begin(), process->regions.end(),
            [](const Region& a, const Region& b) { return a.start < b.start; });
  return absl::OkStatus();
}

std::shared_ptr<const ElfModule> Symbolizer::ModuleForLocked(
    uint32_t pid, const MapsEntry& e) {
  const std::string key = FileKey(e);
  if (auto it = by_file_.find(key); it != by_file_.end()) {
    if (std::shared_ptr<const ElfModule> m = it->second.lock()) return m;
  }
  // the process may live in another mount namespace, or the file may be
  // deleted: its own view of the file works while it runs
  const std::string pid_dir = absl::StrCat(options_.proc_root, "/", pid);
  const std::string map_file =
      absl::StrFormat("%s/map_files/%x-%x", pid_dir, e.start, e.end);
  std::vector<std::string> candidates;
  if (e.deleted) candidates.push_back(map_file);
  candidates.push_back(absl::StrCat(pid_dir, "/root", e.path));
  candidates.push_back(e.path);
  if (!e.deleted) candidates.push_back(map_file);

  ElfModule::Options mopts;
  mopts.line_numbers = options_.line_numbers;
  mopts.debug_dirs = options_.debug_dirs;
  std::unique_ptr<ElfModule> opened;
  for (const std::string& path : candidates) {
    absl::StatusOr<std::unique_ptr<ElfModule>> m =
        ElfModule::Open(path, e.path, mopts);
    if (m.ok()) {
      opened = std::move(*m);
      break;
    }
    // not an ELF file: no other path will make it one
    if (absl::IsInvalidArgument(m.status())) break;
  }
  if (opened == nullptr) {
    ++stats_.open_errors;
    return nullptr;
  }
  std::shared_ptr<const ElfModule> module;
  if (!opened->build_id().empty()) {
    auto it = by_build_id_.find(opened->build_id());
    if (it != by_build_id_.end()) module = it->second.lock();
  }
  if (module == nullptr) {
    module = std::shared_ptr<const ElfModule>(std::move(opened));
    if (!module->build_id().empty()) by_build_id_[module->build_id()] = module;
  }
  by_file_[key] = module;
  return module;
}

std::shared_ptr<const ElfModule> Symbolizer::VdsoModuleLocked() {
  if (vdso_tried_) return vdso_;
  vdso_tried_ = true;
  // every process of this kernel maps the same vDSO image: read our own
  const uint64_t base = getauxval(AT_SYSINFO_EHDR);
  if (base == 0) return nullptr;
  absl::StatusOr<ProcMaps> self = ReadProcMaps(getpid(), options_.proc_root);
  if (!self.ok()) return nullptr;
  for (const MapsEntry& e : self->entries) {
    if (e.path != "[vdso]" || e.start != base) continue;
    // the auxv entry is the address of our own mapped vDSO image
    std::string image(reinterpret_cast<const char*>(base),  // NOLINT
                      e.end - e.start);
    absl::StatusOr<std::unique_ptr<ElfModule>> m =
        ElfModule::OpenMemory(std::move(image), "[vdso]");
    if (m.ok()) vdso_ = std::move(*m);
    break;
  }
  return vdso_;
}

const Symbolizer::Region* Symbolizer::FindRegion(const Process& p,
                                                 uint64_t addr) {
  auto it =
      std::upper_bound(p.regions.begin(), p.regions.end(), addr,
                       [](uint64_t a, const Region& r) { return a < r.start; });
  if (it == p.regions.begin()) return nullptr;
  --it;
  return addr < it->end ? &*it : nullptr;
}

Frame Symbolizer::FrameForLocked(const Region& region, uint64_t lookup_addr,
                                 uint64_t addr) {
  Frame f;
  f.kind = Frame::Kind::kUser;
  f.module = region.name;
  const uint64_t file_offset = lookup_addr - region.start + region.offset;
  if (region.module == nullptr) {
    ++stats_.unknown_frames;
    f.address = addr - region.start + region.offset;
    return f;
  }
  const ElfModule& m = *region.module;
  f.build_id = m.build_id();
  const uint64_t vaddr =
      m.FileOffsetToAddress(file_offset).value_or(file_offset);
  auto key = std::make_pair(&m, vaddr);
  if (auto it = frames_.find(key); it != frames_.end()) {
    if (!it->second.known()) ++stats_.unknown_frames;
    Frame cached = it->second;
    cached.module = region.name;
    return cached;
  }
  const ElfFunction* fn = m.FindFunction(vaddr);
  if (fn == nullptr) {
    ++stats_.unknown_frames;
    // the address itself (not addr - 1) is what a reader would look up
    f.address = vaddr + (addr - lookup_addr);
  } else {
    f.mangled = fn->name;
    f.function = options_.demangle ? Demangle(fn->name) : fn->name;
    f.address = fn->start;
    if (options_.line_numbers) {
      if (std::optional<SourceLine> line = m.FindLine(vaddr)) {
        f.file = std::move(line->file);
        f.line = line->line;
      }
    }
  }
  if (frames_.size() >= kMaxCachedFrames) frames_.clear();
  frames_.emplace(key, f);
  return f;
}

Frame Symbolizer::SymbolizeUser(uint32_t pid, uint64_t addr,
                                bool return_address) {
  const uint64_t lookup = return_address && addr > 0 ? addr - 1 : addr;
  absl::MutexLock lock(&mu_);
  auto it = processes_.find(pid);
  if (it == processes_.end()) {
    ++stats_.unknown_frames;
    Frame f;
    f.address = addr;
    return f;
  }
  const Region* region = FindRegion(it->second, lookup);
  if (region == nullptr && !it->second.gone &&
      absl::Now() - it->second.last_refresh >= options_.min_refresh_interval) {
    // a library loaded after the snapshot
    Process fresh;
    absl::Status s = ReadProcessLocked(pid, &fresh);
    if (s.ok()) {
      it->second = std::move(fresh);
    } else {
      it->second.last_refresh = absl::Now();
      if (absl::IsNotFound(s)) it->second.gone = true;
    }
    region = FindRegion(it->second, lookup);
  }
  if (region == nullptr) {
    ++stats_.unknown_frames;
    Frame f;
    f.address = addr;
    return f;
  }
  return FrameForLocked(*region, lookup, addr);
}

Frame Symbolizer::SymbolizeKernel(uint64_t addr, bool return_address) {
  const uint64_t lookup = return_address && addr > 0 ? addr - 1 : addr;
  absl::MutexLock lock(&mu_);
  if (!kernel_.has_value()) {
    absl::StatusOr<KernelSymbols> k =
        KernelSymbols::Load(options_.kallsyms_path);
    kernel_ = k.ok() ? std::move(*k) : KernelSymbols();
  }
  Frame f;
  f.kind = Frame::Kind::kKernel;
  f.module = kKernelModule;
  const KernelSymbols::Symbol* s = kernel_->Find(lookup);
  if (s == nullptr) {
    ++stats_.unknown_frames;
    f.address = addr;
    return f;
  }
  // module symbols read "name [module]", as perf prints them
  f.function =
      s->module.empty() ? s->name : absl::StrCat(s->name, " ", s->module);
  f.mangled = s->name;
  f.address = s->address;
  return f;
}

void Symbolizer::PruneModulesLocked() {
  bool expired = false;
  for (auto it = by_file_.begin(); it != by_file_.end();) {
    if (it->second.expired()) {
      expired = true;
      by_file_.erase(it++);
    } else {
      ++it;
    }
  }
  for (auto it = by_build_id_.begin(); it != by_build_id_.end();) {
    if (it->second.expired()) {
      by_build_id_.erase(it++);
    } else {
      ++it;
    }
  }
  // cached frames key on module addresses, which a new module may reuse
  if (expired) frames_.clear();
}

}  // namespace resdb_trace::collector::profile
