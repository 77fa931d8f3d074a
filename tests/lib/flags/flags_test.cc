// lib/flags in-process: the error lines, the checks, the exit codes.
#include "lib/flags/flags.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "lib/flags/version.h"

namespace resdb_trace::flags {
namespace {

// Parses `args` (argv[0] excluded) and returns ErrorLine, or "" on success.
std::string Parse(CLI::App* app, std::vector<std::string> args) {
  std::vector<char*> argv = {const_cast<char*>("test")};
  for (std::string& a : args) argv.push_back(a.data());
  try {
    app->parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& e) {
    return ErrorLine(e);
  }
  return "";
}

TEST(Flags, BothValueSpellingsAndRepeatedLists) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--n=7", "--ids=1,2", "--ids", "3"},
        std::vector<std::string>{"--n", "7", "--ids", "1,2", "--ids=3"}}) {
    CLI::App app;
    int n = 0;
    std::vector<int> ids;
    app.add_option("--n", n);
    app.add_option("--ids", ids)->delimiter(',')->allow_extra_args(false);
    EXPECT_EQ(Parse(&app, args), "");
    EXPECT_EQ(n, 7);
    EXPECT_EQ(ids, (std::vector<int>{1, 2, 3}));
  }
}

TEST(Flags, TheLastOfARepeatedSingleValueWins) {
  CLI::App app;
  std::string listen;
  std::vector<int> ids;
  CLI::App* sub = app.add_subcommand("sub");
  int width = 0;
  app.add_option("--listen", listen);
  app.add_option("--ids", ids)->delimiter(',');
  sub->add_option("--width", width);
  EXPECT_NE(Parse(&app, {"--listen", "a", "--listen", "b"}), "");
  LastOneWins(&app);
  EXPECT_EQ(Parse(&app, {"--listen", "a", "--listen=b", "--ids", "1", "--ids",
                         "2", "sub", "--width", "3", "--width", "4"}),
            "");
  EXPECT_EQ(listen, "b");
  EXPECT_EQ(ids, (std::vector<int>{1, 2}));
  EXPECT_EQ(width, 4);
}

TEST(Flags, ErrorsAreOneLineNamingTheFlag) {
  CLI::App app;
  int n = 0;
  std::vector<int> ids;
  app.add_option("--n", n)->check(CLI::Range(1, 9));
  app.add_option("--ids", ids)->allow_extra_args(false);
  EXPECT_EQ(Parse(&app, {"--bogus=3"}), "unknown flag --bogus; see --help");
  EXPECT_EQ(Parse(&app, {"stray"}), "unexpected argument 'stray'; see --help");
  EXPECT_EQ(Parse(&app, {"--ids", "1", "2"}),
            "unexpected argument '2'; see --help");
  EXPECT_EQ(Parse(&app, {"--n=0"}),
            "--n: Value 0 not in range 1 to 9; see --help");
  EXPECT_EQ(Parse(&app, {"--n"}).rfind("--n: ", 0), 0u) << Parse(&app, {"--n"});
}

TEST(Flags, Checks) {
  CLI::App app;
  uint64_t mb = 0;
  double s = 0, t = 0;
  app.add_option("--mb", mb)->check(kPowerOfTwo);
  app.add_option("--s", s)->check(kPositive);
  app.add_option("--t", t)->check(kNonNegative);
  EXPECT_EQ(Parse(&app, {"--mb=8", "--s=0.5", "--t=0"}), "");
  EXPECT_EQ(mb, 8u);
  EXPECT_EQ(Parse(&app, {"--mb=6"}),
            "--mb: must be a power of two, not 6; see --help");
  EXPECT_EQ(Parse(&app, {"--mb=0"}),
            "--mb: must be a power of two, not 0; see --help");
  EXPECT_EQ(Parse(&app, {"--s=0"}),
            "--s: expected a positive number, not 0; see --help");
  EXPECT_EQ(Parse(&app, {"--t=-1"}),
            "--t: expected a number >= 0, not -1; see --help");
}

TEST(Flags, VersionLine) {
  EXPECT_FALSE(Version().empty());
  const std::string commit(Commit());
  EXPECT_TRUE(commit == "unknown commit" ||
              commit.find_first_not_of("0123456789abcdef") == std::string::npos)
      << commit;
  EXPECT_EQ(VersionLine().rfind(std::string(Version()) + " (", 0), 0u);
}

TEST(FlagsDeathTest, ExitCodes) {
  auto run = [](std::vector<std::string> args) {
    CLI::App app;
    flags::Setup(&app, "prog", "Usage: prog [--n N]\n  --n N  a number\n");
    int n = 0;
    app.add_option("--n", n);
    std::vector<char*> argv = {const_cast<char*>("prog")};
    for (std::string& a : args) argv.push_back(a.data());
    ParseOrExit(&app, static_cast<int>(argv.size()), argv.data());
    std::exit(n);
  };
  EXPECT_EXIT(run({"--help"}), testing::ExitedWithCode(0), "^$");
  EXPECT_EXIT(run({"--version"}), testing::ExitedWithCode(0), "^$");
  EXPECT_EXIT(run({"--n=5"}), testing::ExitedWithCode(5), "^$");
  EXPECT_EXIT(run({"--m=5"}), testing::ExitedWithCode(2),
              "^prog: unknown flag --m; see --help\n$");
  auto die = [] {
    CLI::App app;
    flags::Setup(&app, "prog", "Usage: prog\n");
    Die("it broke", 1);
  };
  EXPECT_EXIT(die(), testing::ExitedWithCode(1), "^prog: it broke\n$");
}

TEST(FlagsDeathTest, HelpNamesUndocumentedFlags) {
  auto run = [] {
    CLI::App app;
    flags::Setup(&app, "prog", "Usage: prog [--n N]\n");
    int n = 0, m = 0;
    app.add_option("--n", n);
    app.add_option("--n-more", m);  // "--n" alone must not count for it
    std::vector<char*> argv = {const_cast<char*>("prog"),
                               const_cast<char*>("--help")};
    ParseOrExit(&app, 2, argv.data());
  };
  EXPECT_EXIT(run(), testing::ExitedWithCode(0),
              "^prog: --help does not mention --n-more\n$");
}

}  // namespace
}  // namespace resdb_trace::flags
