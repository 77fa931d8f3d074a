// Opening the files a daemon running as root (or a CLI) writes for its
// user: --ready-file, --jsonl, -o. A symlink or a FIFO planted at the path
// is refused, never followed or waited on, and a created file gets an
// explicit mode, whatever the umask.
#ifndef RESDB_TRACE_LIB_OUTPUT_FILE_H_
#define RESDB_TRACE_LIB_OUTPUT_FILE_H_

#include <string>

#include "absl/status/statusor.h"

namespace resdb_trace {

enum class OutputMode {
  kReplace,  // truncate an existing file of ours
  kAppend,   // write after what an existing file of ours holds
};

// A write-only descriptor (O_CLOEXEC; O_APPEND for kAppend) for `path`.
// A new file is created with O_EXCL | O_NOFOLLOW and mode 0644. An existing
// path is opened with O_NOFOLLOW | O_NONBLOCK and must be a regular file
// owned by this user with one link; anything else (a symlink, a FIFO, a
// device, another user's file, a hard link) is FAILED_PRECONDITION naming
// what it is. `flag` ("--jsonl") starts every message.
absl::StatusOr<int> OpenOutputFile(const std::string& flag,
                                   const std::string& path, OutputMode mode);

// OpenOutputFile(kReplace), then writes all of `data`.
absl::Status WriteOutputFile(const std::string& flag, const std::string& path,
                             const std::string& data);

}  // namespace resdb_trace

#endif  // RESDB_TRACE_LIB_OUTPUT_FILE_H_
