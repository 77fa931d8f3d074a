// A thread-safe metrics registry rendered in the Prometheus text exposition
// format 0.0.4: counters, gauges and histograms in labelled families, and
// callback families whose values are read at scrape time.
//
//   Registry registry;
//   ASSIGN_OR_RETURN(Family<Counter>* events,
//                    registry.AddCounterFamily("resdb_trace_events_total",
//                                              "Events decoded, by hook.",
//                                              {"hook"}));
//   ASSIGN_OR_RETURN(Counter* prepared, events->WithLabels({"prepared"}));
//   prepared->Increment();                  // lock-free from here on
//   std::string text = registry.Render();   // what GET /metrics serves
//
// Observing (Increment, Set, Observe) is lock-free: one or two relaxed
// atomic operations. Creating a child (WithLabels) takes the family's mutex,
// so look children up once and keep the pointer; it stays valid for the
// registry's life, even after Remove.
#ifndef RESDB_TRACE_COLLECTOR_METRICS_METRICS_H_
#define RESDB_TRACE_COLLECTOR_METRICS_METRICS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace resdb_trace::collector::metrics {

// The Content-Type of Registry::Render's output.
inline constexpr char kExpositionContentType[] =
    "text/plain; version=0.0.4; charset=utf-8";

// Children one family may hold; WithLabels fails beyond it, so a label fed by
// unbounded input cannot exhaust memory.
inline constexpr size_t kMaxChildrenPerFamily = 10000;

// Latency bucket bounds in seconds, 50 µs to 10 s, 1-2.5-5 steps.
std::vector<double> DefaultLatencyBuckets();
// `count` bounds: start, start*factor, start*factor^2, ...
// (start > 0, factor > 1, count >= 1; otherwise empty).
std::vector<double> ExponentialBuckets(double start, double factor, int count);

// Only goes up.
class Counter {
 public:
  // Adds `amount`; a negative or NaN amount is ignored.
  void Increment(double amount = 1);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Increment(double amount = 1);
  void Decrement(double amount = 1) { Increment(-amount); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

template <typename T>
class Family;

// Counts observations into fixed buckets (upper bounds inclusive, `le`) and
// keeps their sum.
class Histogram {
 public:
  // A NaN observation is ignored.
  void Observe(double value);
  void ObserveDuration(absl::Duration d) { Observe(absl::ToDoubleSeconds(d)); }

  struct Snapshot {
    std::vector<double> bounds;    // finite upper bounds, increasing
    std::vector<uint64_t> counts;  // cumulative, bounds.size() + 1 (+Inf)
    uint64_t count = 0;            // == counts.back()
    double sum = 0;
  };
  // Not atomic across buckets: taken while observers run, `sum` may lag or
  // lead the counts by the observations in flight.
  Snapshot snapshot() const;

 private:
  template <typename T>
  friend class Family;
  explicit Histogram(const std::vector<double>* bounds);

  const std::vector<double>* bounds_;                 // the family's
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // per bucket, +Inf last
  std::atomic<double> sum_{0};
};

enum class MetricType { kCounter, kGauge, kHistogram };

// One value of a callback family: its label values (one per label name, in
// order) and its value.
struct Sample {
  std::vector<std::string> label_values;
  double value = 0;
};

namespace internal {

// What the registry holds: one metric family, rendered as a block.
class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, MetricType type,
             std::vector<std::string> label_names);
  virtual ~FamilyBase() = default;
  FamilyBase(const FamilyBase&) = delete;
  FamilyBase& operator=(const FamilyBase&) = delete;

  const std::string& name() const { return name_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  MetricType type() const { return type_; }

  // Appends the # HELP and # TYPE lines and every sample.
  virtual void Render(std::string* out) const = 0;
  // Called when the family leaves the registry; it stays alive (children
  // handed out remain valid) but will not be rendered again.
  virtual void Retire() {}

 protected:
  void RenderHeader(std::string* out) const;

 private:
  const std::string name_;
  const std::string help_;
  const MetricType type_;
  const std::vector<std::string> label_names_;
};

}  // namespace internal

// A family of Counter, Gauge or Histogram children: one metric name, fixed
// label names, one child per distinct tuple of label values.
template <typename T>
class Family final : public internal::FamilyBase {
 public:
  // The child for `label_values` (one per label name, in order), created on
  // first use. Values are UTF-8; invalid bytes are stored as U+FFFD (values
  // that differ only there share a child), because Prometheus rejects a
  // scrape with invalid UTF-8. INVALID_ARGUMENT for the wrong number of values,
  // RESOURCE_EXHAUSTED beyond kMaxChildrenPerFamily.
  absl::StatusOr<T*> WithLabels(const std::vector<std::string>& label_values);

  void Render(std::string* out) const override;

 private:
  friend class Registry;
  Family(std::string name, std::string help, MetricType type,
         std::vector<std::string> label_names, std::vector<double> bounds);

  const std::vector<double> bounds_;  // histograms only
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::vector<std::string>, std::unique_ptr<T>> children_
      ABSL_GUARDED_BY(mu_);
};

extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;

// Thread-safe: families can be added, removed and rendered concurrently with
// each other and with observations.
//
// Names follow Prometheus: metric names [a-zA-Z_:][a-zA-Z0-9_:]*, label names
// [a-zA-Z_][a-zA-Z0-9_]* not starting with "__" (and not "le" on
// histograms); HELP text is required. A name clash with another family,
// including a histogram's _bucket/_sum/_count series, is ALREADY_EXISTS.
class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  absl::StatusOr<Family<Counter>*> AddCounterFamily(
      std::string name, std::string help, std::vector<std::string> label_names);
  absl::StatusOr<Family<Gauge>*> AddGaugeFamily(
      std::string name, std::string help, std::vector<std::string> label_names);
  // `buckets`: finite, strictly increasing upper bounds; a trailing +Inf is
  // implied (and dropped if given).
  absl::StatusOr<Family<Histogram>*> AddHistogramFamily(
      std::string name, std::string help, std::vector<std::string> label_names,
      std::vector<double> buckets = DefaultLatencyBuckets());

  // A family without labels and its only child.
  absl::StatusOr<Counter*> AddCounter(std::string name, std::string help);
  absl::StatusOr<Gauge*> AddGauge(std::string name, std::string help);
  absl::StatusOr<Histogram*> AddHistogram(
      std::string name, std::string help,
      std::vector<double> buckets = DefaultLatencyBuckets());

  // Families whose values `fn` returns at every scrape (e.g. ring-buffer
  // drops per CPU read from a BPF map). `fn` runs on the scraping thread,
  // one call at a time per family, and must not call into this registry.
  // Samples with the wrong number of label values are skipped; of samples
  // with equal label values the first is kept; an exception from `fn`
  // renders the family without samples, is counted (callback_errors()) and
  // is logged to stderr the first time each family's callback throws.
  using SamplesFn = std::function<std::vector<Sample>()>;
  absl::Status AddCallbackCounterFamily(std::string name, std::string help,
                                        std::vector<std::string> label_names,
                                        SamplesFn fn);
  absl::Status AddCallbackGaugeFamily(std::string name, std::string help,
                                      std::vector<std::string> label_names,
                                      SamplesFn fn);
  // One unlabelled value.
  absl::Status AddCallbackCounter(std::string name, std::string help,
                                  std::function<double()> fn);
  absl::Status AddCallbackGauge(std::string name, std::string help,
                                std::function<double()> fn);

  // Takes the family out of the exposition. Children handed out stay valid
  // (and ignored); a callback is never called again once Remove returns, so
  // what it captured may be destroyed. NOT_FOUND if there is no such family.
  absl::Status Remove(const std::string& name);

  // The exposition text: families sorted by name, children by label values.
  std::string Render() const;

  // Scrapes at which a callback threw (its family then rendered without
  // samples). Lock-free, so a callback may export it (the collector's
  // resdb_trace_metrics_callback_errors_total does).
  uint64_t callback_errors() const {
    return callback_errors_.load(std::memory_order_relaxed);
  }

 private:
  absl::Status Add(std::shared_ptr<internal::FamilyBase> family);
  template <typename T>
  absl::StatusOr<Family<T>*> AddFamily(std::string name, std::string help,
                                       MetricType type,
                                       std::vector<std::string> label_names,
                                       std::vector<double> bounds);
  absl::Status AddCallbackFamily(std::string name, std::string help,
                                 MetricType type,
                                 std::vector<std::string> label_names,
                                 SamplesFn fn);

  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<internal::FamilyBase>> families_
      ABSL_GUARDED_BY(mu_);
  // Removed families, kept so that children handed out stay valid.
  std::vector<std::shared_ptr<internal::FamilyBase>> retired_
      ABSL_GUARDED_BY(mu_);
  // Shared with every callback family, which outlives no registry.
  std::atomic<uint64_t> callback_errors_{0};
};

}  // namespace resdb_trace::collector::metrics

#endif  // RESDB_TRACE_COLLECTOR_METRICS_METRICS_H_
