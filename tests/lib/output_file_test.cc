#include "lib/output_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"

namespace resdb_trace {
namespace {

std::string Dir() {
  const char* d = std::getenv("TEST_TMPDIR");
  return d ? d : "/tmp";
}

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(OutputFileTest, CreatesWithMode0644WhateverTheUmask) {
  const std::string path = Dir() + "/new";
  unlink(path.c_str());
  const mode_t old = umask(0);
  absl::Status s = WriteOutputFile("-o", path, "data");
  umask(old);
  ASSERT_TRUE(s.ok()) << s;
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  EXPECT_EQ(Read(path), "data");
}

TEST(OutputFileTest, ReplacesAndAppendsToAFileOfOurs) {
  const std::string path = Dir() + "/ours";
  ASSERT_TRUE(WriteOutputFile("-o", path, "first run\n").ok());
  ASSERT_TRUE(WriteOutputFile("-o", path, "replaced\n").ok());
  EXPECT_EQ(Read(path), "replaced\n");
  absl::StatusOr<int> fd = OpenOutputFile("--jsonl", path, OutputMode::kAppend);
  ASSERT_TRUE(fd.ok()) << fd.status();
  ASSERT_EQ(write(*fd, "more\n", 5), 5);
  close(*fd);
  EXPECT_EQ(Read(path), "replaced\nmore\n");
}

TEST(OutputFileTest, RefusesASymlinkAndLeavesItsTarget) {
  const std::string target = Dir() + "/victim";
  const std::string link = Dir() + "/link";
  ASSERT_TRUE(WriteOutputFile("-o", target, "precious").ok());
  unlink(link.c_str());
  ASSERT_EQ(symlink(target.c_str(), link.c_str()), 0);
  for (OutputMode m : {OutputMode::kReplace, OutputMode::kAppend}) {
    absl::StatusOr<int> fd = OpenOutputFile("--ready-file", link, m);
    ASSERT_FALSE(fd.ok());
    EXPECT_NE(fd.status().message().find("symbolic link"), std::string::npos)
        << fd.status();
  }
  EXPECT_EQ(Read(target), "precious");
  // A dangling symlink is not followed into creating its target either.
  const std::string dangling = Dir() + "/dangling";
  const std::string nowhere = Dir() + "/created-through-link";
  unlink(dangling.c_str());
  unlink(nowhere.c_str());
  ASSERT_EQ(symlink(nowhere.c_str(), dangling.c_str()), 0);
  EXPECT_FALSE(WriteOutputFile("-o", dangling, "x").ok());
  EXPECT_NE(access(nowhere.c_str(), F_OK), 0);
}

TEST(OutputFileTest, RefusesAFifoWithoutBlocking) {
  const std::string fifo = Dir() + "/fifo";
  unlink(fifo.c_str());
  ASSERT_EQ(mkfifo(fifo.c_str(), 0666), 0);
  absl::Status s = WriteOutputFile("--jsonl", fifo, "x");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("FIFO"), std::string::npos) << s;
  // With a reader waiting, the open would succeed: still refused.
  const int reader = open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(reader, 0);
  s = WriteOutputFile("--jsonl", fifo, "x");
  EXPECT_NE(s.message().find("is a FIFO"), std::string::npos) << s;
  close(reader);
}

TEST(OutputFileTest, RefusesAnotherUsersFileAndHardLinks) {
  const std::string theirs = Dir() + "/theirs";
  ASSERT_TRUE(WriteOutputFile("-o", theirs, "theirs").ok());
  if (geteuid() == 0) {
    ASSERT_EQ(chown(theirs.c_str(), 65534, 65534), 0);
    absl::Status s = WriteOutputFile("-o", theirs, "x");
    EXPECT_NE(s.message().find("belongs to uid 65534"), std::string::npos) << s;
    EXPECT_EQ(Read(theirs), "theirs");
  }
  const std::string file = Dir() + "/linked";
  const std::string hard = Dir() + "/hard";
  unlink(file.c_str());
  unlink(hard.c_str());
  ASSERT_TRUE(WriteOutputFile("-o", file, "kept").ok());
  ASSERT_EQ(link(file.c_str(), hard.c_str()), 0);
  absl::Status s = WriteOutputFile("-o", hard, "x");
  EXPECT_NE(s.message().find("hard links"), std::string::npos) << s;
  EXPECT_EQ(Read(file), "kept");
}

}  // namespace
}  // namespace resdb_trace
