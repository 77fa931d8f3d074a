// The /proc/PID/maps parser on real and odd lines: deleted files, pseudo
// mappings, anonymous ones, paths with spaces, malformed input of every
// kind, and random bytes (it must never crash).
#include "collector/profile/proc_maps.h"

#include <unistd.h>

#include <random>
#include <string>

#include "gtest/gtest.h"

namespace resdb_trace::collector::profile {
namespace {

TEST(ParseHexTest, AcceptsUpToSixteenDigitsOfEitherCase) {
  uint64_t v = 0;
  EXPECT_TRUE(ParseHex("ffffffffA0b1C2d3", &v));
  EXPECT_EQ(v, 0xffffffffa0b1c2d3u);
  EXPECT_TRUE(ParseHex("0", &v));
  EXPECT_EQ(v, 0u);
  EXPECT_TRUE(ParseHex("FFFFFFFFFFFFFFFF", &v));
  EXPECT_EQ(v, UINT64_MAX);
}

TEST(ParseHexTest, RejectsAndLeavesTheOutputAlone) {
  for (const char* bad :
       {"", "0x10", "12g4", " 12", "12 ", "-1", "10000000000000000"}) {
    uint64_t v = 42;
    EXPECT_FALSE(ParseHex(bad, &v)) << '"' << bad << '"';
    EXPECT_EQ(v, 42u) << '"' << bad << '"';
  }
}

TEST(ParseProcMapsLineTest, FileMapping) {
  std::optional<MapsEntry> e = ParseProcMapsLine(
      "55d0c3a00000-55d0c3a21000 r-xp 00002000 fd:01 1315092                   "
      " /usr/bin/kv_service\n");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->start, 0x55d0c3a00000u);
  EXPECT_EQ(e->end, 0x55d0c3a21000u);
  EXPECT_TRUE(e->read);
  EXPECT_FALSE(e->write);
  EXPECT_TRUE(e->exec);
  EXPECT_FALSE(e->shared);
  EXPECT_EQ(e->offset, 0x2000u);
  EXPECT_EQ(e->dev_major, 0xfdu);
  EXPECT_EQ(e->dev_minor, 0x01u);
  EXPECT_EQ(e->inode, 1315092u);
  EXPECT_EQ(e->path, "/usr/bin/kv_service");
  EXPECT_FALSE(e->deleted);
  EXPECT_TRUE(e->file_backed());
  EXPECT_FALSE(e->pseudo());
}

TEST(ParseProcMapsLineTest, DeletedFile) {
  std::optional<MapsEntry> e = ParseProcMapsLine(
      "7f0000000000-7f0000001000 r-xp 00000000 08:02 42 /tmp/replica.new "
      "(deleted)");
  ASSERT_TRUE(e.has_value());
  EXPECT_TRUE(e->deleted);
  EXPECT_EQ(e->path, "/tmp/replica.new");
  EXPECT_TRUE(e->file_backed());
}

TEST(ParseProcMapsLineTest, PathWithSpaces) {
  std::optional<MapsEntry> e = ParseProcMapsLine(
      "7f0000000000-7f0000001000 r-xp 00001000 08:02 77   /opt/my apps/lib "
      "foo.so");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->path, "/opt/my apps/lib foo.so");
  EXPECT_FALSE(e->deleted);

  // spaces at the end of a file name are part of it
  e = ParseProcMapsLine("1000-2000 r-xp 0 08:02 77 /opt/trailing  ");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->path, "/opt/trailing  ");

  // a deleted file whose name has spaces
  e = ParseProcMapsLine("1000-2000 r-xp 0 08:02 77 /opt/a b (deleted)");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->path, "/opt/a b");
  EXPECT_TRUE(e->deleted);
}

TEST(ParseProcMapsLineTest, PseudoAndAnonymous) {
  std::optional<MapsEntry> vdso = ParseProcMapsLine(
      "7ffd5a5e6000-7ffd5a5e8000 r-xp 00000000 00:00 0                  "
      "[vdso]");
  ASSERT_TRUE(vdso.has_value());
  EXPECT_EQ(vdso->path, "[vdso]");
  EXPECT_TRUE(vdso->pseudo());
  EXPECT_FALSE(vdso->file_backed());

  std::optional<MapsEntry> anon =
      ParseProcMapsLine("7f1c2c000000-7f1c2c021000 rw-p 00000000 00:00 0 ");
  ASSERT_TRUE(anon.has_value());
  EXPECT_EQ(anon->path, "");
  EXPECT_FALSE(anon->file_backed());
  EXPECT_FALSE(anon->pseudo());
  EXPECT_TRUE(anon->write);

  std::optional<MapsEntry> bare =
      ParseProcMapsLine("7f1c2c000000-7f1c2c021000 ---p 00000000 00:00 0");
  ASSERT_TRUE(bare.has_value());
  EXPECT_FALSE(bare->read);
  EXPECT_EQ(bare->path, "");

  std::optional<MapsEntry> named = ParseProcMapsLine(
      "7f1c2c000000-7f1c2c021000 rw-s 00000000 00:01 1234 /memfd:jit "
      "(deleted)");
  ASSERT_TRUE(named.has_value());
  EXPECT_TRUE(named->shared);
  EXPECT_EQ(named->path, "/memfd:jit");
  EXPECT_TRUE(named->deleted);

  std::optional<MapsEntry> vsyscall = ParseProcMapsLine(
      "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 [vsyscall]");
  ASSERT_TRUE(vsyscall.has_value());
  EXPECT_EQ(vsyscall->end, 0xffffffffff601000u);
  EXPECT_EQ(vsyscall->path, "[vsyscall]");
}

TEST(ParseProcMapsLineTest, RejectsMalformedLines) {
  const char* bad[] = {
      "",
      "garbage",
      "1000 r-xp 0 08:02 1 /x",        // no range
      "2000-1000 r-xp 0 08:02 1 /x",   // start after end
      "1000-1000 r-xp 0 08:02 1 /x",   // empty range
      "1000-2000 rwx 0 08:02 1 /x",    // three perms
      "1000-2000 rwxq 0 08:02 1 /x",   // bad sharing flag
      "1000-2000 zwxp 0 08:02 1 /x",   // bad perm
      "1000-2000 r-xp zz 08:02 1 /x",  // bad offset
      "1000-2000 r-xp 0 0802 1 /x",    // device without colon
      "1000-2000 r-xp 0 08:02 -1 /x",  // negative inode
      "1000-2000 r-xp 0 08:02",        // no inode
      "10000000000000000-10000000000000001 r-xp 0 08:02 1",  // > 64 bits
      "1000-2000 r-xp 0 08:02 99999999999999999999999 /x",   // inode overflow
      "g000-2000 r-xp 0 08:02 1 /x",
  };
  for (const char* line : bad) {
    EXPECT_FALSE(ParseProcMapsLine(line).has_value()) << "'" << line << "'";
  }
}

TEST(ParseProcMapsTest, CountsMalformedLinesAndSkipsBlankOnes) {
  ProcMaps maps = ParseProcMaps(
      "1000-2000 r-xp 0 08:02 1 /bin/a\n"
      "\n"
      "this is not a maps line\n"
      "3000-4000 r--p 1000 08:02 1 /bin/a\n"
      "5000-6000 r-xp 0 00:00 0 [vdso]");  // no trailing newline
  ASSERT_EQ(maps.entries.size(), 3u);
  EXPECT_EQ(maps.malformed_lines, 1u);
  EXPECT_EQ(maps.entries[1].offset, 0x1000u);
  EXPECT_EQ(maps.entries[2].path, "[vdso]");
}

TEST(ReadProcMapsTest, OwnProcessAndMissingProcess) {
  absl::StatusOr<ProcMaps> self = ReadProcMaps(getpid());
  ASSERT_TRUE(self.ok()) << self.status();
  EXPECT_EQ(self->malformed_lines, 0u);
  bool exec_file = false;
  for (const MapsEntry& e : self->entries) {
    exec_file = exec_file || (e.exec && e.file_backed());
  }
  EXPECT_TRUE(exec_file);

  // pid_max is at most 2^22: this pid cannot exist
  absl::StatusOr<ProcMaps> gone = ReadProcMaps(1u << 30);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(gone.status().message().find("1073741824"), std::string::npos)
      << gone.status();
}

// Random bytes, and random mutations of a valid line: the parser returns
// something or nothing, never crashes or reads out of bounds (run under
// --config=asan to make the latter loud).
TEST(ParseProcMapsLineTest, SurvivesRandomInput) {
  std::mt19937 rng(12345);
  const std::string valid =
      "7f0000000000-7f0000001000 r-xp 00001000 08:02 77 /opt/lib foo.so";
  int parsed = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string line;
    if (i % 2 == 0) {
      line.resize(rng() % 96);
      for (char& c : line) c = static_cast<char>(rng() & 0xff);
    } else {
      line = valid;
      line[rng() % line.size()] = static_cast<char>(rng() & 0xff);
      if (rng() % 2 == 0) line.resize(rng() % (line.size() + 1));
    }
    std::optional<MapsEntry> e = ParseProcMapsLine(line);
    if (e) {
      ++parsed;
      EXPECT_LT(e->start, e->end);
    }
  }
  // the mutations leave many lines valid: the parser is not rejecting all
  EXPECT_GT(parsed, 500);
}

}  // namespace
}  // namespace resdb_trace::collector::profile
