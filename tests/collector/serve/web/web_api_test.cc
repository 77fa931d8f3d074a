// The web view's handlers (collector/serve/web/web_api.*): JSON shape (parsed
// back into the resdb_trace.v1 messages and compared with what the in-process
// objects answer), 400 for every kind of bad parameter, 404 for an unknown
// seq, 503 for a feature that is off, the Host check, the pages and assets,
// and the SSE stream over a real HttpServer fed by a real TimelineRunner.
#include "collector/serve/web/web_api.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "collector/decode/clock.h"
#include "collector/serve/web/web_assets.h"
#include "collector/timeline/timeline_runner.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "lib/catalogue.h"
#include "tests/collector/timeline/pbft_sim.h"

namespace resdb_trace::collector::web {
namespace {

using google::protobuf::util::MessageDifferencer;
using http::Request;
using http::Response;

Request Get(std::string target, std::string host = "127.0.0.1:8088") {
  Request r;
  r.method = "GET";
  r.version = "HTTP/1.1";
  r.target = target;
  size_t q = target.find('?');
  r.path = target.substr(0, q);
  if (q != std::string::npos) {
    std::string query = target.substr(q + 1);
    size_t pos = 0;
    while (pos <= query.size()) {
      size_t amp = query.find('&', pos);
      std::string part = query.substr(
          pos, amp == std::string::npos ? std::string::npos : amp - pos);
      size_t eq = part.find('=');
      if (!part.empty()) {
        r.query.emplace_back(part.substr(0, eq), eq == std::string::npos
                                                     ? ""
                                                     : part.substr(eq + 1));
      }
      if (amp == std::string::npos) break;
      pos = amp + 1;
    }
  }
  r.headers.emplace_back("host", host);
  return r;
}

template <typename M>
M Parse(const std::string& json) {
  M m;
  auto s = google::protobuf::util::JsonStringToMessage(json, &m);
  EXPECT_TRUE(s.ok()) << s.ToString() << "\n" << json;
  return m;
}

// {"error":{"code":N,"status":"...","message":"..."}}. Read with string
// operations: google.protobuf.Struct's map crashes under TSan with Debian's
// uninstrumented libprotobuf.
void ExpectError(const Response& r, int status, const std::string& needle) {
  EXPECT_EQ(r.status, status) << r.body;
  EXPECT_EQ(r.content_type, "application/json; charset=utf-8");
  const std::string head =
      "{\"error\":{\"code\":" + std::to_string(status) + ",\"status\":\"";
  EXPECT_EQ(r.body.rfind(head, 0), 0u) << r.body;
  const size_t msg = r.body.find("\",\"message\":\"");
  ASSERT_NE(msg, std::string::npos) << r.body;
  EXPECT_GT(msg, head.size()) << "empty status: " << r.body;
  EXPECT_EQ(r.body.substr(r.body.size() - 4), "\"}}\n") << r.body;
  EXPECT_NE(r.body.find(needle, msg), std::string::npos) << r.body;
}

// Every `data:` payload of `event` in a text/event-stream body (std::regex
// trips gcc 12's -Wmaybe-uninitialized under the sanitizers).
std::vector<std::string> SseData(const std::string& body,
                                 const std::string& event) {
  std::vector<std::string> out;
  const std::string head = "event: " + event + "\ndata: ";
  for (size_t at = body.find(head); at != std::string::npos;
       at = body.find(head, at + 1)) {
    const size_t start = at + head.size();
    const size_t end = body.find("\n\n", start);
    if (end == std::string::npos) break;
    out.push_back(body.substr(start, end - start));
  }
  return out;
}

// The names of /static/ files `html` refers to in src= or href=.
std::vector<std::string> StaticRefs(const std::string& html) {
  std::vector<std::string> out;
  for (const std::string attr : {"src=\"/static/", "href=\"/static/"}) {
    for (size_t at = html.find(attr); at != std::string::npos;
         at = html.find(attr, at + 1)) {
      const size_t start = at + attr.size();
      out.push_back(html.substr(start, html.find('"', start) - start));
    }
  }
  return out;
}

// A TimelineRunner holding `n` complete simulated instances.
class WithTimelines : public ::testing::Test {
 protected:
  void SetUp() override {
    TimelineRunnerOptions options;
    options.tick = absl::Milliseconds(2);
    options.timeline.linger = absl::Milliseconds(1);
    auto runner = TimelineRunner::Start(&hub_, nullptr, options);
    ASSERT_TRUE(runner.ok()) << runner.status();
    runner_ = std::move(*runner);
  }
  void TearDown() override {
    if (runner_) runner_->Stop();
  }

  void Publish(uint64_t first_seq, uint64_t n) {
    const int64_t t0 = MonotonicNowNs();
    testing::PbftSim sim(4, 3);
    for (uint64_t seq = first_seq; seq < first_seq + n; ++seq) {
      std::vector<v1::Event> events =
          sim.Instance(seq, 0, t0 + static_cast<int64_t>(seq) * 100'000, seq,
                       0xabc000 + seq)
              .events;
      testing::PbftSim::Number(&events, &next_id_);
      std::vector<EventHub<v1::Event>::EventPtr> batch;
      for (v1::Event& e : events) {
        batch.push_back(std::make_shared<const v1::Event>(std::move(e)));
      }
      hub_.PublishBatch(batch);
    }
  }

  void WaitComplete(uint64_t n) {
    for (int i = 0; i < 5000; ++i) {
      if (runner_->builder().Stats().complete() >= n) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    FAIL() << "timelines did not complete";
  }

  WebBackend Backend() {
    WebBackend b;
    TimelineBuilder* builder = &runner_->builder();
    b.stats = [builder]() -> absl::StatusOr<v1::Stats> {
      v1::Stats s;
      s.set_records_read(42);
      s.add_ringbuf_drops_per_cpu(0);
      *s.mutable_timelines() = builder->Stats();
      return s;
    };
    b.get_timeline = [builder](const v1::GetTimelineRequest& r) {
      return builder->Get(r);
    };
    b.list_timelines = [builder](const v1::ListTimelinesRequest& r)
        -> absl::StatusOr<v1::ListTimelinesResponse> {
      return builder->List(r);
    };
    b.list_view_changes = [builder](const v1::ListViewChangesRequest& r)
        -> absl::StatusOr<v1::ListViewChangesResponse> {
      return builder->ListViewChanges(r);
    };
    b.updates = &runner_->updates();
    return b;
  }

  EventHub<v1::Event> hub_;
  std::unique_ptr<TimelineRunner> runner_;
  uint64_t next_id_ = 1;
};

TEST_F(WithTimelines, TimelineJsonIsTheBuildersTimeline) {
  Publish(1, 5);
  WaitComplete(5);
  WebApi api(Backend());
  Response r = api.Handle(Get("/api/v1/timelines/3"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "application/json; charset=utf-8");
  // Field names as in the .proto (the CLI's --json uses the same).
  EXPECT_NE(r.body.find("\"commit_latency_ns\""), std::string::npos);
  v1::GetTimelineRequest get;
  get.set_seq(3);
  absl::StatusOr<v1::Timeline> want = runner_->builder().Get(get);
  ASSERT_TRUE(want.ok());
  v1::Timeline got = Parse<v1::Timeline>(r.body);
  EXPECT_TRUE(MessageDifferencer::Equals(got, *want))
      << got.DebugString() << "\nvs\n"
      << want->DebugString();
  EXPECT_EQ(got.replicas_size(), 4);
  EXPECT_EQ(got.state(), v1::TIMELINE_STATE_COMPLETE);
  // An absent optional stays absent (never printed as 0).
  v1::Timeline first = *want;
  EXPECT_EQ(r.body.find("\"straggler_lag_ns\":\"0\""), std::string::npos);

  // By client request and by digest.
  Response by_req = api.Handle(Get("/api/v1/timelines/request/100:3"));
  ASSERT_EQ(by_req.status, 200) << by_req.body;
  EXPECT_EQ(Parse<v1::Timeline>(by_req.body).seq(), 3u);
  Response by_digest = api.Handle(Get("/api/v1/timelines/digest/abc003"));
  ASSERT_EQ(by_digest.status, 200) << by_digest.body;
  EXPECT_EQ(Parse<v1::Timeline>(by_digest.body).seq(), 3u);

  ExpectError(api.Handle(Get("/api/v1/timelines/99")), 404, "no timeline");
  ExpectError(api.Handle(Get("/api/v1/timelines/request/100:99")), 404,
              "no timeline");
  ExpectError(api.Handle(Get("/api/v1/timelines/abc")), 400,
              "expected a sequence number");
  ExpectError(api.Handle(Get("/api/v1/timelines/-1")), 400,
              "expected a sequence number");
  ExpectError(api.Handle(Get("/api/v1/timelines/99999999999999999999999")), 400,
              "expected a sequence number");
  ExpectError(api.Handle(Get("/api/v1/timelines/request/100")), 400,
              "request/PROXY:LOCAL_ID");
  ExpectError(api.Handle(Get("/api/v1/timelines/digest/xyz")), 400,
              "digest/HEX");
  ExpectError(api.Handle(Get("/api/v1/timelines/3?x=1")), 400,
              "unknown query parameter 'x'");
}

TEST_F(WithTimelines, ListFiltersAndBriefForm) {
  Publish(1, 8);
  WaitComplete(8);
  WebApi api(Backend());
  Response r = api.Handle(Get("/api/v1/timelines?limit=3&seq_max=6"));
  ASSERT_EQ(r.status, 200) << r.body;
  auto list = Parse<v1::ListTimelinesResponse>(r.body);
  ASSERT_EQ(list.timelines_size(), 3);
  // Newest first, in the order the builder closed them (each closes at its
  // own deadline, so not necessarily by seq): exactly the builder's answer.
  v1::ListTimelinesRequest want_req;
  want_req.set_limit(3);
  want_req.set_seq_max(6);
  const v1::ListTimelinesResponse want = runner_->builder().List(want_req);
  ASSERT_EQ(want.timelines_size(), 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(list.timelines(i).seq(), want.timelines(i).seq());
    EXPECT_LE(list.timelines(i).seq(), 6u);
  }
  EXPECT_EQ(list.more(), 3u);
  EXPECT_EQ(list.stats().complete(), 8u);
  EXPECT_EQ(list.timelines(0).replicas_size(), 4);

  // brief: no per-replica marks, phases kept (the live view's bars).
  auto brief = Parse<v1::ListTimelinesResponse>(
      api.Handle(Get("/api/v1/timelines?brief=1&limit=2")).body);
  ASSERT_EQ(brief.timelines_size(), 2);
  EXPECT_EQ(brief.timelines(0).replicas_size(), 0);
  EXPECT_EQ(brief.timelines(0).phases_size(), 5);
  // summary_only is the RPC's: no phases either.
  auto summary = Parse<v1::ListTimelinesResponse>(
      api.Handle(Get("/api/v1/timelines?summary_only=true&limit=2")).body);
  EXPECT_EQ(summary.timelines(0).phases_size(), 0);

  auto none = Parse<v1::ListTimelinesResponse>(
      api.Handle(Get("/api/v1/timelines?incomplete_only=1")).body);
  EXPECT_EQ(none.timelines_size(), 0);
  auto slow = Parse<v1::ListTimelinesResponse>(
      api.Handle(Get("/api/v1/timelines?slower_than_ms=100000")).body);
  EXPECT_EQ(slow.timelines_size(), 0);

  ExpectError(api.Handle(Get("/api/v1/timelines?limit=abc")), 400, "limit=abc");
  ExpectError(api.Handle(Get("/api/v1/timelines?limit=0")), 400, "[1, 10000]");
  ExpectError(api.Handle(Get("/api/v1/timelines?limit=10001")), 400,
              "[1, 10000]");
  ExpectError(api.Handle(Get("/api/v1/timelines?seq_min=5&seq_max=2")), 400,
              "above seq_max");
  ExpectError(api.Handle(Get("/api/v1/timelines?limit=1&limit=2")), 400,
              "given 2 times");
  ExpectError(api.Handle(Get("/api/v1/timelines?brief=maybe")), 400,
              "brief=maybe");
  ExpectError(api.Handle(Get("/api/v1/timelines?slower_than_ms=-1")), 400,
              "slower_than_ms");
  ExpectError(
      api.Handle(Get("/api/v1/timelines?slower_than_ns=5&slower_than_ms=1")),
      400, "not both");
  ExpectError(api.Handle(Get("/api/v1/timelines?seqmin=1")), 400,
              "unknown query parameter 'seqmin'");
}

TEST_F(WithTimelines, StatsAndViewChanges) {
  WebApi api(Backend());
  Response r = api.Handle(Get("/api/v1/stats"));
  ASSERT_EQ(r.status, 200) << r.body;
  auto stats = Parse<v1::Stats>(r.body);
  EXPECT_EQ(stats.records_read(), 42u);
  EXPECT_NE(r.body.find("\"records_read\":\"42\""), std::string::npos);
  ExpectError(api.Handle(Get("/api/v1/stats?x")), 400, "known: none");
  Response vc = api.Handle(Get("/api/v1/viewchanges?limit=5"));
  ASSERT_EQ(vc.status, 200) << vc.body;
  EXPECT_EQ(Parse<v1::ListViewChangesResponse>(vc.body).episodes_size(), 0);
  ExpectError(api.Handle(Get("/api/v1/viewchanges?limit=-3")), 400, "limit");
  ExpectError(api.Handle(Get("/api/v1/nothing")), 404, "/api/v1/stats");
  ExpectError(api.Handle(Get("/api/v2/stats")), 404, "no endpoint");
}

TEST(WebApiTest, FeaturesThatAreOffAnswer503) {
  WebApi api(WebBackend{});
  ExpectError(api.Handle(Get("/api/v1/timelines")), 503, "--no-timelines");
  ExpectError(api.Handle(Get("/api/v1/timelines/5")), 503, "--no-timelines");
  ExpectError(api.Handle(Get("/api/v1/viewchanges")), 503, "--no-timelines");
  ExpectError(api.Handle(Get("/api/v1/profile")), 503, "--profile");
  ExpectError(api.Handle(Get("/api/v1/stats")), 503, "stats");
  std::optional<Response> s = api.CheckStream(Get("/api/v1/stream"));
  ASSERT_TRUE(s.has_value());
  ExpectError(*s, 503, "--no-timelines");
  // Parameters are checked first: a bad one is still a 400.
  ExpectError(api.Handle(Get("/api/v1/timelines?limit=x")), 400, "limit");
}

TEST(WebApiTest, ProfileParametersBecomeTheRequest) {
  v1::GetProfileRequest seen;
  WebBackend b;
  b.get_profile =
      [&seen](const v1::GetProfileRequest& r) -> absl::StatusOr<v1::Profile> {
    seen = r;
    v1::Profile p;
    p.set_folded("main;work 7\nmain 2\n");
    p.set_svg("<svg/>");
    p.set_pprof_gz(std::string("\x1f\x8b\x08\x00", 4));
    p.set_markdown("# profile\n");
    p.mutable_counters()->set_samples(9);
    p.set_frequency_hz(99);
    return p;
  };
  WebApi api(b);
  Response r = api.Handle(
      Get("/api/v1/profile?replica=1,2&pid=77&last=30&phase=prepare,commit,"
          "execute_end&split=pid,phase"));
  ASSERT_EQ(r.status, 200) << r.body;
  auto p = Parse<v1::Profile>(r.body);
  EXPECT_EQ(p.folded(), "main;work 7\nmain 2\n");
  EXPECT_EQ(p.counters().samples(), 9u);
  EXPECT_EQ(seen.replica_ids_size(), 2);
  EXPECT_EQ(seen.replica_ids(1), 2u);
  EXPECT_EQ(seen.pids(0), 77u);
  EXPECT_EQ(seen.last_seconds(), 30u);
  ASSERT_EQ(seen.phase_hook_ids_size(), 3);
  // prepare -> prepare_received, commit -> commit_received (as the CLI).
  EXPECT_EQ(seen.phase_hook_ids(0),
            (*catalogue::FindHookByName("prepare_received"))->id);
  EXPECT_EQ(seen.phase_hook_ids(1),
            (*catalogue::FindHookByName("commit_received"))->id);
  EXPECT_EQ(seen.phase_hook_ids(2),
            (*catalogue::FindHookByName("execute_end"))->id);
  EXPECT_TRUE(seen.render().split_by_pid());
  EXPECT_TRUE(seen.render().split_by_phase());
  ASSERT_EQ(seen.formats_size(), 1);
  EXPECT_EQ(seen.formats(0), v1::PROFILE_FORMAT_FOLDED);

  r = api.Handle(Get("/api/v1/profile?format=svg&seconds=2"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "image/svg+xml");
  EXPECT_EQ(r.body, "<svg/>");
  EXPECT_EQ(seen.seconds(), 2u);
  bool attachment = false;
  for (const auto& [k, v] : r.headers) {
    if (k == "Content-Disposition") attachment = v.find("attachment") == 0;
  }
  EXPECT_TRUE(attachment);
  EXPECT_EQ(api.Handle(Get("/api/v1/profile?format=pprof")).body.substr(0, 2),
            "\x1f\x8b");
  EXPECT_EQ(api.Handle(Get("/api/v1/profile?format=md")).body, "# profile\n");
  EXPECT_EQ(api.Handle(Get("/api/v1/profile?format=folded")).body,
            "main;work 7\nmain 2\n");
  r =
      api.Handle(Get("/api/v1/profile?from=2026-11-23T18:00:00Z&to=2026-11-"
                     "23T18:00:10.5Z"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(seen.range().end().seconds() - seen.range().start().seconds(), 10);
  EXPECT_EQ(seen.range().end().nanos(), 500'000'000);

  ExpectError(api.Handle(Get("/api/v1/profile?seconds=31")), 400, "[1, 30]");
  ExpectError(api.Handle(Get("/api/v1/profile?seconds=0")), 400, "seconds");
  ExpectError(api.Handle(Get("/api/v1/profile?seconds=2&last=5")), 400,
              "one window");
  ExpectError(api.Handle(Get("/api/v1/profile?from=yesterday")), 400,
              "RFC 3339");
  ExpectError(api.Handle(Get("/api/v1/profile?phase=voting")), 400,
              "'voting' is not a phase");
  ExpectError(api.Handle(Get("/api/v1/profile?replica=one")), 400,
              "'one' is not a non-negative integer");
  ExpectError(api.Handle(Get("/api/v1/profile?format=gif")), 400,
              "json, pprof, folded, svg or md");
  ExpectError(api.Handle(Get("/api/v1/profile?split=thread")), 400,
              "split=thread");

  // The profiler's own errors keep their meaning.
  b.get_profile =
      [](const v1::GetProfileRequest&) -> absl::StatusOr<v1::Profile> {
    return absl::FailedPreconditionError("the profiler is not running");
  };
  WebApi off(b);
  ExpectError(off.Handle(Get("/api/v1/profile")), 503, "not running");
}

TEST(WebApiTest, OnlyLoopbackHostsUnlessAllowed) {
  WebBackend b;
  b.stats = []() -> absl::StatusOr<v1::Stats> { return v1::Stats(); };
  WebApi api(b);
  for (const char* host : {"127.0.0.1:8088", "localhost:8088", "localhost",
                           "[::1]:8088", "LOCALHOST.", "app.localhost:1"}) {
    EXPECT_EQ(api.Handle(Get("/api/v1/stats", host)).status, 200) << host;
  }
  for (const char* host : {"attacker.example", "attacker.example:8088",
                           "127.0.0.1.nip.io:8088", "[::2]:8088", "10.0.0.1"}) {
    ExpectError(api.Handle(Get("/api/v1/stats", host)), 403,
                "not a loopback name");
    EXPECT_EQ(api.Handle(Get("/", host)).status, 403) << host;
  }
  std::optional<Response> s =
      api.CheckStream(Get("/api/v1/stream", "evil.example"));
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->status, 403);
  // Issue 16: --insecure-listen no longer turns the Host check off; names
  // are allowed one by one (--http-allow-host).
  WebOptions open;
  open.browser.allowed_hosts = {"collector.lan"};
  WebApi allowed(b, open);
  EXPECT_EQ(allowed.Handle(Get("/api/v1/stats", "collector.lan:8088")).status,
            200);
  EXPECT_EQ(allowed.Handle(Get("/api/v1/stats", "other.lan:8088")).status, 403);
}

// Issue 16: any page could start 30 s profiles through the browser; a
// cross-origin request is refused before it reaches the backend.
TEST(WebApiTest, CrossOriginRequestsAre403) {
  WebBackend b;
  int profiles = 0;
  b.get_profile =
      [&](const v1::GetProfileRequest&) -> absl::StatusOr<v1::Profile> {
    ++profiles;
    return v1::Profile();
  };
  WebApi api(b);
  Request r = Get("/api/v1/profile?seconds=1");
  r.headers.emplace_back("origin", "http://evil.example");
  ExpectError(api.Handle(r), 403, "cross-origin");
  Request s = Get("/api/v1/stream");
  s.headers.emplace_back("origin", "http://evil.example");
  std::optional<Response> denied = api.CheckStream(s);
  ASSERT_TRUE(denied.has_value());
  EXPECT_EQ(denied->status, 403);
  EXPECT_EQ(profiles, 0);
  Request same = Get("/api/v1/profile?seconds=1");
  same.headers.emplace_back("origin", "http://127.0.0.1:8088");
  EXPECT_EQ(api.Handle(same).status, 200) << api.Handle(same).body;
  EXPECT_EQ(profiles, 1);
}

// Issue 16: limit=10000 rendered every retained timeline in one answer.
TEST(WebApiTest, TimelinePagesAreCapped) {
  WebBackend b;
  uint32_t asked = 0;
  b.list_timelines = [&](const v1::ListTimelinesRequest& r)
      -> absl::StatusOr<v1::ListTimelinesResponse> {
    asked = r.limit();
    return v1::ListTimelinesResponse();
  };
  WebApi api(b);
  Response r = api.Handle(Get("/api/v1/timelines?limit=10000&include_open=1"));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(asked, 500u);
  bool said = false;
  for (const auto& [k, v] : r.headers)
    said |= k == "X-Limit-Capped" && v == "500";
  EXPECT_TRUE(said);
  EXPECT_EQ(api.Handle(Get("/api/v1/timelines?limit=20")).status, 200);
  EXPECT_EQ(asked, 20u);
}

TEST(WebApiTest, PagesAndAssetsComeFromTheBinary) {
  WebApi api(WebBackend{});
  for (const char* page : {"/", "/timeline/750", "/viewchanges", "/profile"}) {
    Response r = api.Handle(Get(page));
    EXPECT_EQ(r.status, 200) << page;
    EXPECT_EQ(r.content_type, "text/html; charset=utf-8") << page;
    bool csp = false;
    for (const auto& [k, v] : r.headers) {
      if (k == "Content-Security-Policy") {
        csp = v.find("default-src 'self'") != std::string::npos;
      }
    }
    EXPECT_TRUE(csp) << page;
  }
  for (const char* missing :
       {"/timeline/", "/timeline/abc", "/timeline/1/2", "/nothing",
        "/static/nothing.js", "/static/index.html"}) {
    EXPECT_EQ(api.Handle(Get(missing)).status, 404) << missing;
  }
  // Every file index.html references is embedded, with its type.
  const WebAsset* index = FindWebAsset("index.html");
  ASSERT_NE(index, nullptr);
  std::string html(index->body);
  int refs = 0;
  for (const std::string& name : StaticRefs(html)) {
    ++refs;
    Response r = api.Handle(Get("/static/" + name));
    EXPECT_EQ(r.status, 200) << name;
    EXPECT_FALSE(r.body.empty()) << name;
  }
  EXPECT_GE(refs, 7);
  EXPECT_EQ(api.Handle(Get("/static/app.js")).content_type,
            "text/javascript; charset=utf-8");
  EXPECT_EQ(api.Handle(Get("/static/style.css")).content_type,
            "text/css; charset=utf-8");
  // Nothing refers to another origin: every asset works offline.
  size_t count = 0;
  const WebAsset* all = AllWebAssets(&count);
  ASSERT_GT(count, 0u);
  for (size_t i = 0; i < count; ++i) {
    const std::string body(all[i].body);
    for (const char* external : {"src=\"http", "href=\"http", "url(http",
                                 "import(\"http", "@import"}) {
      EXPECT_EQ(body.find(external), std::string::npos)
          << all[i].name << " refers to " << external;
    }
  }
}

// A blocking client over loopback TCP.
class Client {
 public:
  explicit Client(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{10, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ok_ = connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  }
  ~Client() { close(fd_); }
  bool ok() const { return ok_; }
  void Send(const std::string& s) {
    ASSERT_EQ(write(fd_, s.data(), s.size()), static_cast<ssize_t>(s.size()));
  }
  // Reads until `marker` appears (after `from`); false on close/timeout.
  bool ReadUntil(const std::string& marker, size_t from = 0) {
    char buf[4096];
    while (data.find(marker, from) == std::string::npos) {
      ssize_t n = read(fd_, buf, sizeof(buf));
      if (n <= 0) return false;
      data.append(buf, static_cast<size_t>(n));
    }
    return true;
  }
  std::string data;

 private:
  int fd_ = -1;
  bool ok_ = false;
};

TEST_F(WithTimelines, StreamSendsTimelinesAndStats) {
  http::HttpServer::Options o;
  auto server = http::HttpServer::Create(o);
  ASSERT_TRUE(server.ok()) << server.status();
  auto api = std::make_shared<const WebApi>(Backend());
  ASSERT_TRUE(RegisterWebRoutes(**server, api).ok());
  ASSERT_TRUE((*server)->Start().ok());
  const int port = (*server)->port();

  {  // A bad parameter is a 400, not a stream.
    Client c(port);
    ASSERT_TRUE(c.ok());
    c.Send("GET /api/v1/stream?stats_ms=5 HTTP/1.1\r\nHost: localhost\r\n\r\n");
    ASSERT_TRUE(c.ReadUntil("}\n"));
    EXPECT_EQ(c.data.rfind("HTTP/1.1 400", 0), 0u) << c.data;
    EXPECT_NE(c.data.find("stats_ms=5"), std::string::npos);
  }
  Client c(port);
  ASSERT_TRUE(c.ok());
  c.Send("GET /api/v1/stream?stats_ms=100 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  ASSERT_TRUE(c.ReadUntil("event: stats\n")) << c.data;
  EXPECT_EQ(c.data.rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_NE(c.data.find("text/event-stream"), std::string::npos);
  EXPECT_NE(c.data.find("event: hello\ndata: {\"stats_ms\":100}\n\n"),
            std::string::npos);
  Publish(1, 3);
  ASSERT_TRUE(c.ReadUntil("\"seq\":\"3\"")) << c.data;
  ASSERT_TRUE(c.ReadUntil("\n\n", c.data.find("\"seq\":\"3\"")));
  // Each timeline event is one protobuf-JSON Timeline without replicas.
  std::set<uint64_t> seqs;
  for (const std::string& data : SseData(c.data, "timeline")) {
    v1::Timeline t = Parse<v1::Timeline>(data);
    EXPECT_EQ(t.replicas_size(), 0);
    EXPECT_EQ(t.phases_size(), 5);
    EXPECT_EQ(t.state(), v1::TIMELINE_STATE_COMPLETE);
    seqs.insert(t.seq());
  }
  EXPECT_EQ(seqs, (std::set<uint64_t>{1, 2, 3}));
  // Stats keep coming (every 100 ms), without the attach table.
  const size_t after = c.data.size();
  ASSERT_TRUE(c.ReadUntil("event: stats\n", after));
  ASSERT_TRUE(c.ReadUntil("\n\n", c.data.find("event: stats\n", after)));
  std::vector<std::string> stats = SseData(c.data.substr(after), "stats");
  ASSERT_FALSE(stats.empty()) << c.data.substr(after);
  EXPECT_EQ(Parse<v1::Stats>(stats.back()).timelines().complete(), 3u);
  // Stopping the runner ends the stream with an `end` event.
  runner_->Stop();
  ASSERT_TRUE(c.ReadUntil("event: end\n")) << c.data.substr(after);
  (*server)->Stop();
}

}  // namespace
}  // namespace resdb_trace::collector::web
