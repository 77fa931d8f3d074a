#include "collector/serve/web/web_api.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <set>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "collector/serve/web/web_assets.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "lib/catalogue.h"

namespace resdb_trace::collector::web {
namespace {

using http::Request;
using http::Response;

// Headers of every answer besides the server's own (which include
// X-Content-Type-Options: nosniff): no framing, no referrer, no caching.
void AddCommonHeaders(Response* r) {
  r->headers.emplace_back("X-Frame-Options", "DENY");
  r->headers.emplace_back("Referrer-Policy", "no-referrer");
  r->headers.emplace_back("Cache-Control", "no-store");
}

std::string JsonQuote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += absl::StrFormat("\\u%04x", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string_view StatusName(int http_status) {
  switch (http_status) {
    case 400:
      return "INVALID_ARGUMENT";
    case 403:
      return "PERMISSION_DENIED";
    case 404:
      return "NOT_FOUND";
    case 429:
      return "RESOURCE_EXHAUSTED";
    case 503:
      return "UNAVAILABLE";
    default:
      return "INTERNAL";
  }
}

std::string ToJson(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(m, &out, o).ok()) {
    return "{}";
  }
  return out;
}

Response JsonOk(const google::protobuf::Message& m) {
  Response r;
  r.status = 200;
  r.content_type = "application/json; charset=utf-8";
  r.body = ToJson(m);
  AddCommonHeaders(&r);
  return r;
}

bool Starts(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

absl::string_view A(std::string_view v) {
  return absl::string_view(v.data(), v.size());
}

Response FromStatus(const absl::Status& s) {
  return JsonError(HttpStatusOf(s.code()),
                   std::string_view(s.message().data(), s.message().size()));
}

Response Unavailable(std::string_view what) { return JsonError(503, what); }

// Query parameters, validated: unknown names and malformed values are
// errors that name the parameter and what it accepts.
class Params {
 public:
  Params(const Request& r, std::string_view endpoint,
         std::vector<std::string_view> known)
      : request_(r), endpoint_(endpoint), known_(std::move(known)) {}

  // First error found so far ("" when none).
  const std::string& error() const { return error_; }

  bool CheckKnown() {
    for (const auto& [name, value] : request_.query) {
      if (std::find(known_.begin(), known_.end(), name) == known_.end()) {
        Fail(absl::StrFormat("unknown query parameter '%s' for %s (known: %s)",
                             name, endpoint_, Known()));
        return false;
      }
    }
    return true;
  }

  std::optional<std::string_view> Get(std::string_view name) {
    std::optional<std::string_view> v;
    int n = 0;
    for (const auto& [k, value] : request_.query) {
      if (k == name) {
        if (!v) v = value;
        ++n;
      }
    }
    if (n > 1) {
      Fail(
          absl::StrFormat("query parameter '%s' is given %d times; give it "
                          "once (lists are comma-separated)",
                          name, n));
    }
    return v;
  }

  std::optional<uint64_t> Uint(std::string_view name, uint64_t min,
                               uint64_t max) {
    std::optional<std::string_view> v = Get(name);
    if (!v) return std::nullopt;
    uint64_t out = 0;
    if (!absl::SimpleAtoi(A(*v), &out) || out < min || out > max) {
      Fail(
          absl::StrFormat("query parameter %s=%s: expected an integer in "
                          "[%u, %u]",
                          name, *v, min, max));
      return std::nullopt;
    }
    return out;
  }

  std::optional<double> Double(std::string_view name, double min, double max) {
    std::optional<std::string_view> v = Get(name);
    if (!v) return std::nullopt;
    double out = 0;
    if (!absl::SimpleAtod(A(*v), &out) || !(out >= min) || !(out <= max)) {
      Fail(
          absl::StrFormat("query parameter %s=%s: expected a number in "
                          "[%g, %g]",
                          name, *v, min, max));
      return std::nullopt;
    }
    return out;
  }

  // "1", "true", "yes" or no value: true; "0", "false", "no": false.
  bool Bool(std::string_view name) {
    std::optional<std::string_view> v = Get(name);
    if (!v) return false;
    std::string s = absl::AsciiStrToLower(A(*v));
    if (s.empty() || s == "1" || s == "true" || s == "yes") return true;
    if (s == "0" || s == "false" || s == "no") return false;
    Fail(
        absl::StrFormat("query parameter %s=%s: expected 1/true/yes or "
                        "0/false/no",
                        name, *v));
    return false;
  }

  // Comma-separated unsigned integers.
  std::vector<uint32_t> UintList(std::string_view name) {
    std::vector<uint32_t> out;
    std::optional<std::string_view> v = Get(name);
    if (!v) return out;
    for (absl::string_view t : absl::StrSplit(A(*v), ',', absl::SkipEmpty())) {
      uint32_t x = 0;
      if (!absl::SimpleAtoi(t, &x)) {
        Fail(
            absl::StrFormat("query parameter %s=%s: '%s' is not a "
                            "non-negative integer (give a comma-separated "
                            "list, e.g. 1,2)",
                            name, *v, t));
        return {};
      }
      out.push_back(x);
    }
    return out;
  }

  std::string Known() const {
    if (known_.empty()) return "none";
    std::string out;
    for (std::string_view k : known_) {
      if (!out.empty()) out += ", ";
      out += k;
    }
    return out;
  }

  void Fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
  }

 private:
  const Request& request_;
  std::string endpoint_;
  std::vector<std::string_view> known_;
  std::string error_;
};

std::optional<Response> CheckHost(const WebOptions& options, const Request& r) {
  std::optional<std::string> why =
      http::CheckBrowserRequest(r, options.browser);
  if (!why) return std::nullopt;
  return JsonError(
      403, absl::StrCat(*why,
                        "; open the web view as http://127.0.0.1:PORT/ or "
                        "http://localhost:PORT/"));
}

Response Asset(const WebAsset& a) {
  Response r;
  r.status = 200;
  r.content_type = std::string(a.content_type);
  r.body = std::string(a.body);
  AddCommonHeaders(&r);
  if (Starts(a.content_type, "text/html")) {
    r.headers.emplace_back(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self' "
        "'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'self'");
  }
  return r;
}

Response HtmlNotFound(std::string_view path) {
  Response r = Response::Text(
      404, absl::StrFormat("no page %s: the web view has /, /timeline/<seq>, "
                           "/viewchanges and /profile\n",
                           path));
  AddCommonHeaders(&r);
  return r;
}

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(),
                                   [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

int HttpStatusOf(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

Response JsonError(int http_status, std::string_view message) {
  Response r;
  r.status = http_status;
  r.content_type = "application/json; charset=utf-8";
  r.body = absl::StrFormat(
      "{\"error\":{\"code\":%d,\"status\":%s,\"message\":%s}}\n", http_status,
      JsonQuote(StatusName(http_status)), JsonQuote(message));
  AddCommonHeaders(&r);
  return r;
}

WebApi::WebApi(WebBackend backend, WebOptions options)
    : backend_(std::move(backend)), options_(options) {}

Response WebApi::Handle(const Request& request) const {
  if (std::optional<Response> denied = CheckHost(options_, request)) {
    return *denied;
  }
  if (Starts(request.path, "/api/") || request.path == "/api") {
    return Api(request);
  }
  return Page(request);
}

Response WebApi::Page(const Request& request) const {
  const std::string& p = request.path;
  if (Starts(p, "/static/")) {
    const WebAsset* a = FindWebAsset(std::string_view(p).substr(8));
    if (a == nullptr || a->name == "index.html") return HtmlNotFound(p);
    return Asset(*a);
  }
  bool page = p == "/" || p == "/viewchanges" || p == "/profile";
  if (Starts(p, "/timeline/")) {
    page = AllDigits(std::string_view(p).substr(10));
  }
  if (!page) return HtmlNotFound(p);
  const WebAsset* index = FindWebAsset("index.html");
  if (index == nullptr) return JsonError(500, "index.html is not embedded");
  return Asset(*index);
}

Response WebApi::Api(const Request& request) const {
  std::string_view p = request.path;
  if (p == "/api/v1/stats") return Stats(request);
  if (p == "/api/v1/timelines") return Timelines(request);
  if (Starts(p, "/api/v1/timelines/")) {
    return OneTimeline(request, p.substr(18));
  }
  if (p == "/api/v1/viewchanges") return ViewChanges(request);
  if (p == "/api/v1/profile") return Profile(request);
  return JsonError(
      404, absl::StrFormat(
               "no endpoint %s; the API has /api/v1/stats, /api/v1/timelines, "
               "/api/v1/timelines/<seq>, /api/v1/viewchanges, "
               "/api/v1/profile and /api/v1/stream (docs/web.md)",
               p));
}

Response WebApi::Stats(const Request& request) const {
  Params q(request, "/api/v1/stats", {});
  if (!q.CheckKnown()) return JsonError(400, q.error());
  if (!backend_.stats) return Unavailable("stats are not available");
  absl::StatusOr<v1::Stats> s = backend_.stats();
  if (!s.ok()) return FromStatus(s.status());
  return JsonOk(*s);
}

Response WebApi::Timelines(const Request& request) const {
  Params q(
      request, "/api/v1/timelines",
      {"seq_min", "seq_max", "slower_than_ns", "slower_than_ms",
       "incomplete_only", "include_open", "limit", "summary_only", "brief"});
  if (!q.CheckKnown()) return JsonError(400, q.error());
  v1::ListTimelinesRequest req;
  constexpr uint64_t kMax = ~uint64_t{0};
  if (auto v = q.Uint("seq_min", 0, kMax)) req.set_seq_min(*v);
  if (auto v = q.Uint("seq_max", 0, kMax)) req.set_seq_max(*v);
  if (auto v = q.Uint("slower_than_ns", 0, int64_t{1} << 62)) {
    req.set_slower_than_ns(static_cast<int64_t>(*v));
  }
  if (auto v = q.Double("slower_than_ms", 0, 1e9)) {
    if (req.slower_than_ns() != 0) {
      q.Fail("give slower_than_ns or slower_than_ms, not both");
    }
    req.set_slower_than_ns(static_cast<int64_t>(*v * 1e6));
  }
  req.set_incomplete_only(q.Bool("incomplete_only"));
  req.set_include_open(q.Bool("include_open"));
  bool capped = false;
  if (auto v = q.Uint("limit", 1, 10000)) {
    capped = *v > options_.max_page;
    req.set_limit(
        static_cast<uint32_t>(std::min<uint64_t>(*v, options_.max_page)));
  }
  req.set_summary_only(q.Bool("summary_only"));
  const bool brief = q.Bool("brief");
  if (req.has_seq_min() && req.has_seq_max() && req.seq_min() > req.seq_max()) {
    q.Fail(absl::StrFormat("seq_min %u is above seq_max %u", req.seq_min(),
                           req.seq_max()));
  }
  if (!q.error().empty()) return JsonError(400, q.error());
  if (!backend_.list_timelines) {
    return Unavailable(
        "timelines are disabled in this collector (started with "
        "--no-timelines)");
  }
  absl::StatusOr<v1::ListTimelinesResponse> r = backend_.list_timelines(req);
  if (!r.ok()) return FromStatus(r.status());
  if (brief) {
    for (v1::Timeline& t : *r->mutable_timelines()) t.clear_replicas();
  }
  Response out = JsonOk(*r);
  if (capped) {
    out.headers.emplace_back("X-Limit-Capped", absl::StrCat(options_.max_page));
  }
  return out;
}

Response WebApi::OneTimeline(const Request& request,
                             std::string_view key) const {
  Params q(request, "/api/v1/timelines/<key>", {});
  if (!q.CheckKnown()) return JsonError(400, q.error());
  v1::GetTimelineRequest req;
  uint64_t n = 0;
  if (Starts(key, "request/")) {
    std::vector<absl::string_view> parts =
        absl::StrSplit(A(key.substr(8)), absl::MaxSplits(':', 1));
    uint64_t proxy = 0, local = 0;
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &proxy) ||
        !absl::SimpleAtoi(parts[1], &local)) {
      return JsonError(
          400, absl::StrFormat("timeline key '%s': expected "
                               "request/PROXY:LOCAL_ID, e.g. request/100:750",
                               key));
    }
    req.mutable_request()->set_proxy_id(proxy);
    req.mutable_request()->set_local_id(local);
  } else if (Starts(key, "digest/")) {
    std::string_view hex = key.substr(7);
    uint64_t d = 0;
    const bool is_hex = !hex.empty() && hex.size() <= 16 &&
                        std::all_of(hex.begin(), hex.end(), [](char c) {
                          return absl::ascii_isxdigit(c);
                        });
    if (is_hex) d = std::stoull(std::string(hex), nullptr, 16);
    if (!is_hex) {
      return JsonError(
          400, absl::StrFormat("timeline key '%s': expected digest/HEX with "
                               "up to 16 hex digits",
                               key));
    }
    req.set_digest_prefix(d);
  } else if (AllDigits(key) && absl::SimpleAtoi(A(key), &n)) {
    req.set_seq(n);
  } else {
    return JsonError(
        400, absl::StrFormat("timeline key '%s': expected a sequence number "
                             "(/api/v1/timelines/750), request/PROXY:LOCAL_ID "
                             "or digest/HEX",
                             key));
  }
  if (!backend_.get_timeline) {
    return Unavailable(
        "timelines are disabled in this collector (started with "
        "--no-timelines)");
  }
  absl::StatusOr<v1::Timeline> t = backend_.get_timeline(req);
  if (!t.ok()) return FromStatus(t.status());
  return JsonOk(*t);
}

Response WebApi::ViewChanges(const Request& request) const {
  Params q(request, "/api/v1/viewchanges", {"limit"});
  if (!q.CheckKnown()) return JsonError(400, q.error());
  v1::ListViewChangesRequest req;
  if (auto v = q.Uint("limit", 1, 10000)) {
    req.set_limit(static_cast<uint32_t>(*v));
  }
  if (!q.error().empty()) return JsonError(400, q.error());
  if (!backend_.list_view_changes) {
    return Unavailable(
        "timelines are disabled in this collector (started with "
        "--no-timelines)");
  }
  absl::StatusOr<v1::ListViewChangesResponse> r =
      backend_.list_view_changes(req);
  if (!r.ok()) return FromStatus(r.status());
  return JsonOk(*r);
}

Response WebApi::Profile(const Request& request) const {
  Params q(request, "/api/v1/profile",
           {"replica", "pid", "seconds", "last", "from", "to", "phase",
            "format", "split", "title"});
  if (!q.CheckKnown()) return JsonError(400, q.error());
  v1::GetProfileRequest req;
  for (uint32_t r : q.UintList("replica")) req.add_replica_ids(r);
  for (uint32_t p : q.UintList("pid")) req.add_pids(p);
  int windows = 0;
  if (auto v = q.Uint("seconds", 1, options_.max_profile_seconds)) {
    req.set_seconds(static_cast<uint32_t>(*v));
    ++windows;
  }
  if (auto v = q.Uint("last", 1, 24 * 3600)) {
    req.set_last_seconds(static_cast<uint32_t>(*v));
    ++windows;
  }
  std::optional<std::string_view> from = q.Get("from"), to = q.Get("to");
  if (from || to) {
    ++windows;
    auto parse = [&](const char* name, std::string_view v,
                     google::protobuf::Timestamp* out) {
      if (!google::protobuf::util::TimeUtil::FromString(std::string(v), out)) {
        q.Fail(
            absl::StrFormat("query parameter %s=%s: expected an RFC 3339 "
                            "time, e.g. 2026-11-23T18:00:00Z",
                            name, v));
      }
    };
    if (from) parse("from", *from, req.mutable_range()->mutable_start());
    if (to) parse("to", *to, req.mutable_range()->mutable_end());
  }
  if (windows > 1) {
    q.Fail(
        "give one window: seconds=N (sample now), last=N (history) or "
        "from=/to= (RFC 3339)");
  }
  if (std::optional<std::string_view> v = q.Get("phase")) {
    absl::StatusOr<std::vector<uint32_t>> ids = catalogue::ParsePhases(A(*v));
    if (ids.ok()) {
      for (uint32_t id : *ids) req.add_phase_hook_ids(id);
    } else {
      q.Fail(absl::StrFormat("query parameter phase=%s: %s", *v,
                             ids.status().message()));
    }
  }
  if (std::optional<std::string_view> v = q.Get("split")) {
    for (absl::string_view t : absl::StrSplit(A(*v), ',', absl::SkipEmpty())) {
      if (t == "pid") {
        req.mutable_render()->set_split_by_pid(true);
      } else if (t == "phase") {
        req.mutable_render()->set_split_by_phase(true);
      } else {
        q.Fail(absl::StrFormat(
            "query parameter split=%s: expected pid, phase or pid,phase", *v));
        break;
      }
    }
  }
  if (std::optional<std::string_view> v = q.Get("title")) {
    req.mutable_render()->set_title(std::string(v->substr(0, 200)));
  }
  std::string format = "json";
  if (std::optional<std::string_view> v = q.Get("format")) {
    format = std::string(*v);
  }
  struct Download {
    v1::ProfileFormat format;
    const char* content_type;
    const char* file;
  };
  std::optional<Download> download;
  if (format == "json") {
    req.add_formats(v1::PROFILE_FORMAT_FOLDED);
  } else if (format == "pprof") {
    download = Download{v1::PROFILE_FORMAT_PPROF, "application/octet-stream",
                        "profile.pb.gz"};
  } else if (format == "folded") {
    download = Download{v1::PROFILE_FORMAT_FOLDED, "text/plain; charset=utf-8",
                        "profile.folded"};
  } else if (format == "svg") {
    download = Download{v1::PROFILE_FORMAT_SVG, "image/svg+xml", "profile.svg"};
  } else if (format == "md") {
    download = Download{v1::PROFILE_FORMAT_MARKDOWN,
                        "text/markdown; charset=utf-8", "profile.md"};
  } else {
    q.Fail(absl::StrFormat(
        "query parameter format=%s: expected json, pprof, folded, svg or md",
        format));
  }
  if (!q.error().empty()) return JsonError(400, q.error());
  if (download) req.add_formats(download->format);
  if (!backend_.get_profile) {
    return Unavailable(
        "profiling is off in this collector: start it with --profile (or "
        "--profile-hz N)");
  }
  absl::StatusOr<v1::Profile> p = backend_.get_profile(req);
  if (!p.ok()) return FromStatus(p.status());
  if (!download) return JsonOk(*p);
  Response r;
  r.status = 200;
  r.content_type = download->content_type;
  switch (download->format) {
    case v1::PROFILE_FORMAT_PPROF:
      r.body = p->pprof_gz();
      break;
    case v1::PROFILE_FORMAT_FOLDED:
      r.body = p->folded();
      break;
    case v1::PROFILE_FORMAT_SVG:
      r.body = p->svg();
      break;
    default:
      r.body = p->markdown();
  }
  AddCommonHeaders(&r);
  // An attachment, never rendered in our origin (the SVG carries a script).
  r.headers.emplace_back(
      "Content-Disposition",
      absl::StrFormat("attachment; filename=\"%s\"", download->file));
  return r;
}

namespace {

struct StreamParams {
  uint32_t stats_ms = 1000;
  bool incomplete_only = false;
  int64_t slower_than_ns = 0;
};

std::variant<StreamParams, Response> ParseStream(const WebOptions& o,
                                                 const Request& request) {
  Params q(request, "/api/v1/stream",
           {"stats_ms", "incomplete_only", "slower_than_ms"});
  if (!q.CheckKnown()) return JsonError(400, q.error());
  StreamParams p;
  p.stats_ms = o.default_stats_ms;
  if (auto v = q.Uint("stats_ms", o.min_stats_ms, o.max_stats_ms)) {
    p.stats_ms = static_cast<uint32_t>(*v);
  }
  p.incomplete_only = q.Bool("incomplete_only");
  if (auto v = q.Double("slower_than_ms", 0, 1e9)) {
    p.slower_than_ns = static_cast<int64_t>(*v * 1e6);
  }
  if (!q.error().empty()) return JsonError(400, q.error());
  return p;
}

}  // namespace

std::optional<Response> WebApi::CheckStream(const Request& request) const {
  if (std::optional<Response> denied = CheckHost(options_, request)) {
    return denied;
  }
  auto p = ParseStream(options_, request);
  if (std::holds_alternative<Response>(p)) return std::get<Response>(p);
  if (backend_.updates == nullptr) {
    return Unavailable(
        "timelines are disabled in this collector (started with "
        "--no-timelines): nothing to stream");
  }
  return std::nullopt;
}

void WebApi::Stream(const Request& request, http::StreamWriter& w) const {
  auto parsed = ParseStream(options_, request);
  if (!std::holds_alternative<StreamParams>(parsed) ||
      backend_.updates == nullptr) {
    return;
  }
  const StreamParams p = std::get<StreamParams>(parsed);
  SubscriberOptions<v1::TimelineUpdate> sopt;
  sopt.capacity = options_.stream_queue;
  sopt.name = "web stream";
  sopt.filter = [p](const v1::TimelineUpdate& u) {
    if (!u.has_timeline()) return true;
    const v1::Timeline& t = u.timeline();
    if (p.incomplete_only && t.state() == v1::TIMELINE_STATE_COMPLETE) {
      return false;
    }
    if (p.slower_than_ns > 0 && (!t.has_execute_latency_ns() ||
                                 t.execute_latency_ns() < p.slower_than_ns)) {
      return false;
    }
    return true;
  };
  absl::StatusOr<UpdateHub::Subscription> sub =
      backend_.updates->Subscribe(std::move(sopt));
  if (!sub.ok()) {
    w.Send("error", FromStatus(sub.status()).body);
    return;
  }
  w.Send("hello", absl::StrFormat("{\"stats_ms\":%u}", p.stats_ms));
  auto send_stats = [&]() -> bool {
    if (!backend_.stats) return w.SendComment("no stats");
    absl::StatusOr<v1::Stats> s = backend_.stats();
    if (!s.ok()) return w.SendComment(s.status().ToString());
    // The attach table is static and long; /api/v1/stats has it.
    s->clear_attachments();
    return w.Send("stats", ToJson(*s));
  };
  if (!send_stats()) return;
  const absl::Duration interval = absl::Milliseconds(p.stats_ms);
  absl::Time next_stats = absl::Now() + interval;
  std::vector<std::shared_ptr<const v1::TimelineUpdate>> out;
  while (w.open()) {
    const absl::Duration wait =
        std::clamp(next_stats - absl::Now(), absl::ZeroDuration(),
                   absl::Milliseconds(250));
    PopResult r = sub->PopBatch(256, absl::ZeroDuration(), &out, wait);
    if (r.dropped > 0 &&
        !w.Send("dropped", absl::StrFormat("{\"dropped\":%u}", r.dropped))) {
      return;
    }
    for (const auto& u : out) {
      bool ok = true;
      switch (u->update_case()) {
        case v1::TimelineUpdate::kTimeline: {
          // Without the per-replica marks; /api/v1/timelines/<seq> has them.
          v1::Timeline t = u->timeline();
          t.clear_replicas();
          ok = w.Send("timeline", ToJson(t));
          break;
        }
        case v1::TimelineUpdate::kViewChange:
          ok = w.Send("viewchange", ToJson(u->view_change()));
          break;
        case v1::TimelineUpdate::kAnomaly:
          ok = w.Send("anomaly", ToJson(u->anomaly()));
          break;
        default:
          break;
      }
      if (!ok) return;
    }
    out.clear();
    if (r.closed) {
      w.Send("end", "{\"reason\":\"collector stopping\"}");
      return;
    }
    if (absl::Now() >= next_stats) {
      if (!send_stats()) return;
      next_stats = absl::Now() + interval;
    }
    if (w.WaitClosed(absl::ZeroDuration())) return;
  }
}

absl::Status RegisterWebRoutes(http::HttpServer& server,
                               std::shared_ptr<const WebApi> api) {
  absl::Status s = server.Handle(
      "GET", "/", [api](const Request& r) { return api->Handle(r); });
  if (!s.ok()) return s;
  return server.HandleStream(
      "/api/v1/stream",
      [api](const Request& r, http::StreamWriter& w) { api->Stream(r, w); },
      [api](const Request& r) { return api->CheckStream(r); });
}

}  // namespace resdb_trace::collector::web
