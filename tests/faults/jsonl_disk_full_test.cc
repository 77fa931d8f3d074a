// --jsonl onto a full file system (a 1 MiB tmpfs): the collector logs one
// clear error, stops the JSON output and counts what it could not write
// (Stats.jsonl_dropped), and keeps serving gRPC: a subscriber still gets
// every event. Needs root (mount, BPF).
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "gtest/gtest.h"
#include "resdb_trace/v1/service.grpc.pb.h"
#include "tests/faults/fault_util.h"

namespace {

using namespace resdb_trace::faults;  // NOLINT: test helpers

class TmpfsMount {
 public:
  explicit TmpfsMount(const std::string& dir) : dir_(dir) {
    mkdir(dir_.c_str(), 0755);
    ok_ = mount("tmpfs", dir_.c_str(), "tmpfs", 0, "size=1m") == 0;
  }
  ~TmpfsMount() {
    if (ok_) umount2(dir_.c_str(), MNT_DETACH);
    rmdir(dir_.c_str());
  }
  bool ok() const { return ok_; }

 private:
  std::string dir_;
  bool ok_ = false;
};

long Count(const std::string& text, const std::string& needle) {
  long n = 0;
  for (size_t p = text.find(needle); p != std::string::npos;
       p = text.find(needle, p + 1)) {
    ++n;
  }
  return n;
}

TEST(JsonlDiskFullTest, FullDiskStopsJsonOutputAndGrpcKeepsServing) {
  const std::string dir = "/tmp/resdb-trace-full-" + std::to_string(getpid());
  TmpfsMount tmpfs(dir);
  ASSERT_TRUE(tmpfs.ok()) << "mount -t tmpfs -o size=1m " << dir << ": "
                          << std::strerror(errno);
  const std::string jsonl = dir + "/events.jsonl";
  Collector c(dir + ".sock", {"--binary", Runfile("tests/testdata/hook_target"),
                              "--jsonl", jsonl});
  std::string why;
  ASSERT_TRUE(c.Start(&why)) << why;

  // 20 000 events of ~400 bytes of JSON each: 8 MB into 1 MiB.
  RunResult first =
      RunCommand({Runfile("tests/testdata/hook_target"), "2", "10000", "0"});
  ASSERT_EQ(first.code, 0) << first.err;
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < deadline &&
         c.err().find("write failed") == std::string::npos) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const std::string err = c.err();
  EXPECT_EQ(Count(err, "--jsonl " + jsonl +
                           ": write failed: No space left on device; JSON "
                           "output stopped, gRPC keeps serving"),
            1)
      << err;
  struct stat st;
  ASSERT_EQ(stat(jsonl.c_str(), &st), 0);
  EXPECT_LE(st.st_size, 1 << 20);

  // gRPC still serves every event of a second run.
  v1::SubscribeRequest req;
  req.set_queue_capacity(1 << 20);
  auto stub = c.Stub();
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(90));
  auto reader = stub->Subscribe(&ctx, req);
  v1::Stats stats;
  while (Clock::now() < deadline + std::chrono::seconds(20) &&
         (!c.GetStats(&stats) || stats.subscribers_size() < 1)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(stats.subscribers_size(), 1);
  const std::string tbase = TmpDir() + "/full-second";
  pid_t second =
      Spawn({Runfile("tests/testdata/hook_target"), "1", "5000", "0"},
            tbase + ".out", tbase + ".err");
  ASSERT_GT(second, 0);
  long got = 0;
  bool exited = false;
  v1::EventBatch batch;
  while (!exited && reader->Read(&batch)) {
    for (const auto& e : batch.events()) {
      if (e.has_process_exited() &&
          e.process_exited().pid() == static_cast<uint32_t>(second)) {
        exited = true;
      }
      if (e.process().pid() == static_cast<uint32_t>(second) &&
          e.hook_id() != 0) {
        ++got;
      }
    }
  }
  ctx.TryCancel();
  reader->Finish();
  EXPECT_EQ(WaitExit(second, 30), 0);
  EXPECT_EQ(got, 5000);

  // What the writer could not write is counted, not silently lost.
  ASSERT_TRUE(c.GetStats(&stats));
  EXPECT_GT(stats.jsonl_dropped(), 0u);
  EXPECT_GE(stats.jsonl_dropped(), 5000u) << "the second run's events too";
  EXPECT_EQ(c.Stop(), 0) << c.err();
  unlink((dir + ".sock").c_str());
}

}  // namespace
