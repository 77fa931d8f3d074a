#include "collector/metrics/metrics.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "gtest/gtest.h"
#include "tests/collector/metrics/exposition_parser.h"

namespace resdb_trace::collector::metrics {
namespace {

using testing::Exposition;
using testing::Labels;
using testing::ParseExposition;

Exposition Scrape(const Registry& r) {
  Exposition e;
  std::string error;
  std::string text = r.Render();
  EXPECT_TRUE(ParseExposition(text, &e, &error)) << error << "\n" << text;
  return e;
}

TEST(Metrics, CountersAndGaugesReadBack) {
  Registry r;
  auto events = r.AddCounterFamily("resdb_trace_events_total",
                                   "Events decoded.", {"hook", "replica"});
  ASSERT_TRUE(events.ok()) << events.status();
  auto prepared = (*events)->WithLabels({"prepared", "1"});
  auto committed = (*events)->WithLabels({"committed", "2"});
  ASSERT_TRUE(prepared.ok() && committed.ok());
  (*prepared)->Increment();
  (*prepared)->Increment(41);
  (*committed)->Increment(0.5);
  (*committed)->Increment(-3);   // ignored
  (*committed)->Increment(NAN);  // ignored
  // The same labels give the same child.
  EXPECT_EQ(*(*events)->WithLabels({"prepared", "1"}), *prepared);

  auto depth = r.AddGauge("resdb_trace_queue_depth", "Queued events.");
  ASSERT_TRUE(depth.ok());
  (*depth)->Set(10);
  (*depth)->Increment(5);
  (*depth)->Decrement(7.5);
  auto up =
      r.AddGaugeFamily("resdb_trace_attached", "Attach state.", {"binary"});
  ASSERT_TRUE(up.ok());
  (*(*up)->WithLabels({"/bin/replica"}))->Set(1);

  Exposition e = Scrape(r);
  EXPECT_EQ(e.Value("resdb_trace_events_total",
                    {{"hook", "prepared"}, {"replica", "1"}}),
            42);
  EXPECT_EQ(e.Value("resdb_trace_events_total",
                    {{"hook", "committed"}, {"replica", "2"}}),
            0.5);
  EXPECT_EQ(e.Value("resdb_trace_queue_depth"), 7.5);
  EXPECT_EQ(e.Value("resdb_trace_attached", {{"binary", "/bin/replica"}}), 1);
  EXPECT_EQ(e.series.size(), 4u);
  ASSERT_NE(e.Family("resdb_trace_events_total"), nullptr);
  EXPECT_EQ(e.Family("resdb_trace_events_total")->type, "counter");
  EXPECT_EQ(e.Family("resdb_trace_events_total")->help, "Events decoded.");
  EXPECT_EQ(e.Family("resdb_trace_queue_depth")->type, "gauge");
  EXPECT_EQ((*prepared)->value(), 42);
  EXPECT_EQ((*depth)->value(), 7.5);
}

TEST(Metrics, OutputIsSortedAndStable) {
  Registry r;
  auto b = r.AddCounterFamily("b_total", "B.", {"k"});
  auto a = r.AddGauge("a", "A.");
  auto c = r.AddCounter("c_total", "C.");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  for (const char* k : {"zeta", "alpha", "mu", "Alpha", "alpha2"}) {
    ASSERT_TRUE((*b)->WithLabels({k}).ok());
  }
  Exposition e = Scrape(r);
  ASSERT_EQ(e.families.size(), 3u);
  EXPECT_EQ(e.families[0].name, "a");
  EXPECT_EQ(e.families[1].name, "b_total");
  EXPECT_EQ(e.families[2].name, "c_total");
  std::vector<std::string> order;
  for (const auto& s : e.families[1].samples) {
    order.push_back(s.labels[0].second);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"Alpha", "alpha", "alpha2", "mu",
                                             "zeta"}));
  // Unlabelled children exist (at 0) from registration on.
  EXPECT_EQ(e.Value("a"), 0);
  EXPECT_EQ(e.Value("c_total"), 0);
  EXPECT_EQ(r.Render(), r.Render());
}

TEST(Metrics, EscapingOfLabelValuesAndHelp) {
  Registry r;
  const std::string help = "Line one\nback\\slash \"quoted\" {braces}";
  auto f = r.AddCounterFamily("escape_total", help, {"path", "text"});
  ASSERT_TRUE(f.ok()) << f.status();
  const std::string path = "C:\\dir\\\"x\"\nnext";
  const std::string text = "caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80";
  (*(*f)->WithLabels({path, text}))->Increment(3);
  (*(*f)->WithLabels({"", ""}))->Increment(1);

  std::string raw = r.Render();
  // The escapes the format defines, and nothing else.
  EXPECT_NE(raw.find("# HELP escape_total Line one\\nback\\\\slash \"quoted\" "
                     "{braces}\n"),
            std::string::npos)
      << raw;
  EXPECT_NE(raw.find("path=\"C:\\\\dir\\\\\\\"x\\\"\\nnext\""),
            std::string::npos)
      << raw;
  EXPECT_EQ(raw.find('\n'), raw.find("\n# TYPE"));  // HELP is one line

  Exposition e = Scrape(r);
  EXPECT_EQ(e.Family("escape_total")->help, help);
  EXPECT_EQ(e.Value("escape_total", {{"path", path}, {"text", text}}), 3);
  EXPECT_EQ(e.Value("escape_total", {{"path", ""}, {"text", ""}}), 1);
}

TEST(Metrics, InvalidUtf8IsReplaced) {
  Registry r;
  auto f = r.AddGaugeFamily("utf8", "Bytes \xff in help.", {"v"});
  ASSERT_TRUE(f.ok());
  const std::string fffd = "\xEF\xBF\xBD";
  struct Case {
    std::string in, out;
  };
  const Case cases[] = {
      {"\xff", fffd},
      {"a\xc3", "a" + fffd},                            // truncated
      {"\xc0\xaf", fffd + fffd},                        // overlong '/'
      {"\xed\xa0\x80", fffd + fffd + fffd},             // surrogate
      {"\xf4\x90\x80\x80", fffd + fffd + fffd + fffd},  // > U+10FFFF
      {"ok \xc3\xa9\xf0\x9f\x98\x80", "ok \xc3\xa9\xf0\x9f\x98\x80"},  // valid
  };
  for (size_t i = 0; i < std::size(cases); ++i) {
    (*(*f)->WithLabels({cases[i].in}))->Set(static_cast<double>(i));
  }
  // Values that differ only in invalid bytes are one child (no duplicate
  // series in the output).
  EXPECT_EQ(*(*f)->WithLabels({"\xe2\x82"}), *(*f)->WithLabels({"\xc0\xaf"}));
  Exposition e = Scrape(r);
  EXPECT_EQ(e.Family("utf8")->help, "Bytes " + fffd + " in help.");
  for (size_t i = 0; i < std::size(cases); ++i) {
    EXPECT_EQ(e.Value("utf8", {{"v", cases[i].out}}), static_cast<double>(i))
        << i;
  }
  EXPECT_EQ(e.series.size(), std::size(cases));
}

TEST(Metrics, HistogramBucketsSumAndCount) {
  Registry r;
  auto f = r.AddHistogramFamily("resdb_trace_latency_seconds",
                                "Request latency.", {"phase"});
  ASSERT_TRUE(f.ok()) << f.status();
  Histogram* h = *(*f)->WithLabels({"commit"});
  ASSERT_TRUE((*f)->WithLabels({"prepare"}).ok());  // an empty child
  std::vector<double> observed = {0.00001, 0.00005, 0.0003, 0.001, 0.001, 0.02,
                                  0.7,     3,       10,     11,    1e9};
  for (double v : observed) h->Observe(v);
  h->Observe(NAN);  // ignored
  h->ObserveDuration(absl::Milliseconds(2));
  observed.push_back(0.002);
  double sum = 0;
  for (double v : observed) sum += v;

  const std::vector<double> bounds = DefaultLatencyBuckets();
  ASSERT_EQ(bounds.size(), 17u);
  EXPECT_EQ(bounds.front(), 0.00005);
  EXPECT_EQ(bounds.back(), 10);

  Exposition e = Scrape(r);  // also checks +Inf == _count, monotonicity
  const auto* fam = e.Family("resdb_trace_latency_seconds");
  ASSERT_NE(fam, nullptr);
  EXPECT_EQ(fam->type, "histogram");
  std::vector<std::pair<std::string, double>> buckets;
  for (const auto& s : fam->samples) {
    if (s.name == "resdb_trace_latency_seconds_bucket" &&
        s.labels[0] ==
            std::make_pair(std::string("phase"), std::string("commit"))) {
      ASSERT_EQ(s.labels.size(), 2u);
      EXPECT_EQ(s.labels[1].first, "le");  // le comes last
      buckets.emplace_back(s.labels[1].second, s.value);
    }
  }
  ASSERT_EQ(buckets.size(), bounds.size() + 1);
  for (size_t i = 0; i < bounds.size(); ++i) {
    // The le text reads back as the exact bound.
    EXPECT_EQ(std::strtod(buckets[i].first.c_str(), nullptr), bounds[i]);
    double expected = 0;
    for (double v : observed) expected += v <= bounds[i] ? 1 : 0;
    EXPECT_EQ(buckets[i].second, expected) << "le=" << buckets[i].first;
  }
  EXPECT_EQ(buckets.back().first, "+Inf");
  EXPECT_EQ(buckets.back().second, static_cast<double>(observed.size()));
  EXPECT_EQ(e.Value("resdb_trace_latency_seconds_count", {{"phase", "commit"}}),
            static_cast<double>(observed.size()));
  EXPECT_DOUBLE_EQ(
      e.Value("resdb_trace_latency_seconds_sum", {{"phase", "commit"}}), sum);
  EXPECT_EQ(
      e.Value("resdb_trace_latency_seconds_count", {{"phase", "prepare"}}), 0);
  EXPECT_EQ(e.Value("resdb_trace_latency_seconds_bucket",
                    {{"phase", "prepare"}, {"le", "+Inf"}}),
            0);

  Histogram::Snapshot snap = h->snapshot();
  EXPECT_EQ(snap.count, observed.size());
  EXPECT_EQ(snap.counts.size(), bounds.size() + 1);
  EXPECT_EQ(snap.counts.back(), snap.count);
}

TEST(Metrics, CustomBuckets) {
  Registry r;
  auto h =
      r.AddHistogram("sizes_bytes", "Sizes.",
                     {1, 10, 100, std::numeric_limits<double>::infinity()});
  ASSERT_TRUE(h.ok()) << h.status();
  for (double v : {0.0, 1.0, 5.0, 100.0, 1000.0}) (*h)->Observe(v);
  Exposition e = Scrape(r);
  EXPECT_EQ(e.Value("sizes_bytes_bucket", {{"le", "1"}}), 2);
  EXPECT_EQ(e.Value("sizes_bytes_bucket", {{"le", "10"}}), 3);
  EXPECT_EQ(e.Value("sizes_bytes_bucket", {{"le", "100"}}), 4);
  EXPECT_EQ(e.Value("sizes_bytes_bucket", {{"le", "+Inf"}}), 5);
  EXPECT_EQ(e.Family("sizes_bytes")->samples.size(), 4u + 2u);  // one +Inf
  EXPECT_EQ(e.Value("sizes_bytes_sum"), 1106);

  auto exp = ExponentialBuckets(0.001, 2, 4);
  EXPECT_EQ(exp, (std::vector<double>{0.001, 0.002, 0.004, 0.008}));
  EXPECT_TRUE(ExponentialBuckets(0, 2, 4).empty());
  EXPECT_TRUE(ExponentialBuckets(1, 1, 4).empty());
  ASSERT_TRUE(r.AddHistogram("no_buckets", "Only +Inf.", {}).ok());
  e = Scrape(r);
  EXPECT_EQ(e.Value("no_buckets_bucket", {{"le", "+Inf"}}), 0);

  EXPECT_EQ(r.AddHistogram("bad1", "x", {1, 1}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.AddHistogram("bad2", "x", {2, 1}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.AddHistogram("bad3", "x", {1, NAN}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.AddHistogram("bad4", "x", {-INFINITY, 1}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(Metrics, ValuesRoundTripExactly) {
  Registry r;
  auto g = r.AddGaugeFamily("v", "Values.", {"k"});
  ASSERT_TRUE(g.ok());
  const double values[] = {
      0.1,      1e-300,   123456789012345678.0, -2.5, 1e21, 3e-5, 0, -0.0,
      INFINITY, -INFINITY};
  for (size_t i = 0; i < std::size(values); ++i) {
    (*(*g)->WithLabels({std::to_string(i)}))->Set(values[i]);
  }
  (*(*g)->WithLabels({"nan"}))->Set(NAN);
  Exposition e = Scrape(r);
  for (size_t i = 0; i < std::size(values); ++i) {
    EXPECT_EQ(e.Value("v", {{"k", std::to_string(i)}}), values[i]) << i;
  }
  EXPECT_TRUE(std::isnan(e.Value("v", {{"k", "nan"}})));
  std::string raw = r.Render();
  EXPECT_NE(raw.find("v{k=\"0\"} 0.1\n"), std::string::npos) << raw;
  EXPECT_NE(raw.find("v{k=\"8\"} +Inf\n"), std::string::npos) << raw;
  EXPECT_NE(raw.find("v{k=\"nan\"} NaN\n"), std::string::npos) << raw;
}

TEST(Metrics, CallbackFamiliesAreReadAtScrapeTime) {
  Registry r;
  std::vector<uint64_t> drops = {5, 0, 7};
  int calls = 0;
  ASSERT_TRUE(r.AddCallbackCounterFamily(
                   "resdb_trace_ringbuf_drops_total",
                   "Ring-buffer reservations that failed, per CPU.", {"cpu"},
                   [&] {
                     ++calls;
                     std::vector<Sample> out;
                     // Deliberately unsorted, with a bad and a duplicate one.
                     for (size_t i = drops.size(); i-- > 0;) {
                       out.push_back({{std::to_string(i)},
                                      static_cast<double>(drops[i])});
                     }
                     out.push_back({{"0", "extra"}, 99});  // wrong arity
                     out.push_back({{"1"}, 1234});         // duplicate
                     return out;
                   })
                  .ok());
  bool attached = false;
  ASSERT_TRUE(r.AddCallbackGauge("resdb_trace_attached",
                                 "1 while the BPF program is attached.",
                                 [&] { return attached ? 1.0 : 0.0; })
                  .ok());
  ASSERT_TRUE(r.AddCallbackCounter("resdb_trace_records_total", "Records.", [] {
                 return 17.0;
               }).ok());

  Exposition e = Scrape(r);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(e.Family("resdb_trace_ringbuf_drops_total")->type, "counter");
  EXPECT_EQ(e.Family("resdb_trace_attached")->type, "gauge");
  EXPECT_EQ(e.Value("resdb_trace_ringbuf_drops_total", {{"cpu", "0"}}), 5);
  EXPECT_EQ(e.Value("resdb_trace_ringbuf_drops_total", {{"cpu", "1"}}), 0);
  EXPECT_EQ(e.Value("resdb_trace_ringbuf_drops_total", {{"cpu", "2"}}), 7);
  EXPECT_EQ(e.Family("resdb_trace_ringbuf_drops_total")->samples.size(), 3u);
  EXPECT_EQ(e.Family("resdb_trace_ringbuf_drops_total")->samples[0].labels,
            (Labels{{"cpu", "0"}}));
  EXPECT_EQ(e.Value("resdb_trace_attached"), 0);
  EXPECT_EQ(e.Value("resdb_trace_records_total"), 17);

  drops = {6, 1, 7, 2};
  attached = true;
  e = Scrape(r);
  EXPECT_EQ(e.Value("resdb_trace_ringbuf_drops_total", {{"cpu", "1"}}), 1);
  EXPECT_EQ(e.Value("resdb_trace_ringbuf_drops_total", {{"cpu", "3"}}), 2);
  EXPECT_EQ(e.Value("resdb_trace_attached"), 1);
}

TEST(Metrics, ThrowingCallbackRendersAnEmptyFamily) {
  Registry r;
  ASSERT_TRUE(r.AddCallbackGaugeFamily("flaky", "Throws.", {"x"},
                                       []() -> std::vector<Sample> {
                                         throw std::runtime_error("map gone");
                                       })
                  .ok());
  ASSERT_TRUE(r.AddCounter("after_total", "After.").ok());
  Exposition e = Scrape(r);
  ASSERT_NE(e.Family("flaky"), nullptr);
  EXPECT_TRUE(e.Family("flaky")->samples.empty());
  EXPECT_TRUE(e.Has("after_total"));
}

TEST(Metrics, ThrowingCallbackIsCountedAndLoggedOnce) {
  Registry r;
  bool fail = true;
  ASSERT_TRUE(r.AddCallbackGauge("flaky", "Throws while fail is set.",
                                 [&fail]() -> double {
                                   if (fail) throw std::runtime_error("gone");
                                   return 3;
                                 })
                  .ok());
  ASSERT_TRUE(r.AddCallbackCounter("odd_total", "Throws a non-exception.",
                                   []() -> double { throw 7; })
                  .ok());
  EXPECT_EQ(r.callback_errors(), 0u);

  ::testing::internal::CaptureStderr();
  Scrape(r);
  Scrape(r);
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(r.callback_errors(), 4u);  // two families, two scrapes
  EXPECT_EQ(log,
            "metrics: the callback of flaky threw (gone); it renders without "
            "samples while it throws (counted in Registry::callback_errors; "
            "logged once)\n"
            "metrics: the callback of odd_total threw (an exception not "
            "derived from std::exception); it renders without samples while "
            "it throws (counted in Registry::callback_errors; logged once)\n");

  fail = false;
  Exposition e = Scrape(r);
  EXPECT_EQ(e.Value("flaky"), 3);
  EXPECT_EQ(r.callback_errors(), 5u);  // odd_total still throws
}

TEST(Metrics, RegistrationErrors) {
  Registry r;
  auto code = [](const auto& s) {
    if constexpr (std::is_same_v<std::decay_t<decltype(s)>, absl::Status>) {
      return s.code();
    } else {
      return s.status().code();
    }
  };
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  const auto kExists = absl::StatusCode::kAlreadyExists;
  EXPECT_EQ(code(r.AddCounter("", "h")), kInvalid);
  EXPECT_EQ(code(r.AddCounter("1abc", "h")), kInvalid);
  EXPECT_EQ(code(r.AddCounter("a-b", "h")), kInvalid);
  EXPECT_EQ(code(r.AddCounter("ok:name_1", "")), kInvalid);  // no HELP
  EXPECT_TRUE(r.AddCounter("ok:name_1", "h").ok());
  EXPECT_EQ(code(r.AddGauge("ok:name_1", "h")), kExists);
  EXPECT_EQ(code(r.AddCounterFamily("l1", "h", {"__reserved"})), kInvalid);
  EXPECT_EQ(code(r.AddCounterFamily("l2", "h", {"a:b"})), kInvalid);
  EXPECT_EQ(code(r.AddCounterFamily("l3", "h", {"0a"})), kInvalid);
  EXPECT_EQ(code(r.AddCounterFamily("l4", "h", {"a", "a"})), kInvalid);
  EXPECT_EQ(code(r.AddHistogramFamily("l5", "h", {"le"})), kInvalid);
  EXPECT_TRUE(r.AddCounterFamily("l6", "h", {"le"}).ok());  // fine elsewhere
  // A histogram's series names are taken too, both ways round.
  EXPECT_TRUE(r.AddHistogram("rpc_seconds", "h").ok());
  EXPECT_EQ(code(r.AddCounter("rpc_seconds_count", "h")), kExists);
  EXPECT_EQ(code(r.AddGauge("rpc_seconds_bucket", "h")), kExists);
  EXPECT_TRUE(r.AddCounter("x_sum", "h").ok());
  EXPECT_EQ(code(r.AddHistogram("x", "h")), kExists);
  EXPECT_EQ(code(r.AddCallbackGauge("cb", "h", nullptr)), kInvalid);
  EXPECT_EQ(code(r.AddCallbackGauge("ok:name_1", "h", [] { return 1.0; })),
            kExists);

  auto f = r.AddCounterFamily("arity_total", "h", {"a", "b"});
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(code((*f)->WithLabels({"x"})), kInvalid);
  EXPECT_EQ(code((*f)->WithLabels({"x", "y", "z"})), kInvalid);
  EXPECT_TRUE((*f)->WithLabels({"x", "y"}).ok());
  // Nothing invalid made it into the exposition.
  Scrape(r);
}

TEST(Metrics, ChildrenPerFamilyAreBounded) {
  Registry r;
  auto f = r.AddCounterFamily("many_total", "h", {"id"});
  ASSERT_TRUE(f.ok());
  for (size_t i = 0; i < kMaxChildrenPerFamily; ++i) {
    ASSERT_TRUE((*f)->WithLabels({std::to_string(i)}).ok()) << i;
  }
  EXPECT_EQ((*f)->WithLabels({"one more"}).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE((*f)->WithLabels({"7"}).ok());  // existing ones still resolve
}

TEST(Metrics, RemoveKeepsPointersValidAndStopsCallbacks) {
  Registry r;
  auto c = r.AddCounter("gone_total", "h");
  ASSERT_TRUE(c.ok());
  std::atomic<int> calls{0};
  ASSERT_TRUE(r.AddCallbackGauge("cb", "h", [&] {
                 calls.fetch_add(1);
                 return 1.0;
               }).ok());
  Scrape(r);
  EXPECT_EQ(calls.load(), 1);
  ASSERT_TRUE(r.Remove("gone_total").ok());
  ASSERT_TRUE(r.Remove("cb").ok());
  EXPECT_EQ(r.Remove("cb").code(), absl::StatusCode::kNotFound);
  (*c)->Increment();  // still valid memory
  EXPECT_EQ((*c)->value(), 1);
  Exposition e = Scrape(r);
  EXPECT_TRUE(e.families.empty());
  EXPECT_EQ(calls.load(), 1);
  // The name is free again.
  auto again = r.AddGauge("gone_total", "h2");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(Scrape(r).Family("gone_total")->type, "gauge");
}

TEST(Metrics, RemoveWaitsForAScrapeInProgress) {
  Registry r;
  std::atomic<bool> in_callback{false};
  std::atomic<bool> release{false};
  auto* owned = new int(42);  // what the callback captures
  ASSERT_TRUE(r.AddCallbackGauge("slow", "h", [&, owned] {
                 in_callback = true;
                 while (!release) std::this_thread::yield();
                 return static_cast<double>(*owned);
               }).ok());
  std::thread scraper([&] { Scrape(r); });
  while (!in_callback) std::this_thread::yield();
  std::atomic<bool> removed{false};
  std::thread remover([&] {
    EXPECT_TRUE(r.Remove("slow").ok());
    removed = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(removed.load()) << "Remove returned while the callback ran";
  release = true;
  remover.join();
  scraper.join();
  delete owned;  // safe: the callback can no longer run
  EXPECT_TRUE(removed.load());
}

TEST(Metrics, ConcurrentObservationsAreExact) {
  Registry r;
  auto counter = r.AddCounter("c_total", "h");
  auto gauge = r.AddGauge("g", "h");
  auto hist = r.AddHistogramFamily("h_seconds", "h", {"thread"});
  auto fam = r.AddCounterFamily("per_key_total", "h", {"key"});
  ASSERT_TRUE(counter.ok() && gauge.ok() && hist.ok() && fam.ok());
  Histogram* shared = *(*hist)->WithLabels({"shared"});
  constexpr int kThreads = 4;
  constexpr int kPerThread = 200000;
  std::atomic<bool> stop_scraping{false};
  std::thread scraper([&] {
    // Scrapes concurrently; every scrape must be well-formed.
    while (!stop_scraping) Scrape(r);
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        (*counter)->Increment();
        (*gauge)->Increment(i % 2 == 0 ? 2 : -1);
        // Binary fractions: the sum is exact in any order.
        shared->Observe((i % 4) * 0.25);
        if (i % 1000 == 0) {
          // Child creation and lookup race with observations.
          (*(*fam)->WithLabels({std::to_string(i % 7000)}))->Increment();
        }
      }
      (void)t;
    });
  }
  for (auto& th : threads) th.join();
  stop_scraping = true;
  scraper.join();

  const double n = static_cast<double>(kThreads) * kPerThread;
  Exposition e = Scrape(r);
  EXPECT_EQ(e.Value("c_total"), n);
  EXPECT_EQ(e.Value("g"), n / 2);  // +2 -1 per pair
  EXPECT_EQ(e.Value("h_seconds_count", {{"thread", "shared"}}), n);
  EXPECT_EQ(e.Value("h_seconds_sum", {{"thread", "shared"}}),
            n / 4 * (0 + 0.25 + 0.5 + 0.75));
  // Default buckets: 0 -> le 5e-05; 0.25 and 0.5 -> le 0.25 / 0.5; 0.75 -> 1.
  EXPECT_EQ(
      e.Value("h_seconds_bucket", {{"thread", "shared"}, {"le", "5e-05"}}),
      n / 4);
  EXPECT_EQ(e.Value("h_seconds_bucket", {{"thread", "shared"}, {"le", "0.25"}}),
            n / 2);
  EXPECT_EQ(e.Value("h_seconds_bucket", {{"thread", "shared"}, {"le", "0.5"}}),
            3 * n / 4);
  EXPECT_EQ(e.Value("h_seconds_bucket", {{"thread", "shared"}, {"le", "1"}}),
            n);
  double per_key_total = 0;
  for (const auto& s : e.Family("per_key_total")->samples) {
    per_key_total += s.value;
  }
  EXPECT_EQ(per_key_total, kThreads * (kPerThread / 1000));
}

}  // namespace
}  // namespace resdb_trace::collector::metrics
