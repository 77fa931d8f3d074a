#include "tests/collector/metrics/exposition_parser.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <set>

namespace resdb_trace::collector::metrics::testing {
namespace {

bool IsNameChar(char c, bool first, bool colon_ok) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         (colon_ok && c == ':') || (!first && c >= '0' && c <= '9');
}

// Reads a metric or label name at line[*pos].
bool ReadName(const std::string& line, size_t* pos, bool colon_ok,
              std::string* name) {
  size_t start = *pos;
  while (*pos < line.size() &&
         IsNameChar(line[*pos], *pos == start, colon_ok)) {
    ++*pos;
  }
  *name = line.substr(start, *pos - start);
  return !name->empty();
}

bool ParseFloat(const std::string& s, double* v) {
  if (s == "+Inf") {
    *v = INFINITY;
    return true;
  }
  if (s == "-Inf") {
    *v = -INFINITY;
    return true;
  }
  if (s == "NaN") {
    *v = NAN;
    return true;
  }
  if (s.empty() || s.find_first_not_of("0123456789+-.eE") != std::string::npos)
    return false;
  char* end = nullptr;
  *v = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size();
}

bool ParseSampleLine(const std::string& line, ParsedSample* s,
                     std::string* why) {
  size_t pos = 0;
  if (!ReadName(line, &pos, true, &s->name)) {
    *why = "bad metric name";
    return false;
  }
  if (pos < line.size() && line[pos] == '{') {
    ++pos;
    while (true) {
      if (pos < line.size() && line[pos] == '}') {
        ++pos;
        break;
      }
      std::string label;
      if (!ReadName(line, &pos, false, &label)) {
        *why = "bad label name";
        return false;
      }
      if (line.compare(pos, 2, "=\"") != 0) {
        *why = "expected =\" after label name";
        return false;
      }
      pos += 2;
      std::string value;
      while (true) {
        if (pos >= line.size()) {
          *why = "unterminated label value";
          return false;
        }
        char c = line[pos++];
        if (c == '"') break;
        if (c == '\\') {
          if (pos >= line.size()) {
            *why = "dangling backslash";
            return false;
          }
          char e = line[pos++];
          if (e == '\\') {
            value += '\\';
          } else if (e == '"') {
            value += '"';
          } else if (e == 'n') {
            value += '\n';
          } else {
            *why = "bad escape in label value";
            return false;
          }
        } else {
          value += c;
        }
      }
      for (const auto& [n, v] : s->labels) {
        if (n == label) {
          *why = "label given twice";
          return false;
        }
      }
      s->labels.emplace_back(label, value);
      if (pos < line.size() && line[pos] == ',') {
        ++pos;
      } else if (pos >= line.size() || line[pos] != '}') {
        *why = "expected , or } after label value";
        return false;
      }
    }
  }
  if (pos >= line.size() || line[pos] != ' ') {
    *why = "expected one space before the value";
    return false;
  }
  std::string value = line.substr(pos + 1);
  if (value.find(' ') != std::string::npos) {
    *why = "timestamps or extra fields are not expected";
    return false;
  }
  if (!ParseFloat(value, &s->value)) {
    *why = "bad value '" + value + "'";
    return false;
  }
  return true;
}

std::string UnescapeHelp(const std::string& s, bool* ok) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out += s[i];
      continue;
    }
    if (i + 1 >= s.size()) {
      *ok = false;
      return out;
    }
    char e = s[++i];
    if (e == '\\') {
      out += '\\';
    } else if (e == 'n') {
      out += '\n';
    } else {
      *ok = false;
    }
  }
  return out;
}

// Structural checks on one histogram family's samples.
bool CheckHistogram(const ParsedFamily& f, std::string* why) {
  // Group per label set (without le).
  std::map<std::string, std::vector<std::pair<double, double>>> buckets;
  std::map<std::string, double> counts;
  std::set<std::string> sums;
  for (const ParsedSample& s : f.samples) {
    Labels rest;
    std::string le;
    bool has_le = false;
    for (const auto& [n, v] : s.labels) {
      if (n == "le") {
        le = v;
        has_le = true;
      } else {
        rest.emplace_back(n, v);
      }
    }
    std::string key = SeriesKey("", rest);
    if (s.name == f.name + "_bucket") {
      double bound;
      if (!has_le || !ParseFloat(le, &bound)) {
        *why = "bucket without a valid le";
        return false;
      }
      buckets[key].emplace_back(bound, s.value);
    } else if (s.name == f.name + "_count") {
      counts[key] = s.value;
    } else if (s.name == f.name + "_sum") {
      sums.insert(key);
    } else {
      *why = "unexpected sample " + s.name + " in histogram " + f.name;
      return false;
    }
  }
  for (const auto& [key, b] : buckets) {
    for (size_t i = 1; i < b.size(); ++i) {
      if (!(b[i].first > b[i - 1].first) || b[i].second < b[i - 1].second) {
        *why = "buckets not increasing in le and count for " + f.name + key;
        return false;
      }
    }
    if (b.empty() || !std::isinf(b.back().first)) {
      *why = "no +Inf bucket for " + f.name + key;
      return false;
    }
    if (!counts.count(key) || counts[key] != b.back().second ||
        !sums.count(key)) {
      *why = "_count/_sum missing or _count != +Inf bucket for " + f.name + key;
      return false;
    }
  }
  if (counts.size() != buckets.size() || sums.size() != buckets.size()) {
    *why = "_count/_sum without buckets in " + f.name;
    return false;
  }
  return true;
}

}  // namespace

std::string SeriesKey(const std::string& name, Labels labels) {
  std::sort(labels.begin(), labels.end());
  std::string key = name + "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) key += ",";
    key += labels[i].first + "=\"" + labels[i].second + "\"";
  }
  return key + "}";
}

const ParsedFamily* Exposition::Family(const std::string& name) const {
  for (const ParsedFamily& f : families) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

double Exposition::Value(const std::string& name, const Labels& labels) const {
  auto it = series.find(SeriesKey(name, labels));
  return it == series.end() ? -12345 : it->second;
}

bool Exposition::Has(const std::string& name, const Labels& labels) const {
  return series.count(SeriesKey(name, labels)) > 0;
}

bool ParseExposition(const std::string& text, Exposition* out,
                     std::string* error) {
  *out = Exposition();
  if (!text.empty() && text.back() != '\n') {
    *error = "text does not end with a newline";
    return false;
  }
  std::set<std::string> declared;
  size_t pos = 0;
  int line_no = 0;
  std::string pending_help_name;
  std::string pending_help;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    auto fail = [&](const std::string& why) {
      *error = "line " + std::to_string(line_no) + " '" + line + "': " + why;
      return false;
    };
    if (line.empty()) return fail("empty line");
    if (line.rfind("# HELP ", 0) == 0) {
      size_t p = 7;
      std::string name;
      if (!ReadName(line, &p, true, &name) || p >= line.size() ||
          line[p] != ' ') {
        return fail("bad HELP line");
      }
      if (declared.count(name)) return fail("family declared twice");
      bool ok = true;
      pending_help = UnescapeHelp(line.substr(p + 1), &ok);
      if (!ok) return fail("bad escape in HELP");
      pending_help_name = name;
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      size_t p = 7;
      std::string name;
      if (!ReadName(line, &p, true, &name) || p >= line.size() ||
          line[p] != ' ') {
        return fail("bad TYPE line");
      }
      if (name != pending_help_name) {
        return fail("TYPE not right after the family's HELP");
      }
      std::string type = line.substr(p + 1);
      if (type != "counter" && type != "gauge" && type != "histogram") {
        return fail("unexpected type " + type);
      }
      declared.insert(name);
      out->families.push_back({name, pending_help, type, {}});
      pending_help_name.clear();
      continue;
    }
    if (line[0] == '#') return fail("unexpected comment");
    ParsedSample s;
    std::string why;
    if (!ParseSampleLine(line, &s, &why)) return fail(why);
    if (out->families.empty()) return fail("sample before any TYPE");
    const ParsedFamily& f = out->families.back();
    bool belongs = f.type == "histogram" ? (s.name == f.name + "_bucket" ||
                                            s.name == f.name + "_sum" ||
                                            s.name == f.name + "_count")
                                         : s.name == f.name;
    if (!belongs) return fail("sample outside its family's block");
    std::string key = SeriesKey(s.name, s.labels);
    if (out->series.count(key)) return fail("duplicate series " + key);
    out->series[key] = s.value;
    out->families.back().samples.push_back(std::move(s));
  }
  if (!pending_help_name.empty()) {
    *error = "HELP without TYPE for " + pending_help_name;
    return false;
  }
  for (const ParsedFamily& f : out->families) {
    if (f.type == "histogram" && !CheckHistogram(f, error)) return false;
  }
  return true;
}

}  // namespace resdb_trace::collector::metrics::testing
