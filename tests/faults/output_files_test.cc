// The collector's output files with the real binary: --jsonl appends across
// restarts, and a --ready-file planted as a symlink is refused (exit 1),
// its target untouched.
#include <unistd.h>

#include <string>

#include "gtest/gtest.h"
#include "tests/faults/fault_util.h"

namespace {

using namespace resdb_trace::faults;  // NOLINT: test helpers

std::string Base(const std::string& name) {
  return "/tmp/resdb-trace-out-" + std::to_string(getpid()) + "-" + name;
}

TEST(OutputFilesTest, JsonlAppendsAcrossRestarts) {
  const std::string jsonl = TmpDir() + "/events.jsonl";
  { std::ofstream(jsonl) << "{\"previous\":\"run\"}\n"; }
  Collector c(
      Base("jsonl") + ".sock",
      {"--binary", Runfile("tests/testdata/hook_target"), "--jsonl", jsonl});
  std::string why;
  ASSERT_TRUE(c.Start(&why)) << why;
  EXPECT_EQ(c.Stop(), 0);
  EXPECT_EQ(ReadFile(jsonl).rfind("{\"previous\":\"run\"}\n", 0), 0u)
      << "a restart wiped the previous run's events";
}

TEST(OutputFilesTest, ReadyFileSymlinkIsRefused) {
  const std::string victim = TmpDir() + "/victim";
  const std::string link = TmpDir() + "/ready-link";
  { std::ofstream(victim) << "precious\n"; }
  unlink(link.c_str());
  ASSERT_EQ(symlink(victim.c_str(), link.c_str()), 0);
  RunResult r =
      RunCommand({Runfile("collector/resdb-trace-collector"), "--listen",
                  "unix://" + Base("ready") + ".sock", "--ready-file", link,
                  "--binary", Runfile("tests/testdata/hook_target")},
                 60);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("--ready-file " + link + ": is a symbolic link"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(ReadFile(victim), "precious\n");
}

}  // namespace
