// demo/kv_client against real demo replica processes (no tracing needed):
// set and get through consensus with the seq in the answer, input checks,
// a restarted client with the same id, and clear errors when the cluster is
// down or has lost its quorum.
#include "demo/kv_client.h"

#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

extern char** environ;

namespace resdb_trace::demo {
namespace {

std::string Runfile(const std::string& path) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  return std::string(srcdir ? srcdir : ".") + "/resdb_trace/" + path;
}

bool PortFree(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  close(fd);
  return ok;
}

int FreeBase() {
  std::mt19937 rng(static_cast<unsigned>(getpid()));
  for (int tries = 0; tries < 200; ++tries) {
    const int base = 21000 + static_cast<int>(rng() % 30000);
    bool ok = true;
    for (int i = 1; i <= 4; ++i) ok = ok && PortFree(base + i);
    if (ok) return base;
  }
  return -1;
}

class Cluster {
 public:
  explicit Cluster(int base) : base_(base) {
    const char* tmp = std::getenv("TEST_TMPDIR");
    for (int i = 1; i <= 4; ++i) {
      std::vector<std::string> args = {
          Runfile("demo/replica"), "--id=" + std::to_string(i),
          "--base_port=" + std::to_string(base),
          "--log_file=" + std::string(tmp ? tmp : "/tmp") + "/kv_r" +
              std::to_string(i) + ".log"};
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      pid_t pid = -1;
      EXPECT_EQ(
          posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ),
          0);
      pids_.push_back(pid);
    }
    // Wait until every replica listens.
    for (int i = 1; i <= 4; ++i) {
      for (int t = 0; t < 200 && PortFree(base + i); ++t) usleep(25000);
    }
  }
  ~Cluster() {
    for (size_t i = 0; i < pids_.size(); ++i) Kill(static_cast<int>(i) + 1);
  }
  void Kill(int id) {
    pid_t& pid = pids_[id - 1];
    if (pid <= 0) return;
    kill(pid, SIGTERM);
    waitpid(pid, nullptr, 0);
    pid = -1;
  }

 private:
  int base_;
  std::vector<pid_t> pids_;
};

TEST(KvClient, RejectsBadKeysAndValues) {
  EXPECT_FALSE(ValidateKey("").ok());
  EXPECT_FALSE(ValidateKey("a b").ok());
  EXPECT_FALSE(ValidateKey("a\tb").ok());
  EXPECT_FALSE(ValidateKey(std::string(257, 'k')).ok());
  EXPECT_TRUE(ValidateKey("user42").ok());
  EXPECT_FALSE(ValidateValue("").ok());
  EXPECT_FALSE(ValidateValue("a\nb").ok());
  EXPECT_FALSE(ValidateValue(std::string(4097, 'v')).ok());
  EXPECT_TRUE(ValidateValue("hello world").ok());
  KvClient c(KvClientOptions{});
  EXPECT_EQ(c.Set("a b", "v").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(KvClient, NoClusterIsUnavailableAtOnce) {
  const int base = FreeBase();
  ASSERT_GT(base, 0);
  KvClientOptions o;
  o.base_port = base;
  KvClient c(o);
  auto r = c.Get("k");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(std::string(r.status().message()).find("demo/cluster.sh"),
            std::string::npos)
      << r.status();
}

TEST(KvClient, SetGetThroughConsensus) {
  const int base = FreeBase();
  ASSERT_GT(base, 0);
  Cluster cluster(base);
  KvClientOptions o;
  o.base_port = base;
  o.client_id = 4242;
  KvClient c(o);
  EXPECT_EQ(c.client_id(), 4242u);
  auto set = c.Set("color", "deep blue");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->result, "OK");
  EXPECT_GE(set->seq, 1u);
  EXPECT_GE(set->matching.size(), 2u);  // f+1
  EXPECT_EQ(set->client_id, 4242u);
  auto get = c.Get("color");
  ASSERT_TRUE(get.ok()) << get.status();
  EXPECT_EQ(get->result, "deep blue");
  EXPECT_GT(get->seq, set->seq);
  EXPECT_GT(get->local_id, set->local_id);
  auto missing = c.Get("never-set");
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_EQ(missing->result, "<nil>");

  // A new client with the same id (a restarted MCP server) is not answered
  // from the replicas' cache of the old one's requests.
  {
    KvClient again(o);
    auto s2 = again.Set("color", "red");
    ASSERT_TRUE(s2.ok()) << s2.status();
    EXPECT_GT(s2->seq, missing->seq);
  }
  KvClient third(o);
  auto g2 = third.Get("color");
  ASSERT_TRUE(g2.ok()) << g2.status();
  EXPECT_EQ(g2->result, "red");

  // Two of four replicas down: connections to f+1 work, but no quorum
  // forms, so the request times out with an explanation.
  cluster.Kill(3);
  cluster.Kill(4);
  o.deadline_ms = 1500;
  o.request_timeout_ms = 300;
  KvClient late(o);
  auto r = late.Set("color", "green");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_NE(std::string(r.status().message()).find("quorum"), std::string::npos)
      << r.status();
}

}  // namespace
}  // namespace resdb_trace::demo
