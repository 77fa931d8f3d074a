// Command-line flags shared by every resdb_trace binary, on CLI11 (Debian's
// libcli11-dev; docs/architecture.md says why not absl flags).
//
// Every binary and subcommand gets the same contract:
//   --help            its usage text on stdout, exit 0
//   --version         "<program> 0.14.0 (commit ...)" on stdout, exit 0
//   --flag=value and --flag value both work
//   an unknown flag or a bad value: one line on stderr naming the flag, exit 2
//
//   CLI::App app;
//   resdb_trace::flags::Setup(&app, "resdb-trace-profile", kUsage);
//   app.add_option("--seconds", seconds)->check(CLI::PositiveNumber);
//   resdb_trace::flags::ParseOrExit(&app, argc, argv);
#ifndef RESDB_TRACE_LIB_FLAGS_FLAGS_H_
#define RESDB_TRACE_LIB_FLAGS_FLAGS_H_

#include <string>
#include <string_view>

#include "CLI/CLI.hpp"

namespace resdb_trace::flags {

// The exit code of a bad command line (flag, value or missing argument).
inline constexpr int kUsageExitCode = 2;

// The collector's default gRPC address, which clients dial by default.
inline constexpr char kDefaultCollectorAddress[] =
    "unix:///run/resdb-trace/collector.sock";

// Prints "<program>: <msg>" on stderr and exits with `code` (2: bad usage,
// 1: the work itself failed). <program> is the name Setup() was given.
[[noreturn]] void Die(std::string_view msg, int code = kUsageExitCode);

// Names the program for Die() and errors, makes --help print `usage` (kept
// beside main, where the flags are) and adds --version. Call once, on the
// top-level app.
void Setup(CLI::App* app, std::string_view program, std::string usage);

// Makes --help of `subcommand` print `usage`.
void SetUsage(CLI::App* subcommand, std::string usage);

// Parses argv into the options of `app`: --help and --version print and
// exit 0, any error prints one line naming the flag and exits 2.
void ParseOrExit(CLI::App* app, int argc, char** argv);

// Makes every single-valued option of `app` and its subcommands take the
// last of repeated values, as the hand-written parsers did (scripts and tests
// pass a default first and an override after it). ParseOrExit calls it.
void LastOneWins(CLI::App* app);

// The one-line text ParseOrExit prints for `error`, without the program name
// (for tests, and binaries that report errors their own way).
std::string ErrorLine(const CLI::Error& error);

// The TLS flags of every client of the collector: --tls-ca FILE (verify the
// collector) and --tls-cert/--tls-key FILE (a client certificate for mTLS).
void AddClientTlsFlags(CLI::App* app, std::string* ca, std::string* cert,
                       std::string* key);

// The TLS flags of every server: --tls-cert/--tls-key FILE (serve TLS) and
// --tls-client-ca FILE (require client certificates signed by it).
void AddServerTlsFlags(CLI::App* app, std::string* cert, std::string* key,
                       std::string* client_ca);

// CLI11 checks with messages a user can act on (CLI11's own PositiveNumber
// prints the range up to DBL_MAX): the value is a power of two, > 0, >= 0.
extern const CLI::Validator kPowerOfTwo;
extern const CLI::Validator kPositive;
extern const CLI::Validator kNonNegative;

}  // namespace resdb_trace::flags

#endif  // RESDB_TRACE_LIB_FLAGS_FLAGS_H_
