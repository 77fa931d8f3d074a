#include "tests/collector/profile/child_process.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace resdb_trace::testing {

std::string RunfilePath(const std::string& relative) {
  char resolved[PATH_MAX];
  if (realpath(relative.c_str(), resolved) == nullptr) return relative;
  return resolved;
}

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Start(
    const std::string& path, const std::vector<std::string>& args) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  }
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(path.c_str()));
  for (const std::string& a : args)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    execv(path.c_str(), argv.data());
    _exit(127);
  }
  close(out[1]);
  std::unique_ptr<ChildProcess> child(new ChildProcess());
  child->pid_ = pid;
  child->out_ = out[0];

  std::string line;
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (line.find('\n') == std::string::npos) {
    const int left =
        static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    pollfd pfd{child->out_, POLLIN, 0};
    if (left <= 0 || poll(&pfd, 1, left) <= 0) {
      return absl::DeadlineExceededError(
          absl::StrCat(path, " did not print its ready line"));
    }
    char buf[128];
    ssize_t n = read(child->out_, buf, sizeof(buf));
    if (n <= 0) {
      return absl::InternalError(
          absl::StrCat(path, " closed its stdout before it was ready"));
    }
    line.append(buf, static_cast<size_t>(n));
  }
  line.resize(line.find('\n'));
  if (line != absl::StrCat("ready ", pid)) {
    return absl::InternalError(
        absl::StrCat("unexpected greeting from ", path, ": '", line, "'"));
  }
  return child;
}

ChildProcess::~ChildProcess() {
  if (out_ >= 0) close(out_);
  if (pid_ > 0 && !reaped_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

absl::StatusOr<int> ChildProcess::Wait(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      return absl::InternalError(
          absl::StrCat("child ", pid_, " died with status ", status));
    }
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("child ", pid_, " did not exit"));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
}

}  // namespace resdb_trace::testing
