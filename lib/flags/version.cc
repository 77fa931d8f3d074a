#include "lib/flags/version.h"

#include <string>
#include <string_view>

namespace resdb_trace::flags {
namespace internal {
// Defined in the stamped version_stamp.cc (//lib:version_stamp_cc).
extern const char kVersion[];
extern const char kCommit[];
}  // namespace internal

std::string_view Version() { return internal::kVersion; }

std::string_view Commit() { return internal::kCommit; }

std::string VersionLine() {
  std::string line(Version());
  const std::string_view commit = Commit();
  line += commit == "unknown commit" ? " (unknown commit)"
                                     : " (commit " + std::string(commit) + ")";
  return line;
}

}  // namespace resdb_trace::flags
