// Spawns tests/bpf/hook_target and talks to it over pipes.
#ifndef RESDB_TRACE_TESTS_BPF_TARGET_PROCESS_H_
#define RESDB_TRACE_TESTS_BPF_TARGET_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace resdb_trace::testing {

// Absolute path of the hook_target binary in the test's runfiles.
std::string HookTargetPath();

class TargetProcess {
 public:
  // Starts `path` and waits for its "ready <pid>" line.
  static absl::StatusOr<std::unique_ptr<TargetProcess>> Start(
      const std::string& path);
  TargetProcess(const TargetProcess&) = delete;
  TargetProcess& operator=(const TargetProcess&) = delete;
  // Sends "quit" and reaps the child (SIGKILL if it does not exit).
  ~TargetProcess();

  pid_t pid() const { return pid_; }
  // Sends one command line and returns the reply line (without newline).
  absl::StatusOr<std::string> Command(const std::string& line);
  // "fire <id> <n> <base>"; returns the tid that made the calls.
  absl::StatusOr<pid_t> Fire(uint32_t id, uint64_t n, uint64_t base);
  // "gated <n> <base>"; returns the tid that made the calls.
  absl::StatusOr<pid_t> Gated(uint64_t n, uint64_t base);
  // "sem <id>".
  absl::StatusOr<int> Semaphore(uint32_t id);

 private:
  TargetProcess() = default;
  absl::StatusOr<std::string> ReadLine();

  pid_t pid_ = -1;
  int to_child_ = -1;
  int from_child_ = -1;
  std::string buffer_;
};

}  // namespace resdb_trace::testing

#endif  // RESDB_TRACE_TESTS_BPF_TARGET_PROCESS_H_
