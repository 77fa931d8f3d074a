// Starts a test target (tests/testdata/profile_target, phase_target) and
// waits for its "ready <pid>" line.
#ifndef RESDB_TRACE_TESTS_COLLECTOR_PROFILE_CHILD_PROCESS_H_
#define RESDB_TRACE_TESTS_COLLECTOR_PROFILE_CHILD_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace resdb_trace::testing {

// Absolute path of a runfile such as "tests/testdata/profile_target".
std::string RunfilePath(const std::string& relative);

class ChildProcess {
 public:
  // Runs `path args...` with stdout on a pipe; returns once the child
  // printed "ready <its pid>".
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(
      const std::string& path, const std::vector<std::string>& args);
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  // Kills (SIGKILL) and reaps the child unless it was already reaped.
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  // Waits up to `timeout` for the child to exit; returns its exit code.
  absl::StatusOr<int> Wait(absl::Duration timeout);

 private:
  ChildProcess() = default;
  pid_t pid_ = -1;
  int out_ = -1;
  bool reaped_ = false;
};

}  // namespace resdb_trace::testing

#endif  // RESDB_TRACE_TESTS_COLLECTOR_PROFILE_CHILD_PROCESS_H_
