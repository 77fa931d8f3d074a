// Parser of /proc/PID/maps. Pure functions over text: no I/O except in
// ReadProcMaps, never throws or aborts on any input (a fuzzer may call
// ParseProcMapsLine with arbitrary bytes).
#ifndef RESDB_TRACE_COLLECTOR_PROFILE_PROC_MAPS_H_
#define RESDB_TRACE_COLLECTOR_PROFILE_PROC_MAPS_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace resdb_trace::collector::profile {

// One line of /proc/PID/maps:
//   start-end perms offset major:minor inode [pathname]
struct MapsEntry {
  uint64_t start = 0;   // first address of the mapping.
  uint64_t end = 0;     // one past the last address (start < end).
  bool read = false;    // perms[0] == 'r'.
  bool write = false;   // perms[1] == 'w'.
  bool exec = false;    // perms[2] == 'x'.
  bool shared = false;  // perms[3] == 's' (else 'p', private).
  uint64_t offset = 0;  // file offset of `start`.
  uint32_t dev_major = 0;
  uint32_t dev_minor = 0;
  uint64_t inode = 0;  // 0 for anonymous and pseudo mappings.
  // The pathname with any " (deleted)" suffix removed; may contain spaces.
  // "" for anonymous mappings; pseudo names keep their brackets ("[vdso]").
  std::string path;
  bool deleted = false;  // the kernel printed " (deleted)": file unlinked.

  // A regular file mapping (an absolute path backed by an inode).
  bool file_backed() const {
    return inode != 0 && !path.empty() && path.front() == '/';
  }
  // A kernel pseudo mapping: "[vdso]", "[heap]", "[stack]", "[vsyscall]"...
  bool pseudo() const { return !path.empty() && path.front() == '['; }
};

// Parses all of `s` as hex digits (either case, no "0x", at most 16 digits)
// into `*out`; false, leaving `*out` alone, otherwise. /proc files
// (maps, kallsyms) print addresses this way.
bool ParseHex(std::string_view s, uint64_t* out);

// Parses one line (a trailing '\n' is allowed). nullopt when the line is not
// in the maps format: missing fields, bad hex, start >= end, bad perms.
std::optional<MapsEntry> ParseProcMapsLine(std::string_view line);

// A whole maps file.
struct ProcMaps {
  std::vector<MapsEntry> entries;  // in file order (ascending addresses).
  size_t malformed_lines = 0;      // lines ParseProcMapsLine rejected.
};

// Splits `text` into lines and parses each; empty lines are ignored.
ProcMaps ParseProcMaps(std::string_view text);

// Reads and parses `<proc_root>/<pid>/maps`. NotFound ("process <pid> does
// not exist (no <path>)") when the process is gone.
absl::StatusOr<ProcMaps> ReadProcMaps(uint32_t pid,
                                      const std::string& proc_root = "/proc");

// Reads a whole (small, /proc-like) file. NotFound / PermissionDenied /
// Internal with the path and strerror.
absl::StatusOr<std::string> ReadSmallFile(const std::string& path);

}  // namespace resdb_trace::collector::profile

#endif  // RESDB_TRACE_COLLECTOR_PROFILE_PROC_MAPS_H_
