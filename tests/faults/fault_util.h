// Helpers of the fault tests: a collector process the test can SIGKILL and
// restart on the same socket, and /proc readings (RSS, open fds).
#ifndef RESDB_TRACE_TESTS_FAULTS_FAULT_UTIL_H_
#define RESDB_TRACE_TESTS_FAULTS_FAULT_UTIL_H_

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "tests/e2e/e2e_util.h"

namespace resdb_trace::faults {

using namespace resdb_trace::e2e;  // NOLINT: shared test helpers

// VmRSS of `pid` in KiB (-1 if gone).
inline long RssKib(pid_t pid) {
  const std::string status =
      ReadFile("/proc/" + std::to_string(pid) + "/status");
  const size_t p = status.find("VmRSS:");
  return p == std::string::npos ? -1 : std::atol(status.c_str() + p + 6);
}

// Open file descriptors of `pid` (-1 if gone).
inline int FdCount(pid_t pid) {
  DIR* d = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (d == nullptr) return -1;
  int n = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n;
}

// resdb-trace-collector on a fixed Unix socket; Start() may be called again
// after Kill() or Stop() (a restart on the same socket).
class Collector {
 public:
  Collector(std::string socket, std::vector<std::string> args)
      : socket_(std::move(socket)), args_(std::move(args)) {}
  ~Collector() { Stop(); }

  bool Start(std::string* why) {
    ++runs_;
    const std::string base = TmpDir() + "/collector-" + std::to_string(runs_);
    ready_ = base + ".ready";
    err_ = base + ".err";
    unlink(ready_.c_str());
    std::vector<std::string> argv = {Runfile("collector/resdb-trace-collector"),
                                     "--listen", "unix://" + socket_,
                                     "--ready-file", ready_};
    argv.insert(argv.end(), args_.begin(), args_.end());
    pid_ = Spawn(argv, base + ".out", err_);
    return WaitForReadyFile(&pid_, ready_, err_, why);
  }
  // SIGKILL: no cleanup at all, as after an OOM kill or a crash.
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    int status;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  int Stop() {
    if (pid_ <= 0) return 0;
    kill(pid_, SIGINT);
    const int code = WaitExit(pid_, 30);
    pid_ = -1;
    return code;
  }
  pid_t pid() const { return pid_; }
  std::string target() const { return "unix://" + socket_; }
  std::string err() const { return ReadFile(err_); }
  std::unique_ptr<v1::TraceService::Stub> Stub() const {
    return v1::TraceService::NewStub(
        grpc::CreateChannel(target(), grpc::InsecureChannelCredentials()));
  }
  bool GetStats(v1::Stats* stats) const {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(5));
    return Stub()->GetStats(&ctx, v1::GetStatsRequest(), stats).ok();
  }

 private:
  std::string socket_;
  std::vector<std::string> args_;
  std::string ready_, err_;
  pid_t pid_ = -1;
  int runs_ = 0;
};

}  // namespace resdb_trace::faults

#endif  // RESDB_TRACE_TESTS_FAULTS_FAULT_UTIL_H_
