#include "lib/output_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_format.h"

namespace resdb_trace {
namespace {

constexpr mode_t kOutputMode = 0644;

absl::Status Errno(const std::string& flag, const std::string& path,
                   const char* what) {
  return absl::FailedPreconditionError(
      absl::StrFormat("%s %s: %s: %s", flag, path, what, std::strerror(errno)));
}

const char* Kind(mode_t m) {
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISCHR(m) || S_ISBLK(m)) return "a device";
  if (S_ISSOCK(m)) return "a socket";
  if (S_ISDIR(m)) return "a directory";
  return "not a regular file";
}

}  // namespace

absl::StatusOr<int> OpenOutputFile(const std::string& flag,
                                   const std::string& path, OutputMode mode) {
  const int append = mode == OutputMode::kAppend ? O_APPEND : 0;
  int fd = open(path.c_str(),
                O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | append,
                kOutputMode);
  if (fd >= 0) {
    if (fchmod(fd, kOutputMode) != 0) {  // the umask may have narrowed it
      absl::Status s = Errno(flag, path, "chmod");
      close(fd);
      return s;
    }
    return fd;
  }
  if (errno != EEXIST) return Errno(flag, path, "cannot create");
  // O_NONBLOCK: a FIFO must not block the open; O_NOFOLLOW: ELOOP on a
  // symlink.
  fd = open(path.c_str(), O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ELOOP) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "%s %s: is a symbolic link; not following it", flag, path));
    }
    if (errno == ENXIO) {
      return absl::FailedPreconditionError(
          absl::StrFormat("%s %s: is a FIFO; not writing to it", flag, path));
    }
    return Errno(flag, path, "cannot open");
  }
  struct stat st;
  absl::Status refused;
  if (fstat(fd, &st) != 0) {
    refused = Errno(flag, path, "stat");
  } else if (!S_ISREG(st.st_mode)) {
    refused = absl::FailedPreconditionError(absl::StrFormat(
        "%s %s: is %s; not writing to it", flag, path, Kind(st.st_mode)));
  } else if (st.st_uid != geteuid()) {
    refused = absl::FailedPreconditionError(absl::StrFormat(
        "%s %s: belongs to uid %u; remove it or choose another path", flag,
        path, st.st_uid));
  } else if (st.st_nlink != 1) {
    refused = absl::FailedPreconditionError(absl::StrFormat(
        "%s %s: has %u hard links; remove it or choose another path", flag,
        path, static_cast<unsigned>(st.st_nlink)));
  } else if (fcntl(fd, F_SETFL, append) != 0) {  // blocking again
    refused = Errno(flag, path, "fcntl");
  } else if (mode == OutputMode::kReplace && ftruncate(fd, 0) != 0) {
    refused = Errno(flag, path, "truncate");
  }
  if (!refused.ok()) {
    close(fd);
    return refused;
  }
  return fd;
}

absl::Status WriteOutputFile(const std::string& flag, const std::string& path,
                             const std::string& data) {
  absl::StatusOr<int> fd = OpenOutputFile(flag, path, OutputMode::kReplace);
  if (!fd.ok()) return fd.status();
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = write(*fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      absl::Status s = Errno(flag, path, "write");
      close(*fd);
      return s;
    }
    done += static_cast<size_t>(n);
  }
  if (close(*fd) != 0) return Errno(flag, path, "close");
  return absl::OkStatus();
}

}  // namespace resdb_trace
