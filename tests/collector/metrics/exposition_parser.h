// A strict reader of the Prometheus text exposition format 0.0.4, written
// from the format's description for the tests: it checks the structure
// (HELP then TYPE, then the family's samples; no duplicate series; valid
// escapes; histogram rules) and turns samples into a map, so tests compare
// values instead of text.
#ifndef RESDB_TRACE_TESTS_COLLECTOR_METRICS_EXPOSITION_PARSER_H_
#define RESDB_TRACE_TESTS_COLLECTOR_METRICS_EXPOSITION_PARSER_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace resdb_trace::collector::metrics::testing {

using Labels = std::vector<std::pair<std::string, std::string>>;

struct ParsedSample {
  std::string name;  // with _bucket/_sum/_count for histograms
  Labels labels;     // in the order written
  double value = 0;
};

struct ParsedFamily {
  std::string name;
  std::string help;  // unescaped
  std::string type;
  std::vector<ParsedSample> samples;  // in the order written
};

struct Exposition {
  std::vector<ParsedFamily> families;    // in the order written
  std::map<std::string, double> series;  // SeriesKey -> value

  const ParsedFamily* Family(const std::string& name) const;
  // The value of a series; NaN-free tests use it with EXPECT_EQ. Missing
  // series read as -12345 (and tests check presence with Has).
  double Value(const std::string& name, const Labels& labels = {}) const;
  bool Has(const std::string& name, const Labels& labels = {}) const;
};

// name{a="x",b="y"} with labels sorted by name, values unescaped.
std::string SeriesKey(const std::string& name, Labels labels);

// Parses `text`; on a format violation returns false with `*error` naming
// the line.
bool ParseExposition(const std::string& text, Exposition* out,
                     std::string* error);

}  // namespace resdb_trace::collector::metrics::testing

#endif  // RESDB_TRACE_TESTS_COLLECTOR_METRICS_EXPOSITION_PARSER_H_
