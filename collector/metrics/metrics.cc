#include "collector/metrics/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <exception>
#include <limits>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace resdb_trace::collector::metrics {
namespace {

void AtomicAdd(std::atomic<double>* target, double amount) {
  double current = target->load(std::memory_order_relaxed);
  while (!target->compare_exchange_weak(current, current + amount,
                                        std::memory_order_relaxed)) {
  }
}

bool ValidMetricName(const std::string& name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              c == ':' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool ValidLabelName(const std::string& name) {
  if (name.empty() || name.rfind("__", 0) == 0) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

// Length of the valid UTF-8 sequence at s[i] (RFC 3629: no overlong forms,
// no surrogates, nothing above U+10FFFF), or 0.
size_t Utf8SequenceLength(const std::string& s, size_t i) {
  auto byte = [&](size_t k) -> unsigned {
    return k < s.size() ? static_cast<unsigned char>(s[k]) : 0u;
  };
  auto cont = [&](size_t k) { return (byte(k) & 0xC0) == 0x80; };
  unsigned b = byte(i);
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) return cont(i + 1) ? 2 : 0;
  if (b >= 0xE0 && b <= 0xEF) {
    unsigned b1 = byte(i + 1);
    if (b == 0xE0 && b1 < 0xA0) return 0;
    if (b == 0xED && b1 > 0x9F) return 0;
    return cont(i + 1) && cont(i + 2) ? 3 : 0;
  }
  if (b >= 0xF0 && b <= 0xF4) {
    unsigned b1 = byte(i + 1);
    if (b == 0xF0 && b1 < 0x90) return 0;
    if (b == 0xF4 && b1 > 0x8F) return 0;
    return cont(i + 1) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  }
  return 0;
}

bool ValidUtf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    size_t n = Utf8SequenceLength(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

// Prometheus rejects a whole scrape over one invalid UTF-8 label value, so
// invalid bytes become U+FFFD before a value is stored.
std::string SanitizeUtf8(std::string s) {
  if (ValidUtf8(s)) return s;
  std::string out;
  for (size_t i = 0; i < s.size();) {
    size_t n = Utf8SequenceLength(s, i);
    if (n == 0) {
      out.append("\xEF\xBF\xBD");
      ++i;
    } else {
      out.append(s, i, n);
      i += n;
    }
  }
  return out;
}

// Appends `s` escaped for the exposition format: backslash and newline
// always, the double quote in label values only.
void AppendEscaped(const std::string& s, bool quote, std::string* out) {
  for (char c : s) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '\n') {
      out->append("\\n");
    } else if (c == '"' && quote) {
      out->append("\\\"");
    } else {
      out->push_back(c);
    }
  }
}

void AppendValue(double v, std::string* out) {
  if (std::isnan(v)) {
    out->append("NaN");
  } else if (std::isinf(v)) {
    out->append(v > 0 ? "+Inf" : "-Inf");
  } else {
    // Shortest text that reads back as the same double.
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
    out->append(buf, ec == std::errc() ? end : buf);
  }
}

// name{l1="v1",l2="v2"[,le="bound"]} value
void AppendSample(const std::string& name, std::string_view suffix,
                  const std::vector<std::string>& label_names,
                  const std::vector<std::string>& label_values,
                  const std::string* le, const std::string& value,
                  std::string* out) {
  out->append(name);
  out->append(suffix);
  if (!label_names.empty() || le != nullptr) {
    out->push_back('{');
    for (size_t i = 0; i < label_names.size(); ++i) {
      if (i > 0) out->push_back(',');
      out->append(label_names[i]);
      out->append("=\"");
      AppendEscaped(label_values[i], /*quote=*/true, out);
      out->push_back('"');
    }
    if (le != nullptr) {
      if (!label_names.empty()) out->push_back(',');
      out->append("le=\"");
      out->append(*le);
      out->push_back('"');
    }
    out->push_back('}');
  }
  out->push_back(' ');
  out->append(value);
  out->push_back('\n');
}

std::string ValueText(double v) {
  std::string s;
  AppendValue(v, &s);
  return s;
}

void RenderChild(const std::string& name, const std::vector<std::string>& names,
                 const std::vector<std::string>& values, const Counter& c,
                 std::string* out) {
  AppendSample(name, "", names, values, nullptr, ValueText(c.value()), out);
}

void RenderChild(const std::string& name, const std::vector<std::string>& names,
                 const std::vector<std::string>& values, const Gauge& g,
                 std::string* out) {
  AppendSample(name, "", names, values, nullptr, ValueText(g.value()), out);
}

void RenderChild(const std::string& name, const std::vector<std::string>& names,
                 const std::vector<std::string>& values, const Histogram& h,
                 std::string* out) {
  Histogram::Snapshot s = h.snapshot();
  for (size_t i = 0; i <= s.bounds.size(); ++i) {
    std::string le = i < s.bounds.size() ? ValueText(s.bounds[i]) : "+Inf";
    AppendSample(name, "_bucket", names, values, &le,
                 std::to_string(s.counts[i]), out);
  }
  AppendSample(name, "_sum", names, values, nullptr, ValueText(s.sum), out);
  AppendSample(name, "_count", names, values, nullptr, std::to_string(s.count),
               out);
}

const char* TypeName(MetricType t) {
  switch (t) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// The sample names a family puts into the exposition.
std::vector<std::string> SeriesNames(const internal::FamilyBase& f) {
  if (f.type() != MetricType::kHistogram) return {f.name()};
  return {f.name(), f.name() + "_bucket", f.name() + "_sum",
          f.name() + "_count"};
}

// A family of values produced by a callback at scrape time.
class CallbackFamily final : public internal::FamilyBase {
 public:
  // `errors`: the registry's count of scrapes at which a callback threw.
  CallbackFamily(std::string name, std::string help, MetricType type,
                 std::vector<std::string> label_names, Registry::SamplesFn fn,
                 std::atomic<uint64_t>* errors)
      : FamilyBase(std::move(name), std::move(help), type,
                   std::move(label_names)),
        errors_(errors),
        fn_(std::move(fn)) {}

  void Render(std::string* out) const override {
    // Held across the call: Retire waits for a scrape in progress.
    absl::MutexLock lock(&mu_);
    if (fn_ == nullptr) return;
    std::vector<Sample> samples;
    try {
      samples = fn_();
    } catch (const std::exception& e) {
      samples.clear();
      CountFailureLocked(e.what());
    } catch (...) {
      samples.clear();
      CountFailureLocked("an exception not derived from std::exception");
    }
    const size_t arity = label_names().size();
    for (Sample& sample : samples) {
      for (std::string& v : sample.label_values) v = SanitizeUtf8(v);
    }
    samples.erase(std::remove_if(samples.begin(), samples.end(),
                                 [&](const Sample& s) {
                                   return s.label_values.size() != arity;
                                 }),
                  samples.end());
    std::stable_sort(samples.begin(), samples.end(),
                     [](const Sample& a, const Sample& b) {
                       return a.label_values < b.label_values;
                     });
    RenderHeader(out);
    for (size_t i = 0; i < samples.size(); ++i) {
      if (i > 0 && samples[i].label_values == samples[i - 1].label_values) {
        continue;
      }
      AppendSample(name(), "", label_names(), samples[i].label_values, nullptr,
                   ValueText(samples[i].value), out);
    }
  }

  void Retire() override {
    absl::MutexLock lock(&mu_);
    fn_ = nullptr;
  }

 private:
  // Every failure is counted; only a family's first is logged, because a
  // broken callback usually fails at every scrape (every few seconds).
  void CountFailureLocked(const char* what) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    errors_->fetch_add(1, std::memory_order_relaxed);
    if (logged_) return;
    logged_ = true;
    std::fprintf(stderr,
                 "metrics: the callback of %s threw (%s); it renders without "
                 "samples while it throws (counted in "
                 "Registry::callback_errors; logged once)\n",
                 name().c_str(), what);
  }

  std::atomic<uint64_t>* const errors_;
  mutable absl::Mutex mu_;
  Registry::SamplesFn fn_ ABSL_GUARDED_BY(mu_);
  mutable bool logged_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

std::vector<double> DefaultLatencyBuckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10};
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  std::vector<double> out;
  if (!(start > 0) || !(factor > 1) || count < 1) return out;
  double v = start;
  for (int i = 0; i < count && std::isfinite(v); ++i) {
    out.push_back(v);
    v *= factor;
  }
  return out;
}

void Counter::Increment(double amount) {
  if (!(amount >= 0)) return;  // negative or NaN
  AtomicAdd(&value_, amount);
}

void Gauge::Increment(double amount) { AtomicAdd(&value_, amount); }

Histogram::Histogram(const std::vector<double>* bounds)
    : bounds_(bounds), buckets_(new std::atomic<uint64_t>[bounds->size() + 1]) {
  for (size_t i = 0; i <= bounds_->size(); ++i) {
    buckets_[i].store(0, std::memory_order_relaxed);
  }
}

void Histogram::Observe(double value) {
  if (std::isnan(value)) return;
  // First bucket whose (inclusive) upper bound holds the value; +Inf last.
  size_t i = static_cast<size_t>(
      std::lower_bound(bounds_->begin(), bounds_->end(), value) -
      bounds_->begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  AtomicAdd(&sum_, value);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.bounds = *bounds_;
  s.counts.resize(bounds_->size() + 1);
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_->size(); ++i) {
    total += buckets_[i].load(std::memory_order_relaxed);
    s.counts[i] = total;
  }
  // The count is the +Inf bucket by construction, as the format requires.
  s.count = total;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

namespace internal {

FamilyBase::FamilyBase(std::string name, std::string help, MetricType type,
                       std::vector<std::string> label_names)
    : name_(std::move(name)),
      help_(SanitizeUtf8(std::move(help))),
      type_(type),
      label_names_(std::move(label_names)) {}

void FamilyBase::RenderHeader(std::string* out) const {
  absl::StrAppend(out, "# HELP ", name_, " ");
  AppendEscaped(help_, /*quote=*/false, out);
  absl::StrAppend(out, "\n# TYPE ", name_, " ", TypeName(type_), "\n");
}

}  // namespace internal

template <typename T>
Family<T>::Family(std::string name, std::string help, MetricType type,
                  std::vector<std::string> label_names,
                  std::vector<double> bounds)
    : FamilyBase(std::move(name), std::move(help), type,
                 std::move(label_names)),
      bounds_(std::move(bounds)) {}

template <typename T>
absl::StatusOr<T*> Family<T>::WithLabels(
    const std::vector<std::string>& label_values) {
  if (label_values.size() != label_names().size()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("metric %s: %d label values for %d label names", name(),
                        label_values.size(), label_names().size()));
  }
  const std::vector<std::string>* key = &label_values;
  std::vector<std::string> sanitized;
  for (const std::string& v : label_values) {
    if (!ValidUtf8(v)) {
      for (const std::string& w : label_values) {
        sanitized.push_back(SanitizeUtf8(w));
      }
      key = &sanitized;
      break;
    }
  }
  absl::MutexLock lock(&mu_);
  auto it = children_.find(*key);
  if (it != children_.end()) return it->second.get();
  if (children_.size() >= kMaxChildrenPerFamily) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("metric %s: more than %d label value combinations",
                        name(), kMaxChildrenPerFamily));
  }
  std::unique_ptr<T> child;
  if constexpr (std::is_same_v<T, Histogram>) {
    child.reset(new Histogram(&bounds_));
  } else {
    child = std::make_unique<T>();
  }
  T* raw = child.get();
  children_.emplace(*key, std::move(child));
  return raw;
}

template <typename T>
void Family<T>::Render(std::string* out) const {
  absl::MutexLock lock(&mu_);
  RenderHeader(out);
  std::vector<std::pair<const std::vector<std::string>*, const T*>> sorted;
  sorted.reserve(children_.size());
  for (const auto& [values, child] : children_) {
    sorted.emplace_back(&values, child.get());
  }
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return *a.first < *b.first; });
  for (const auto& [values, child] : sorted) {
    RenderChild(name(), label_names(), *values, *child, out);
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

absl::Status Registry::Add(std::shared_ptr<internal::FamilyBase> family) {
  const std::string& name = family->name();
  if (!ValidMetricName(name)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "metric name '%s' is not [a-zA-Z_:][a-zA-Z0-9_:]*", name));
  }
  std::vector<std::string> seen;
  for (const std::string& label : family->label_names()) {
    if (!ValidLabelName(label)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "metric %s: label name '%s' is not [a-zA-Z_][a-zA-Z0-9_]* or starts "
          "with __",
          name, label));
    }
    if (family->type() == MetricType::kHistogram && label == "le") {
      return absl::InvalidArgumentError(absl::StrFormat(
          "metric %s: 'le' is reserved for histogram buckets", name));
    }
    if (std::find(seen.begin(), seen.end(), label) != seen.end()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("metric %s: label '%s' given twice", name, label));
    }
    seen.push_back(label);
  }
  std::vector<std::string> mine = SeriesNames(*family);
  absl::MutexLock lock(&mu_);
  for (const auto& [other_name, other] : families_) {
    for (const std::string& theirs : SeriesNames(*other)) {
      if (std::find(mine.begin(), mine.end(), theirs) != mine.end()) {
        return absl::AlreadyExistsError(
            absl::StrFormat("metric %s clashes with the registered metric %s",
                            name, other_name));
      }
    }
  }
  families_.emplace(name, std::move(family));
  return absl::OkStatus();
}

template <typename T>
absl::StatusOr<Family<T>*> Registry::AddFamily(
    std::string name, std::string help, MetricType type,
    std::vector<std::string> label_names, std::vector<double> bounds) {
  if (help.empty()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("metric %s: HELP text is required", name));
  }
  std::shared_ptr<Family<T>> family(
      new Family<T>(std::move(name), std::move(help), type,
                    std::move(label_names), std::move(bounds)));
  Family<T>* raw = family.get();
  if (absl::Status s = Add(std::move(family)); !s.ok()) return s;
  return raw;
}

absl::StatusOr<Family<Counter>*> Registry::AddCounterFamily(
    std::string name, std::string help, std::vector<std::string> label_names) {
  return AddFamily<Counter>(std::move(name), std::move(help),
                            MetricType::kCounter, std::move(label_names), {});
}

absl::StatusOr<Family<Gauge>*> Registry::AddGaugeFamily(
    std::string name, std::string help, std::vector<std::string> label_names) {
  return AddFamily<Gauge>(std::move(name), std::move(help), MetricType::kGauge,
                          std::move(label_names), {});
}

absl::StatusOr<Family<Histogram>*> Registry::AddHistogramFamily(
    std::string name, std::string help, std::vector<std::string> label_names,
    std::vector<double> buckets) {
  if (!buckets.empty() && std::isinf(buckets.back()) && buckets.back() > 0) {
    buckets.pop_back();  // +Inf is implied
  }
  for (size_t i = 0; i < buckets.size(); ++i) {
    if (!std::isfinite(buckets[i]) || (i > 0 && buckets[i] <= buckets[i - 1])) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "metric %s: bucket bounds must be finite and strictly increasing",
          name));
    }
  }
  return AddFamily<Histogram>(std::move(name), std::move(help),
                              MetricType::kHistogram, std::move(label_names),
                              std::move(buckets));
}

absl::StatusOr<Counter*> Registry::AddCounter(std::string name,
                                              std::string help) {
  absl::StatusOr<Family<Counter>*> f =
      AddCounterFamily(std::move(name), std::move(help), {});
  if (!f.ok()) return f.status();
  return (*f)->WithLabels({});
}

absl::StatusOr<Gauge*> Registry::AddGauge(std::string name, std::string help) {
  absl::StatusOr<Family<Gauge>*> f =
      AddGaugeFamily(std::move(name), std::move(help), {});
  if (!f.ok()) return f.status();
  return (*f)->WithLabels({});
}

absl::StatusOr<Histogram*> Registry::AddHistogram(std::string name,
                                                  std::string help,
                                                  std::vector<double> buckets) {
  absl::StatusOr<Family<Histogram>*> f = AddHistogramFamily(
      std::move(name), std::move(help), {}, std::move(buckets));
  if (!f.ok()) return f.status();
  return (*f)->WithLabels({});
}

absl::Status Registry::AddCallbackFamily(std::string name, std::string help,
                                         MetricType type,
                                         std::vector<std::string> label_names,
                                         SamplesFn fn) {
  if (help.empty()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("metric %s: HELP text is required", name));
  }
  if (fn == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrFormat("metric %s: null callback", name));
  }
  return Add(std::make_shared<CallbackFamily>(
      std::move(name), std::move(help), type, std::move(label_names),
      std::move(fn), &callback_errors_));
}

absl::Status Registry::AddCallbackCounterFamily(
    std::string name, std::string help, std::vector<std::string> label_names,
    SamplesFn fn) {
  return AddCallbackFamily(std::move(name), std::move(help),
                           MetricType::kCounter, std::move(label_names),
                           std::move(fn));
}

absl::Status Registry::AddCallbackGaugeFamily(
    std::string name, std::string help, std::vector<std::string> label_names,
    SamplesFn fn) {
  return AddCallbackFamily(std::move(name), std::move(help), MetricType::kGauge,
                           std::move(label_names), std::move(fn));
}

absl::Status Registry::AddCallbackCounter(std::string name, std::string help,
                                          std::function<double()> fn) {
  if (fn == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrFormat("metric %s: null callback", name));
  }
  return AddCallbackCounterFamily(std::move(name), std::move(help), {},
                                  [fn = std::move(fn)] {
                                    return std::vector<Sample>{{{}, fn()}};
                                  });
}

absl::Status Registry::AddCallbackGauge(std::string name, std::string help,
                                        std::function<double()> fn) {
  if (fn == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrFormat("metric %s: null callback", name));
  }
  return AddCallbackGaugeFamily(std::move(name), std::move(help), {},
                                [fn = std::move(fn)] {
                                  return std::vector<Sample>{{{}, fn()}};
                                });
}

absl::Status Registry::Remove(const std::string& name) {
  std::shared_ptr<internal::FamilyBase> family;
  {
    absl::MutexLock lock(&mu_);
    auto it = families_.find(name);
    if (it == families_.end()) {
      return absl::NotFoundError(
          absl::StrFormat("metric %s is not registered", name));
    }
    family = it->second;
    families_.erase(it);
    retired_.push_back(family);
  }
  family->Retire();  // outside mu_: may wait for a scrape in progress
  return absl::OkStatus();
}

std::string Registry::Render() const {
  std::vector<std::shared_ptr<internal::FamilyBase>> families;
  {
    absl::MutexLock lock(&mu_);
    families.reserve(families_.size());
    for (const auto& [name, family] : families_) families.push_back(family);
  }
  std::string out;
  for (const auto& family : families) family->Render(&out);
  return out;
}

}  // namespace resdb_trace::collector::metrics
