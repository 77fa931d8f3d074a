#include "lib/net/http_message.h"

#include <random>
#include <string>

#include "gtest/gtest.h"

namespace resdb_trace::collector::http {
namespace {

using namespace std::string_literals;

constexpr size_t kMax = size_t{64} * 1024;

ParseResult Parse(std::string_view input, Request* r, size_t max = kMax) {
  return ParseHttpRequest(input, max, r);
}

// The status of a request that must be rejected, with the reason on failure.
int ErrorStatus(std::string_view input, size_t max = kMax) {
  Request r;
  ParseResult p = Parse(input, &r, max);
  if (p.status != ParseStatus::kError) return 0;
  EXPECT_FALSE(p.error.empty());
  return p.http_status;
}

TEST(ParseHttpRequest, SimpleGet) {
  const std::string in =
      "GET /metrics HTTP/1.1\r\nHost: localhost:9464\r\n"
      "User-Agent:  Prometheus/2.42  \r\nAccept: */*\r\n\r\n";
  Request r;
  ParseResult p = Parse(in, &r);
  ASSERT_EQ(p.status, ParseStatus::kComplete) << p.error;
  EXPECT_EQ(p.consumed, in.size());
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.target, "/metrics");
  EXPECT_EQ(r.path, "/metrics");
  EXPECT_EQ(r.version, "HTTP/1.1");
  EXPECT_TRUE(r.query.empty());
  ASSERT_EQ(r.headers.size(), 3u);
  EXPECT_EQ(r.headers[0].first, "host");
  EXPECT_EQ(r.headers[1].second, "Prometheus/2.42");  // OWS trimmed
  EXPECT_EQ(r.Header("USER-agent"), "Prometheus/2.42");
  EXPECT_EQ(r.Header("accept"), "*/*");
  EXPECT_FALSE(r.Header("cookie").has_value());
  EXPECT_TRUE(r.body.empty());
}

TEST(ParseHttpRequest, PathAndQueryAreDecoded) {
  Request r;
  ParseResult p = Parse(
      "GET /a%20b/c%2Fd?x=1&msg=hello+world%21&flag&x=2&&=v&k%3D=%3D "
      "HTTP/1.0\r\n\r\n",
      &r);
  ASSERT_EQ(p.status, ParseStatus::kComplete) << p.error;
  EXPECT_EQ(r.path, "/a b/c/d");
  EXPECT_EQ(r.target,
            "/a%20b/c%2Fd?x=1&msg=hello+world%21&flag&x=2&&=v&k%3D=%3D");
  ASSERT_EQ(r.query.size(), 6u);
  EXPECT_EQ(r.query[0], (std::pair<std::string, std::string>("x", "1")));
  EXPECT_EQ(r.query[1].second, "hello world!");
  EXPECT_EQ(r.query[2], (std::pair<std::string, std::string>("flag", "")));
  EXPECT_EQ(r.query[3].second, "2");
  EXPECT_EQ(r.query[4], (std::pair<std::string, std::string>("", "v")));
  EXPECT_EQ(r.query[5], (std::pair<std::string, std::string>("k=", "=")));
  EXPECT_EQ(r.Query("x"), "1");  // the first one
  EXPECT_EQ(r.Query("flag"), "");
  EXPECT_FALSE(r.Query("missing").has_value());
  // '+' is a space in the query only.
  ASSERT_EQ(Parse("GET /a+b HTTP/1.0\r\n\r\n", &r).status,
            ParseStatus::kComplete);
  EXPECT_EQ(r.path, "/a+b");
}

TEST(ParseHttpRequest, BodyWithContentLength) {
  const std::string in =
      "POST /api/x HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n"
      "hello world";
  Request r;
  ParseResult p = Parse(in, &r);
  ASSERT_EQ(p.status, ParseStatus::kComplete) << p.error;
  EXPECT_EQ(r.body, "hello world");
  EXPECT_EQ(p.consumed, in.size());
  // Every strict prefix is incomplete, never an error; once the header
  // section is in, the parser knows the total size.
  const size_t header_size = in.size() - 11;
  for (size_t n = 0; n < in.size(); ++n) {
    ParseResult q = Parse(std::string_view(in).substr(0, n), &r);
    ASSERT_EQ(q.status, ParseStatus::kIncomplete) << "prefix " << n;
    EXPECT_EQ(q.needed, n >= header_size ? in.size() : 0u) << "prefix " << n;
  }
}

TEST(ParseHttpRequest, BareLfAndLeadingEmptyLines) {
  Request r;
  ParseResult p =
      Parse("\r\n\nGET / HTTP/1.1\nHost: h\nContent-Length: 2\n\nok", &r);
  ASSERT_EQ(p.status, ParseStatus::kComplete) << p.error;
  EXPECT_EQ(r.path, "/");
  EXPECT_EQ(r.body, "ok");
  std::string many(9, '\n');
  EXPECT_EQ(ErrorStatus(many + "GET / HTTP/1.0\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus(std::string(8, '\n') + "GET / HTTP/1.0\r\n\r\n"), 0);
}

TEST(ParseHttpRequest, PipelinedRequestsAndTrailingJunk) {
  const std::string first = "GET /one HTTP/1.1\r\nHost: h\r\n\r\n";
  const std::string second =
      "POST /two HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
  const std::string junk = "\x16\x03\x01 garbage \r\n\r\n\xff";
  std::string in = first + second + junk;
  Request r;
  ParseResult p = Parse(in, &r);
  ASSERT_EQ(p.status, ParseStatus::kComplete);
  EXPECT_EQ(p.consumed, first.size());
  EXPECT_EQ(r.path, "/one");
  p = Parse(std::string_view(in).substr(first.size()), &r);
  ASSERT_EQ(p.status, ParseStatus::kComplete);
  EXPECT_EQ(p.consumed, second.size());
  EXPECT_EQ(r.path, "/two");
  EXPECT_EQ(r.body, "abc");
  // The junk on its own is an error, not an endless wait.
  EXPECT_EQ(ErrorStatus(junk), 400);
}

TEST(ParseHttpRequest, BinaryJunkFailsBeforeTheLineEnds) {
  Request r;
  // A TLS ClientHello: no newline in sight, but no method either.
  EXPECT_EQ(ErrorStatus(std::string("\x16\x03\x01\x02\x00\x01\x00", 7)), 400);
  EXPECT_EQ(ErrorStatus(" GET"), 400);
  // A plausible start keeps waiting.
  EXPECT_EQ(Parse("GET /x HT", &r).status, ParseStatus::kIncomplete);
  EXPECT_EQ(Parse("", &r).status, ParseStatus::kIncomplete);
}

TEST(ParseHttpRequest, MalformedRequestLines) {
  EXPECT_EQ(ErrorStatus("GET\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET /\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET  / HTTP/1.0\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET / HTTP/1.0 \r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("G(T / HTTP/1.0\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET http://h/ HTTP/1.0\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("OPTIONS * HTTP/1.0\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET /a#frag HTTP/1.0\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET /a\x01 HTTP/1.0\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET /\xc3\xa9 HTTP/1.0\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET / HTTP/1\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET / HTTX/1.1\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET / http/1.1\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET / HTTP/2.0\r\n\r\n"), 505);
  EXPECT_EQ(ErrorStatus("GET / HTTP/0.9\r\n\r\n"), 505);
  EXPECT_EQ(ErrorStatus("GET /\r HTTP/1.0\r\n\r\n"), 400);
}

TEST(ParseHttpRequest, BadPercentEncodingAndDotSegments) {
  EXPECT_EQ(ErrorStatus("GET /a%zz HTTP/1.0\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET /a%2 HTTP/1.0\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET /a% HTTP/1.0\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET /?q=%g1 HTTP/1.0\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET /a%00b HTTP/1.0\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET /../etc/passwd HTTP/1.0\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET /ui/%2e%2e/secret HTTP/1.0\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET /ui/./x HTTP/1.0\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET /ui/.. HTTP/1.0\r\n\r\n"), 400);
  // Dots inside names are fine, and so is a query value of "..".
  EXPECT_EQ(ErrorStatus("GET /ui/..a/.b/c. HTTP/1.0\r\n\r\n"), 0);
  EXPECT_EQ(ErrorStatus("GET /x?p=../.. HTTP/1.0\r\n\r\n"), 0);
}

TEST(ParseHttpRequest, MalformedHeaders) {
  EXPECT_EQ(ErrorStatus("GET / HTTP/1.0\r\nNoColon\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET / HTTP/1.0\r\nBad Name: x\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET / HTTP/1.0\r\nName : x\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET / HTTP/1.0\r\n: x\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET / HTTP/1.0\r\nA: b\r\n folded\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET / HTTP/1.0\r\nA: b\rc\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET / HTTP/1.0\r\nA: b\x01\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET / HTTP/1.0\r\nA: b\0c\r\n\r\n"s), 400);
  // Tabs and obs-text are allowed in values.
  EXPECT_EQ(ErrorStatus("GET / HTTP/1.0\r\nA: b\tc \xe9\r\n\r\n"), 0);
}

TEST(ParseHttpRequest, HostRules) {
  EXPECT_EQ(ErrorStatus("GET / HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET / HTTP/1.0\r\n\r\n"), 0);
  EXPECT_EQ(ErrorStatus("GET / HTTP/1.1\r\nhOsT: a\r\n\r\n"), 0);
}

TEST(ParseHttpRequest, ContentLengthRules) {
  const std::string head = "POST / HTTP/1.1\r\nHost: h\r\n";
  EXPECT_EQ(ErrorStatus(head + "Content-Length: abc\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus(head + "Content-Length: -1\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus(head + "Content-Length: +1\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus(head + "Content-Length:\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus(head + "Content-Length: 1, 1\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus(head + "Content-Length: 1\r\nContent-Length: 2\r\n\r\n"
                               "xx"),
            400);
  EXPECT_EQ(ErrorStatus(head + "Content-Length: 2\r\nContent-Length: 2\r\n\r\n"
                               "xx"),
            0);
  EXPECT_EQ(ErrorStatus(head + "Content-Length: 99999999999999999999\r\n\r\n"),
            413);
  EXPECT_EQ(ErrorStatus(head + "Content-Length: 18446744073709551615\r\n\r\n"),
            413);
  EXPECT_EQ(ErrorStatus(head + "Transfer-Encoding: chunked\r\n\r\n"), 501);
}

TEST(ParseHttpRequest, ExpectContinue) {
  const std::string head =
      "POST /p HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\n"
      "Content-Length: 4\r\n\r\n";
  Request r;
  ParseResult p = Parse(head, &r);
  ASSERT_EQ(p.status, ParseStatus::kIncomplete);
  EXPECT_TRUE(p.expect_continue);
  EXPECT_EQ(p.needed, head.size() + 4);
  p = Parse(head + "body", &r);
  ASSERT_EQ(p.status, ParseStatus::kComplete);
  EXPECT_EQ(r.body, "body");
  p = Parse("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\n", &r);
  EXPECT_FALSE(p.expect_continue);
  EXPECT_EQ(ErrorStatus("GET / HTTP/1.1\r\nHost: h\r\nExpect: magic\r\n\r\n"),
            417);
}

TEST(ParseHttpRequest, SizeLimits) {
  const size_t max = 1024;
  const std::string head = "POST / HTTP/1.1\r\nHost: h\r\n";
  // The body is judged from Content-Length, before it arrives.
  std::string exact_head = head + "Content-Length: ";
  size_t fits = max - (exact_head.size() + 3 + 4);  // "NNN\r\n\r\n" below
  std::string fitting = exact_head + std::to_string(fits) + "\r\n\r\n";
  ASSERT_EQ(fitting.size() + fits, max);
  Request r;
  ParseResult p = Parse(fitting + std::string(fits, 'b'), &r, max);
  ASSERT_EQ(p.status, ParseStatus::kComplete) << p.error;
  EXPECT_EQ(r.body.size(), fits);
  std::string too_big = exact_head + std::to_string(fits + 1) + "\r\n\r\n";
  EXPECT_EQ(ErrorStatus(too_big, max), 413);
  // A header section that never ends is cut off once past the limit...
  std::string long_header = head + "X-Long: " + std::string(max, 'a');
  EXPECT_EQ(ErrorStatus(long_header, max), 413);
  EXPECT_EQ(Parse(long_header.substr(0, max), &r, max).status,
            ParseStatus::kIncomplete);
  // ... and a complete one larger than the limit is too large as well.
  EXPECT_EQ(ErrorStatus(long_header + "\r\n\r\n", max), 413);
  // Many small fields: bounded by count, not only by bytes.
  std::string many = head;
  for (int i = 0; i < 100; ++i) many += "A: b\r\n";
  EXPECT_EQ(ErrorStatus(many + "\r\n"), 431);
  std::string ok = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 100; ++i) ok += i == 0 ? "Host: h\r\n" : "A: b\r\n";
  EXPECT_EQ(ErrorStatus(ok + "\r\n"), 0);
}

TEST(ParseHttpRequest, RandomMutationsNeverBreakTheContract) {
  const std::string seeds[] = {
      "GET /a%20b?x=1&y=%41 HTTP/1.1\r\nHost: h\r\nA: b\r\n\r\n",
      "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
      "\nGET / HTTP/1.0\nX: y\n\n",
  };
  const char alphabet[] = "\r\n :%/?=&.\x00\x7f\xffGETHP01a";
  std::mt19937 rng(12345);
  const size_t max = 256;
  int complete = 0, error = 0;
  for (int i = 0; i < 50000; ++i) {
    std::string in = seeds[i % 3];
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      size_t pos = rng() % (in.size() + 1);
      char c = alphabet[rng() % (sizeof(alphabet) - 1)];
      switch (rng() % 3) {
        case 0:
          if (pos < in.size()) in[pos] = c;
          break;
        case 1:
          in.insert(pos, 1, c);
          break;
        default:
          if (pos < in.size()) in.erase(pos, 1);
      }
    }
    Request r;
    ParseResult p = ParseHttpRequest(in, max, &r);
    switch (p.status) {
      case ParseStatus::kComplete:
        ++complete;
        ASSERT_LE(p.consumed, in.size());
        ASSERT_LE(p.consumed, max);
        ASSERT_FALSE(r.method.empty());
        ASSERT_EQ(r.path[0], '/');
        // Parsing exactly the consumed bytes gives the same request.
        {
          Request again;
          ParseResult q = ParseHttpRequest(
              std::string_view(in).substr(0, p.consumed), max, &again);
          ASSERT_EQ(q.status, ParseStatus::kComplete);
          ASSERT_EQ(again.path, r.path);
          ASSERT_EQ(again.body, r.body);
        }
        break;
      case ParseStatus::kError:
        ++error;
        ASSERT_TRUE(p.http_status == 400 || p.http_status == 413 ||
                    p.http_status == 417 || p.http_status == 431 ||
                    p.http_status == 501 || p.http_status == 505)
            << p.http_status;
        ASSERT_FALSE(p.error.empty());
        break;
      case ParseStatus::kIncomplete:
        ASSERT_LE(in.size(), max);
        ASSERT_TRUE(p.needed == 0 || p.needed > in.size());
        break;
    }
  }
  // The mutations exercise both outcomes.
  EXPECT_GT(complete, 1000);
  EXPECT_GT(error, 1000);
}

TEST(StatusReason, KnownAndUnknown) {
  EXPECT_EQ(StatusReason(404), "Not Found");
  EXPECT_EQ(StatusReason(503), "Service Unavailable");
  EXPECT_EQ(StatusReason(299), "Unknown");
}

}  // namespace
}  // namespace resdb_trace::collector::http
