// The collector's Unix socket path against a quick restart and against other
// local users: an exiting collector removes only the socket it bound, and
// the collector refuses a socket directory another user could swap the
// socket in, a symlink, or another user's socket at the path.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>

#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "resdb_trace/v1/service.grpc.pb.h"
#include "tests/faults/fault_util.h"

namespace {

using namespace resdb_trace::faults;  // NOLINT: test helpers

constexpr uid_t kNobody = 65534;

std::string Base(const std::string& name) {
  return "/tmp/resdb-trace-sockpath-" + std::to_string(getpid()) + "-" + name;
}

std::vector<std::string> Target() {
  return {"--binary", Runfile("tests/testdata/hook_target")};
}

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

TEST(SocketPathTest, ExitingCollectorLeavesItsSuccessorsSocket) {
  const std::string socket = Base("restart") + ".sock";
  unlink(socket.c_str());
  Collector old_one(socket, Target());
  Collector new_one(socket, Target());
  std::string why;
  ASSERT_TRUE(old_one.Start(&why)) << why;
  // The successor starts before the old one has exited (a quick restart):
  // it replaces the path with its own socket.
  ASSERT_TRUE(new_one.Start(&why)) << why;
  EXPECT_EQ(old_one.Stop(), 0);
  EXPECT_TRUE(Exists(socket)) << "the old collector removed its successor's "
                                 "socket on exit";
  v1::Stats stats;
  EXPECT_TRUE(new_one.GetStats(&stats));
  EXPECT_EQ(new_one.Stop(), 0);
  EXPECT_FALSE(Exists(socket)) << "a collector removes its own socket";
}

// Starts a collector on `socket` expecting it to refuse; its stderr.
std::string Refusal(const std::string& socket) {
  Collector c(socket, Target());
  std::string why;
  EXPECT_FALSE(c.Start(&why)) << "started on " << socket;
  return why;
}

TEST(SocketPathTest, RefusesADirectoryOthersCanWrite) {
  const std::string dir = Base("open");
  mkdir(dir.c_str(), 0700);
  ASSERT_EQ(chmod(dir.c_str(), 0777), 0);
  EXPECT_NE(Refusal(dir + "/c.sock").find("writable by others"),
            std::string::npos);
  // Sticky (as /tmp): nobody else can remove or rename our entry.
  ASSERT_EQ(chmod(dir.c_str(), 01777), 0);
  Collector c(dir + "/c.sock", Target());
  std::string why;
  EXPECT_TRUE(c.Start(&why)) << why;
  EXPECT_EQ(c.Stop(), 0);
  rmdir(dir.c_str());
}

TEST(SocketPathTest, RefusesADirectoryOfAnotherUser) {
  const std::string dir = Base("theirs");
  mkdir(dir.c_str(), 0755);
  ASSERT_EQ(chown(dir.c_str(), kNobody, kNobody), 0);
  EXPECT_NE(Refusal(dir + "/c.sock").find("belongs to uid 65534"),
            std::string::npos);
  rmdir(dir.c_str());
}

TEST(SocketPathTest, RefusesASymlinkOrAnotherUsersSocket) {
  const std::string link = Base("link") + ".sock";
  unlink(link.c_str());
  ASSERT_EQ(symlink("/etc/passwd", link.c_str()), 0);
  EXPECT_NE(Refusal(link).find("not a socket"), std::string::npos);
  unlink(link.c_str());

  const std::string theirs = Base("their") + ".sock";
  unlink(theirs.c_str());
  const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", theirs.c_str());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  close(fd);
  ASSERT_EQ(lchown(theirs.c_str(), kNobody, kNobody), 0);
  EXPECT_NE(Refusal(theirs).find("socket of uid 65534"), std::string::npos);
  EXPECT_TRUE(Exists(theirs)) << "another user's socket is left alone";
  unlink(theirs.c_str());
}

}  // namespace
