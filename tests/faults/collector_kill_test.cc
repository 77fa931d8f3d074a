// The collector SIGKILLed while attached to a running target, then restarted
// on the same socket: the kernel releases every BPF link, program and map
// the killed collector held (checked against `bpftool`), the target keeps
// running and finishes its work, the restarted collector attaches to the
// same process and events flow again, and `resdb-trace watch --retry`
// reconnects by itself. Real eBPF, real processes; needs root.
#include <dirent.h>
#include <unistd.h>

#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "resdb_trace/v1/service.grpc.pb.h"
#include "tests/faults/fault_util.h"

namespace {

using namespace resdb_trace::faults;  // NOLINT: test helpers

struct BpfObjects {
  std::set<long> links, progs, maps;
};

// The BPF objects `pid` holds open, from /proc/PID/fdinfo.
BpfObjects HeldBy(pid_t pid) {
  BpfObjects o;
  const std::string dir = "/proc/" + std::to_string(pid) + "/fdinfo";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return o;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    const std::string info = ReadFile(dir + "/" + e->d_name);
    auto field = [&](const std::string& key) -> long {
      const size_t p = info.find("\n" + key + ":");
      return p == std::string::npos
                 ? -1
                 : std::atol(info.c_str() + p + key.size() + 2);
    };
    if (long id = field("link_id"); id > 0) {
      o.links.insert(id);
    } else if (long id = field("prog_id"); id > 0) {
      o.progs.insert(id);
    } else if (long id = field("map_id"); id > 0) {
      o.maps.insert(id);
    }
  }
  closedir(d);
  return o;
}

// Ids `bpftool KIND show -j` lists ("link", "prog", "map").
std::set<long> BpftoolIds(const std::string& kind) {
  RunResult r = RunCommand({"/usr/sbin/bpftool", kind, "show", "-j"}, 30);
  EXPECT_EQ(r.code, 0) << r.err;
  std::set<long> ids;
  // Top-level objects start with {"id":N (bpftool's JSON is one line).
  size_t p = 0;
  while ((p = r.out.find("{\"id\":", p)) != std::string::npos) {
    p += 6;
    ids.insert(std::atol(r.out.c_str() + p));
  }
  return ids;
}

std::set<long> Common(const std::set<long>& a, const std::set<long>& b) {
  std::set<long> out;
  for (long x : a) {
    if (b.count(x)) out.insert(x);
  }
  return out;
}

// Hook events of `pid` in `jsonl` (resdb-trace watch --json output).
long EventsOf(const std::string& jsonl, pid_t pid) {
  const std::string needle =
      "\"process\":{\"pid\":" + std::to_string(pid) + ",";
  long hits = 0;
  size_t start = 0;
  while (start < jsonl.size()) {
    size_t end = jsonl.find('\n', start);
    if (end == std::string::npos) end = jsonl.size();
    const std::string line = jsonl.substr(start, end - start);
    if (line.find("\"hook_id\"") != std::string::npos &&
        line.find(needle) != std::string::npos) {
      ++hits;
    }
    start = end + 1;
  }
  return hits;
}

TEST(CollectorKillTest, KilledCollectorLeaksNothingAndRestartsCleanly) {
  const std::string sock =
      "/tmp/resdb-trace-kill-" + std::to_string(getpid()) + ".sock";
  Collector c(sock, {"--binary", Runfile("tests/testdata/hook_target")});
  std::string why;
  ASSERT_TRUE(c.Start(&why)) << why;

  // The target: 1 thread, 40 000 hits at 2 000/s (20 s), from once every
  // hook is attached.
  const std::string tbase = TmpDir() + "/kill-target";
  pid_t target =
      Spawn({Runfile("tests/testdata/hook_target"), "1", "40000", "2000"},
            tbase + ".out", tbase + ".err");
  ASSERT_GT(target, 0);

  // A watcher that must survive the collector's death.
  const std::string wbase = TmpDir() + "/kill-watch";
  pid_t watch = Spawn({Runfile("clients/cli/resdb-trace"), "watch", "--json",
                       "--retry", "--seconds", "60", "--listen", c.target()},
                      wbase + ".out", wbase + ".err");
  ASSERT_GT(watch, 0);

  // Events of the target reach the watcher.
  auto wait_events = [&](long more_than, int timeout_s) {
    const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
    while (Clock::now() < deadline) {
      long n = EventsOf(ReadFile(wbase + ".out"), target);
      if (n > more_than) return n;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return EventsOf(ReadFile(wbase + ".out"), target);
  };
  const long before = wait_events(500, 30);
  ASSERT_GT(before, 500) << ReadFile(wbase + ".err") << c.err();

  const BpfObjects held = HeldBy(c.pid());
  ASSERT_EQ(held.links.size(), 31u) << "one uprobe link per catalogue hook";
  ASSERT_FALSE(held.progs.empty());
  ASSERT_FALSE(held.maps.empty());
  EXPECT_EQ(Common(held.links, BpftoolIds("link")), held.links);

  c.Kill();
  // The kernel frees them once the last reference is gone (RCU, deferred).
  std::set<long> links, progs, maps;
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  do {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    links = Common(held.links, BpftoolIds("link"));
    progs = Common(held.progs, BpftoolIds("prog"));
    maps = Common(held.maps, BpftoolIds("map"));
  } while (Clock::now() < deadline &&
           !(links.empty() && progs.empty() && maps.empty()));
  EXPECT_TRUE(links.empty()) << links.size() << " uprobe links leaked";
  EXPECT_TRUE(progs.empty()) << progs.size() << " programs leaked";
  EXPECT_TRUE(maps.empty()) << maps.size() << " maps leaked";

  // The target did not notice.
  int status;
  EXPECT_EQ(waitpid(target, &status, WNOHANG), 0) << "target died with the "
                                                     "collector";
  // Down for a second; the watcher keeps retrying.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_EQ(waitpid(watch, &status, WNOHANG), 0)
      << "watch --retry exited: " << ReadFile(wbase + ".err");

  // Restart on the same (stale) socket: attaches to the running target.
  ASSERT_TRUE(c.Start(&why)) << why;
  const long at_restart = EventsOf(ReadFile(wbase + ".out"), target);
  const long after = wait_events(at_restart + 500, 30);
  EXPECT_GT(after, at_restart + 500)
      << "no events after the restart: " << ReadFile(wbase + ".err") << c.err();
  EXPECT_NE(ReadFile(wbase + ".err").find("reconnecting"), std::string::npos);
  v1::Stats stats;
  ASSERT_TRUE(c.GetStats(&stats));
  int attached = 0;
  for (const auto& a : stats.attachments()) {
    attached += a.status() == v1::ATTACH_STATUS_ATTACHED;
  }
  EXPECT_EQ(attached, 31);

  // The target finishes all its work normally.
  EXPECT_EQ(WaitExit(target, 60), 0) << ReadFile(tbase + ".err");
  EXPECT_EQ(Produced(ReadFile(tbase + ".out")), 40000);
  std::printf(
      "watch saw %ld events of the target before the kill, %ld in "
      "all\n",
      before, after);
  kill(watch, SIGINT);
  WaitExit(watch, 10);
  EXPECT_EQ(c.Stop(), 0);
}

}  // namespace
