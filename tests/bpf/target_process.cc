#include "tests/bpf/target_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace resdb_trace::testing {

std::string HookTargetPath() {
  // bazel runs tests from the workspace's runfiles directory
  char resolved[PATH_MAX];
  if (realpath("tests/bpf/hook_target", resolved) == nullptr) {
    return "tests/bpf/hook_target";
  }
  return resolved;
}

absl::StatusOr<std::unique_ptr<TargetProcess>> TargetProcess::Start(
    const std::string& path) {
  int in[2];
  int out[2];
  if (pipe2(in, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  if (pipe2(out, O_CLOEXEC) != 0) {
    close(in[0]);
    close(in[1]);
    return absl::InternalError("pipe failed");
  }
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    dup2(in[0], STDIN_FILENO);
    dup2(out[1], STDOUT_FILENO);
    execl(path.c_str(), path.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  std::unique_ptr<TargetProcess> target(new TargetProcess());
  target->pid_ = pid;
  target->to_child_ = in[1];
  target->from_child_ = out[0];
  absl::StatusOr<std::string> ready = target->ReadLine();
  if (!ready.ok()) return ready.status();
  if (*ready != absl::StrCat("ready ", pid)) {
    return absl::InternalError(
        absl::StrCat("unexpected greeting from ", path, ": ", *ready));
  }
  return target;
}

TargetProcess::~TargetProcess() {
  if (to_child_ >= 0) {
    (void)!write(to_child_, "quit\n", 5);
    close(to_child_);
  }
  if (from_child_ >= 0) close(from_child_);
  if (pid_ > 0) {
    for (int i = 0; i < 200; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) return;
      usleep(10000);
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

absl::StatusOr<std::string> TargetProcess::ReadLine() {
  for (;;) {
    size_t nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    pollfd pfd{from_child_, POLLIN, 0};
    int r = poll(&pfd, 1, 30000);
    if (r == 0) return absl::DeadlineExceededError("target did not answer");
    if (r < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(absl::StrCat("poll: ", strerror(errno)));
    }
    char buf[256];
    ssize_t n = read(from_child_, buf, sizeof(buf));
    if (n <= 0) return absl::InternalError("target closed its stdout");
    buffer_.append(buf, static_cast<size_t>(n));
  }
}

absl::StatusOr<std::string> TargetProcess::Command(const std::string& line) {
  std::string cmd = line + "\n";
  if (write(to_child_, cmd.data(), cmd.size()) !=
      static_cast<ssize_t>(cmd.size())) {
    return absl::InternalError("cannot write to the target");
  }
  return ReadLine();
}

namespace {
absl::StatusOr<pid_t> ParseDone(absl::StatusOr<std::string> reply) {
  if (!reply.ok()) return reply.status();
  int tid = 0;
  if (!absl::StartsWith(*reply, "done ") ||
      !absl::SimpleAtoi(reply->substr(5), &tid)) {
    return absl::InternalError(absl::StrCat("unexpected reply: ", *reply));
  }
  return tid;
}
}  // namespace

absl::StatusOr<pid_t> TargetProcess::Fire(uint32_t id, uint64_t n,
                                          uint64_t base) {
  return ParseDone(Command(absl::StrCat("fire ", id, " ", n, " ", base)));
}

absl::StatusOr<pid_t> TargetProcess::Gated(uint64_t n, uint64_t base) {
  return ParseDone(Command(absl::StrCat("gated ", n, " ", base)));
}

absl::StatusOr<int> TargetProcess::Semaphore(uint32_t id) {
  absl::StatusOr<std::string> reply = Command(absl::StrCat("sem ", id));
  if (!reply.ok()) return reply.status();
  int v = 0;
  if (!absl::SimpleAtoi(*reply, &v)) {
    return absl::InternalError(absl::StrCat("unexpected reply: ", *reply));
  }
  return v;
}

}  // namespace resdb_trace::testing
