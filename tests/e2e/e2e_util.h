// Helpers of the end-to-end tests: runfiles, spawning real processes, a
// collector process, and a subscriber on its own thread.
#ifndef RESDB_TRACE_TESTS_E2E_E2E_UTIL_H_
#define RESDB_TRACE_TESTS_E2E_E2E_UTIL_H_

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "resdb_trace/v1/service.grpc.pb.h"

extern char** environ;

namespace resdb_trace::e2e {

namespace v1 = resdb_trace::v1;
using Clock = std::chrono::steady_clock;

inline std::string Runfile(const std::string& path) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  return std::string(srcdir ? srcdir : ".") + "/resdb_trace/" + path;
}

inline std::string TmpDir() {
  const char* d = std::getenv("TEST_TMPDIR");
  return d ? d : "/tmp";
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs argv with stdout/stderr redirected to files; returns the pid.
inline pid_t Spawn(const std::vector<std::string>& args, const std::string& out,
                   const std::string& err) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0 ? pid : -1;
}

inline int WaitExit(pid_t pid, int timeout_s = 60) {
  const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  int status = 0;
  while (Clock::now() < deadline) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

struct RunResult {
  int code;
  std::string out, err;
};

inline RunResult RunCommand(const std::vector<std::string>& args,
                            int timeout_s = 60) {
  static int n = 0;
  const std::string base = TmpDir() + "/run" + std::to_string(++n);
  pid_t pid = Spawn(args, base + ".out", base + ".err");
  if (pid < 0) return {-1, "", "spawn failed"};
  int code = WaitExit(pid, timeout_s);
  return {code, ReadFile(base + ".out"), ReadFile(base + ".err")};
}

inline long Produced(const std::string& out) {
  size_t p = out.find("produced ");
  return p == std::string::npos ? -1 : std::atol(out.c_str() + p + 9);
}

// Waits up to 60 s for a collector started with --ready-file `ready` to
// create it. False, with its stderr (`err`) in *why, if it exited first
// (then *pid = -1) or never got ready.
inline bool WaitForReadyFile(pid_t* pid, const std::string& ready,
                             const std::string& err, std::string* why) {
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < deadline) {
    if (access(ready.c_str(), F_OK) == 0) return true;
    int status;
    if (waitpid(*pid, &status, WNOHANG) == *pid) {
      *pid = -1;
      *why = "collector exited: " + ReadFile(err);
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  *why = "collector not ready in 60 s: " + ReadFile(err);
  return false;
}

class CollectorProcess {
 public:
  explicit CollectorProcess(std::vector<std::string> extra) {
    static int n = 0;
    ++n;
    socket_ = "/tmp/resdb-trace-e2e-" + std::to_string(getpid()) + "-" +
              std::to_string(n) + ".sock";
    const std::string base = TmpDir() + "/collector" + std::to_string(n);
    ready_ = base + ".ready";
    err_ = base + ".err";
    unlink(ready_.c_str());
    std::vector<std::string> args = {Runfile("collector/resdb-trace-collector"),
                                     "--listen", "unix://" + socket_,
                                     "--ready-file", ready_};
    args.insert(args.end(), extra.begin(), extra.end());
    pid_ = Spawn(args, base + ".out", err_);
  }
  ~CollectorProcess() { Stop(); }

  // Waits for "ready"; false (with the collector's stderr) if it died.
  bool WaitReady(std::string* why) {
    return WaitForReadyFile(&pid_, ready_, err_, why);
  }
  int Stop() {
    if (pid_ <= 0) return 0;
    kill(pid_, SIGINT);
    int code = WaitExit(pid_, 30);
    pid_ = -1;
    return code;
  }
  std::unique_ptr<v1::TraceService::Stub> Stub() const {
    return v1::TraceService::NewStub(grpc::CreateChannel(
        "unix://" + socket_, grpc::InsecureChannelCredentials()));
  }
  v1::Stats Stats() const {
    grpc::ClientContext ctx;
    v1::Stats stats;
    grpc::Status s = Stub()->GetStats(&ctx, v1::GetStatsRequest(), &stats);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return stats;
  }
  const std::string& err_path() const { return err_; }
  // Subscribe is asynchronous: wait until the collector lists `n` streams,
  // so no event is published before they exist.
  bool WaitSubscribers(int n) const {
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (Clock::now() < deadline) {
      if (Stats().subscribers_size() >= n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

 private:
  pid_t pid_ = -1;
  std::string socket_, ready_, err_;
};

// A subscriber on its own thread; `start_reading` lets a test hold it back.
class Subscriber {
 public:
  Subscriber(const CollectorProcess& c, v1::SubscribeRequest req,
             bool start_reading = true)
      : stub_(c.Stub()), reading_(start_reading) {
    if (req.queue_capacity() == 0) req.set_queue_capacity(1 << 20);
    reader_ = stub_->Subscribe(&ctx_, req);
    thread_ = std::thread([this] { Loop(); });
  }
  ~Subscriber() {
    ctx_.TryCancel();
    if (thread_.joinable()) thread_.join();
  }
  void StartReading() { reading_.store(true); }
  // Waits until `pred` holds over the events read so far.
  template <typename Pred>
  bool WaitFor(Pred pred, int timeout_s = 30) {
    const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
    while (Clock::now() < deadline) {
      {
        std::lock_guard<std::mutex> l(mu_);
        if (pred(events_)) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  bool WaitExited(uint32_t pid, int timeout_s = 30) {
    return WaitFor(
        [pid](const std::vector<v1::Event>& ev) {
          for (const auto& e : ev) {
            if (e.has_process_exited() && e.process_exited().pid() == pid)
              return true;
          }
          return false;
        },
        timeout_s);
  }
  std::vector<v1::Event> Events() {
    std::lock_guard<std::mutex> l(mu_);
    return events_;
  }
  grpc::Status Finish() {
    ctx_.TryCancel();
    if (thread_.joinable()) thread_.join();
    return status_;
  }

 private:
  void Loop() {
    while (!reading_.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    v1::EventBatch batch;
    while (reader_->Read(&batch)) {
      std::lock_guard<std::mutex> l(mu_);
      for (const auto& e : batch.events()) events_.push_back(e);
    }
    status_ = reader_->Finish();
  }
  std::unique_ptr<v1::TraceService::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<v1::EventBatch>> reader_;
  std::atomic<bool> reading_;
  std::thread thread_;
  std::mutex mu_;
  std::vector<v1::Event> events_;
  grpc::Status status_;
};

}  // namespace resdb_trace::e2e

#endif  // RESDB_TRACE_TESTS_E2E_E2E_UTIL_H_
