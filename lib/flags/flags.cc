#include "lib/flags/flags.h"

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "lib/flags/version.h"

namespace resdb_trace::flags {
namespace {

std::string& Program() {
  static auto* name = new std::string("resdb-trace");
  return *name;
}

// The (sub)command whose --help was asked for: the last one selected.
const CLI::App* Selected(const CLI::App* app) {
  while (!app->get_subcommands().empty()) app = app->get_subcommands().back();
  return app;
}

// Flags of `app` its usage text does not mention: a hand-written text can
// fall behind the code, so --help says so on stderr (tests/flags fails then).
// Options in the empty group are hidden on purpose (test-only flags).
std::vector<std::string> Undocumented(const CLI::App* app) {
  const std::string usage = app->help();
  std::vector<std::string> missing;
  for (const CLI::Option* o : app->get_options()) {
    if (o->get_group().empty()) continue;  // hidden on purpose
    for (const std::string& n : o->get_lnames()) {
      if (n == "help" || n == "version") continue;
      const std::string flag = "--" + n;
      bool found = false;
      for (size_t at = usage.find(flag); at != std::string::npos && !found;
           at = usage.find(flag, at + 1)) {
        const size_t end = at + flag.size();
        found = end == usage.size() ||
                !(std::isalnum(static_cast<unsigned char>(usage[end])) ||
                  usage[end] == '-' || usage[end] == '_');
      }
      if (!found) missing.push_back(flag);
    }
  }
  return missing;
}

}  // namespace

void Die(std::string_view msg, int code) {
  std::fprintf(stderr, "%s: %.*s\n", Program().c_str(),
               static_cast<int>(msg.size()), msg.data());
  std::exit(code);
}

void Setup(CLI::App* app, std::string_view program, std::string usage) {
  Program() = std::string(program);
  app->name(std::string(program));
  SetUsage(app, std::move(usage));
  app->set_version_flag("--version", std::string(program) + " " + VersionLine(),
                        "print the version and exit");
}

void SetUsage(CLI::App* subcommand, std::string usage) {
  // The hand-written text groups and explains the flags better than CLI11's
  // generated table; tests/flags checks that it names every flag.
  subcommand->formatter_fn(
      [usage = std::move(usage)](const CLI::App*, const std::string&,
                                 CLI::AppFormatMode) { return usage; });
}

std::string ErrorLine(const CLI::Error& error) {
  std::string line = error.what();
  if (dynamic_cast<const CLI::ExtrasError*>(&error) != nullptr) {
    // "The following argument(s) was/were not expected: --bogus=1 x": name
    // the first one the way the old parsers did.
    std::string first = line.substr(line.rfind(": ") + 2);
    first = first.substr(0, first.find(' '));
    if (first.rfind("-", 0) == 0) {
      return "unknown flag " + first.substr(0, first.find('=')) +
             "; see --help";
    }
    return "unexpected argument '" + first + "'; see --help";
  }
  // CLI11's messages are one line except "--a excludes --b" lists; keep the
  // first line so scripts can grep a single error.
  if (size_t nl = line.find('\n'); nl != std::string::npos) line.resize(nl);
  return line + "; see --help";
}

void LastOneWins(CLI::App* app) {
  for (CLI::Option* o : app->get_options([](CLI::Option* opt) {
         return opt->get_items_expected_max() == 1;
       })) {
    o->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  }
  for (CLI::App* sub : app->get_subcommands([](CLI::App*) { return true; })) {
    LastOneWins(sub);
  }
}

void ParseOrExit(CLI::App* app, int argc, char** argv) {
  LastOneWins(app);
  try {
    app->parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    for (const std::string& flag : Undocumented(Selected(app))) {
      std::fprintf(stderr, "%s: --help does not mention %s\n",
                   Program().c_str(), flag.c_str());
    }
    std::exit(app->exit(e));
  } catch (const CLI::CallForAllHelp& e) {
    std::exit(app->exit(e));
  } catch (const CLI::CallForVersion& e) {
    std::exit(app->exit(e));
  } catch (const CLI::ParseError& e) {
    Die(ErrorLine(e));
  }
}

void AddClientTlsFlags(CLI::App* app, std::string* ca, std::string* cert,
                       std::string* key) {
  app->add_option("--tls-ca", *ca,
                  "connect with TLS; verify the collector against this PEM CA")
      ->type_name("FILE");
  app->add_option("--tls-cert", *cert,
                  "client certificate (collector with --tls-client-ca)")
      ->type_name("FILE");
  app->add_option("--tls-key", *key, "the client certificate's key")
      ->type_name("FILE");
}

void AddServerTlsFlags(CLI::App* app, std::string* cert, std::string* key,
                       std::string* client_ca) {
  app->add_option("--tls-cert", *cert, "serve TLS with this PEM certificate")
      ->type_name("FILE");
  app->add_option("--tls-key", *key, "... and this PEM private key")
      ->type_name("FILE");
  app->add_option("--tls-client-ca", *client_ca,
                  "mutual TLS: require client certificates signed by this CA")
      ->type_name("FILE");
}

const CLI::Validator kPowerOfTwo(
    [](std::string& value) -> std::string {
      uint64_t v = 0;
      if (!CLI::detail::lexical_cast(value, v) || v == 0 || (v & (v - 1))) {
        return "must be a power of two, not " + value;
      }
      return "";
    },
    "POWER_OF_TWO");

namespace {

// A check that the value is a number `ok` accepts; else "expected <what>".
CLI::Validator NumberCheck(bool (*ok)(double), std::string what,
                           std::string name) {
  return CLI::Validator(
      [ok, what = std::move(what)](std::string& value) -> std::string {
        double v = 0;
        if (CLI::detail::lexical_cast(value, v) && ok(v)) return "";
        return "expected " + what + ", not " + value;
      },
      std::move(name));
}

}  // namespace

const CLI::Validator kPositive = NumberCheck([](double v) { return v > 0; },
                                             "a positive number", "POSITIVE");

const CLI::Validator kNonNegative = NumberCheck([](double v) { return v >= 0; },
                                                "a number >= 0", "NONNEGATIVE");

}  // namespace resdb_trace::flags
