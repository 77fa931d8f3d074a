// HttpServer end to end over real loopback TCP and Unix sockets.
#include "lib/net/http_server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/lib/net/test_client.h"

namespace resdb_trace::collector::http {
namespace {

using testing::ClientResponse;
using testing::Connect;
using testing::Exchange;
using testing::ReadUntil;
using testing::ReadUntilClose;
using testing::SendBytes;
using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

ClientResponse Get(const HttpServer& s, std::string_view target) {
  return testing::Request(s.address(), "GET", target);
}

// Waits up to 5 s for `pred`.
template <typename Pred>
bool Eventually(Pred pred) {
  Clock::time_point start = Clock::now();
  while (SecondsSince(start) < 5) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

std::unique_ptr<HttpServer> MakeServer(HttpServer::Options o = {}) {
  auto s = HttpServer::Create(std::move(o));
  EXPECT_TRUE(s.ok()) << s.status();
  if (!s.ok()) return nullptr;
  EXPECT_TRUE((*s)->Handle("GET", "/echo",
                           [](const Request& r) {
                             std::string body = "path=" + r.path + "\n";
                             for (const auto& [k, v] : r.query) {
                               body += "q:" + k + "=" + v + "\n";
                             }
                             body +=
                                 "ua=" +
                                 std::string(
                                     r.Header("user-agent").value_or("none")) +
                                 "\n";
                             Response resp = Response::Text(200, body);
                             resp.headers.emplace_back("X-Echo", "yes");
                             return resp;
                           })
                  .ok());
  EXPECT_TRUE((*s)->Handle("POST", "/echo",
                           [](const Request& r) {
                             Response resp;
                             resp.status = 201;
                             resp.content_type = "application/octet-stream";
                             resp.body = r.body;
                             return resp;
                           })
                  .ok());
  return std::move(*s);
}

TEST(HttpServer, GetPostHeadOverLoopback) {
  auto server = MakeServer();
  ASSERT_NE(server, nullptr);
  ASSERT_TRUE(server->Start().ok());
  EXPECT_GT(server->port(), 0);
  EXPECT_EQ(server->address(), "127.0.0.1:" + std::to_string(server->port()));

  ClientResponse r = Get(*server, "/echo?a=1&b=x+y%21");
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body, "path=/echo\nq:a=1\nq:b=x y!\nua=test_client\n");
  EXPECT_EQ(r.Header("content-type"), "text/plain; charset=utf-8");
  EXPECT_EQ(r.Header("content-length"), std::to_string(r.body.size()));
  EXPECT_EQ(r.Header("connection"), "close");
  EXPECT_EQ(r.Header("x-echo"), "yes");
  EXPECT_TRUE(r.Header("date").has_value());

  std::string payload(5000, 'p');
  payload += "\r\n\r\nnot a header";
  r = testing::Request(server->address(), "POST", "/echo", payload);
  ASSERT_EQ(r.status, 201) << r.raw;
  EXPECT_EQ(r.body, payload);
  EXPECT_EQ(r.Header("content-type"), "application/octet-stream");

  r = testing::Request(server->address(), "HEAD", "/echo");
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(r.Header("content-length"),
            std::to_string(std::string("path=/echo\nua=test_client\n").size()));

  HttpServer::Stats st = server->stats();
  EXPECT_EQ(st.requests, 3u);
  EXPECT_EQ(st.connections_accepted, 3u);
  EXPECT_EQ(st.client_errors, 0u);
}

TEST(HttpServer, ExpectContinueGetsAnInterimResponse) {
  auto server = MakeServer();
  ASSERT_NE(server, nullptr);
  ASSERT_TRUE(server->Start().ok());
  int fd = Connect(server->address());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendBytes(fd,
                        "POST /echo HTTP/1.1\r\nHost: h\r\nExpect: "
                        "100-continue\r\nContent-Length: 5\r\n\r\n"));
  std::string buf;
  ASSERT_TRUE(ReadUntil(fd, "\r\n\r\n", &buf));
  EXPECT_EQ(buf, "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(SendBytes(fd, "hello"));
  ClientResponse r = testing::ParseClientResponse(ReadUntilClose(fd));
  close(fd);
  EXPECT_EQ(r.status, 201) << r.raw;
  EXPECT_EQ(r.body, "hello");
}

TEST(HttpServer, NotFoundAndMethodNotAllowed) {
  auto server = MakeServer();
  ASSERT_NE(server, nullptr);
  ASSERT_TRUE(server->Start().ok());
  ClientResponse r = Get(*server, "/nope");
  EXPECT_EQ(r.status, 404) << r.raw;
  r = Get(*server, "/echo/");  // exact patterns do not match below them
  EXPECT_EQ(r.status, 404) << r.raw;
  r = testing::Request(server->address(), "DELETE", "/echo");
  EXPECT_EQ(r.status, 405) << r.raw;
  EXPECT_EQ(r.Header("allow"), "GET, HEAD, POST");
  r = testing::Request(server->address(), "get", "/echo");  // case-sensitive
  EXPECT_EQ(r.status, 405) << r.raw;
  // Answers to HEAD never carry a body, errors included.
  r = testing::Request(server->address(), "HEAD", "/nope");
  EXPECT_EQ(r.status, 404) << r.raw;
  EXPECT_EQ(r.body, "");
  EXPECT_NE(r.Header("content-length"), "0");
}

TEST(HttpServer, PrefixRoutesLongestMatchWins) {
  auto server = MakeServer();
  ASSERT_NE(server, nullptr);
  auto tag = [](const std::string& t) {
    return [t](const Request& r) { return Response::Text(200, t + r.path); };
  };
  ASSERT_TRUE(server->Handle("GET", "/", tag("root:")).ok());
  ASSERT_TRUE(server->Handle("GET", "/api/", tag("api:")).ok());
  ASSERT_TRUE(server->Handle("GET", "/api/special", tag("special:")).ok());
  ASSERT_TRUE(server->Start().ok());
  // Routes can be added while running.
  ASSERT_TRUE(server->Handle("GET", "/api/late/", tag("late:")).ok());
  EXPECT_EQ(Get(*server, "/api/x/y").body, "api:/api/x/y");
  EXPECT_EQ(Get(*server, "/api/").body, "api:/api/");
  EXPECT_EQ(Get(*server, "/api/special").body, "special:/api/special");
  EXPECT_EQ(Get(*server, "/api/specialx").body, "api:/api/specialx");
  EXPECT_EQ(Get(*server, "/api/late/1").body, "late:/api/late/1");
  EXPECT_EQ(Get(*server, "/api").body, "root:/api");
  EXPECT_EQ(Get(*server, "/anything").body, "root:/anything");
  EXPECT_EQ(Get(*server, "/echo").status, 200);
}

TEST(HttpServer, RouteValidation) {
  auto server = MakeServer();
  ASSERT_NE(server, nullptr);
  auto h = [](const Request&) { return Response::Text(200, ""); };
  EXPECT_EQ(server->Handle("GE T", "/x", h).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(server->Handle("", "/x", h).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(server->Handle("GET", "x", h).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(server->Handle("GET", "", h).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(server->Handle("GET", "/echo", h).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(server->Handle("GET", "/y", nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(server->HandleStream("/echo", [](const Request&, StreamWriter&) {})
                .code(),
            absl::StatusCode::kAlreadyExists);
}

TEST(HttpServer, MalformedRequestsAre400AndTheServerSurvives) {
  auto server = MakeServer();
  ASSERT_NE(server, nullptr);
  ASSERT_TRUE(server->Start().ok());
  const std::string bad[] = {
      "BLAH\r\n\r\n",
      "GET /echo HTTP/1.1\r\n\r\n",  // no Host
      "GET /../x HTTP/1.0\r\n\r\n",
      std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11),  // TLS
  };
  for (const std::string& req : bad) {
    Clock::time_point start = Clock::now();
    ClientResponse r = Exchange(server->address(), req);
    EXPECT_EQ(r.status, 400) << r.raw;
    EXPECT_LT(SecondsSince(start), 2.0) << "answered without waiting";
  }
  ClientResponse r =
      Exchange(server->address(), "GET /echo HTTP/2.0\r\nHost: h\r\n\r\n");
  EXPECT_EQ(r.status, 505) << r.raw;
  r = Exchange(server->address(),
               "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: "
               "chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
  EXPECT_EQ(r.status, 501) << r.raw;
  // Junk pipelined after a complete request is ignored.
  r = Exchange(server->address(),
               "GET /echo HTTP/1.1\r\nHost: h\r\n\r\n\xff\xfe garbage");
  EXPECT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(Get(*server, "/echo").status, 200);
  EXPECT_EQ(server->stats().client_errors, 6u);
}

TEST(HttpServer, OversizedRequestsAre413) {
  HttpServer::Options o;
  o.max_request_bytes = 4096;
  auto server = MakeServer(o);
  ASSERT_NE(server, nullptr);
  ASSERT_TRUE(server->Start().ok());
  // Declared too large: answered from the header, the body never read.
  int fd = Connect(server->address());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendBytes(fd,
                        "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: "
                        "10000000\r\n\r\n" +
                            std::string(2000, 'x')));
  ClientResponse r = testing::ParseClientResponse(ReadUntilClose(fd));
  close(fd);
  EXPECT_EQ(r.status, 413) << r.raw;
  // A body that fits, sent in full, is fine; one byte over is not.
  r = testing::Request(server->address(), "POST", "/echo",
                       std::string(3000, 'y'));
  EXPECT_EQ(r.status, 201);
  r = testing::Request(server->address(), "POST", "/echo",
                       std::string(4096, 'y'));
  EXPECT_EQ(r.status, 413) << r.raw;
  // A header section without end.
  r = Exchange(server->address(), "GET /echo HTTP/1.1\r\nHost: h\r\nX: " +
                                      std::string(20000, 'h'));
  EXPECT_EQ(r.status, 413) << r.raw;
}

TEST(HttpServer, SlowClientGets408) {
  HttpServer::Options o;
  o.read_timeout = absl::Milliseconds(300);
  auto server = MakeServer(o);
  ASSERT_NE(server, nullptr);
  ASSERT_TRUE(server->Start().ok());
  Clock::time_point start = Clock::now();
  ClientResponse r = Exchange(server->address(), "GET /echo HTTP/1.1\r\n");
  EXPECT_EQ(r.status, 408) << r.raw;
  EXPECT_GE(SecondsSince(start), 0.25);
  EXPECT_LT(SecondsSince(start), 5.0);
  // A silent connection is closed without an answer.
  int fd = Connect(server->address());
  ASSERT_GE(fd, 0);
  EXPECT_EQ(ReadUntilClose(fd), "");
  close(fd);
}

TEST(HttpServer, HandlerFailuresAre500) {
  auto server = MakeServer();
  ASSERT_NE(server, nullptr);
  ASSERT_TRUE(server
                  ->Handle("GET", "/throw",
                           [](const Request&) -> Response {
                             throw std::runtime_error("boom");
                           })
                  .ok());
  ASSERT_TRUE(
      server
          ->Handle("GET", "/badstatus",
                   [](const Request&) { return Response::Text(42, ""); })
          .ok());
  ASSERT_TRUE(server
                  ->Handle("GET", "/inject",
                           [](const Request&) {
                             Response r = Response::Text(200, "x");
                             r.headers.emplace_back("X-A",
                                                    "1\r\nSet-Cookie: a");
                             return r;
                           })
                  .ok());
  ASSERT_TRUE(server->Start().ok());
  ClientResponse r = Get(*server, "/throw");
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(r.body.find("boom"), std::string::npos);
  EXPECT_EQ(Get(*server, "/badstatus").status, 500);
  r = Get(*server, "/inject");
  EXPECT_EQ(r.status, 500);
  EXPECT_FALSE(r.Header("set-cookie").has_value());
}

TEST(HttpServer, OverMaxConnectionsIs503) {
  HttpServer::Options o;
  o.max_connections = 2;
  auto server = MakeServer(o);
  ASSERT_NE(server, nullptr);
  ASSERT_TRUE(server->Start().ok());
  // Two clients hold their connections with unfinished requests.
  int a = Connect(server->address());
  int b = Connect(server->address());
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  ASSERT_TRUE(SendBytes(a, "GET /echo HTTP/1.1\r\n"));
  ASSERT_TRUE(SendBytes(b, "GET /echo HTTP/1.1\r\n"));
  ASSERT_TRUE(
      Eventually([&] { return server->stats().active_connections == 2; }));
  ClientResponse r = Get(*server, "/echo");
  EXPECT_EQ(r.status, 503) << r.raw;
  EXPECT_EQ(r.Header("retry-after"), "1");
  EXPECT_EQ(r.body, "too many connections\n");
  EXPECT_EQ(server->stats().connections_rejected, 1u);
  // Finishing one request frees its slot.
  ASSERT_TRUE(SendBytes(a, "Host: h\r\n\r\n"));
  r = testing::ParseClientResponse(ReadUntilClose(a));
  close(a);
  EXPECT_EQ(r.status, 200);
  ASSERT_TRUE(
      Eventually([&] { return server->stats().active_connections == 1; }));
  EXPECT_EQ(Get(*server, "/echo").status, 200);
  close(b);
}

TEST(HttpServer, ManyConcurrentClients) {
  auto server = MakeServer();
  ASSERT_NE(server, nullptr);
  ASSERT_TRUE(server->Start().ok());
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 8; ++t) {
    clients.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        std::string q = std::to_string(t) + "-" + std::to_string(i);
        ClientResponse r = Get(*server, "/echo?k=" + q);
        if (r.status == 200 &&
            r.body.find("q:k=" + q + "\n") != std::string::npos) {
          ok.fetch_add(1);
        }
      }
    });
  }
  for (auto& c : clients) c.join();
  EXPECT_EQ(ok.load(), 200);
  EXPECT_EQ(server->stats().requests, 200u);
}

// Splits a text/event-stream body into (event, data) pairs.
std::vector<std::pair<std::string, std::string>> ParseSse(
    const std::string& body) {
  std::vector<std::pair<std::string, std::string>> events;
  std::string event, data;
  bool has_data = false;
  size_t pos = 0;
  while (true) {
    size_t nl = body.find('\n', pos);
    if (nl == std::string::npos) break;
    std::string line = body.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty()) {
      if (has_data) events.emplace_back(event, data);
      event.clear();
      data.clear();
      has_data = false;
    } else if (line.rfind("event: ", 0) == 0) {
      event = line.substr(7);
    } else if (line.rfind("data: ", 0) == 0) {
      if (has_data) data += "\n";
      data += line.substr(6);
      has_data = true;
    }
  }
  return events;
}

TEST(HttpServer, EventStreamDeliversEventsAndNoticesDisconnect) {
  auto server = MakeServer();
  ASSERT_NE(server, nullptr);
  std::atomic<int> sent{0};
  std::promise<void> handler_done;
  ASSERT_TRUE(server
                  ->HandleStream("/events",
                                 [&](const Request& r, StreamWriter& w) {
                                   EXPECT_EQ(r.Query("from"), "7");
                                   w.Send("multi", "a\nb\r\nc\rd");
                                   w.SendComment("keepalive");
                                   for (int i = 0;; ++i) {
                                     if (!w.Send("tick", std::to_string(i))) {
                                       break;
                                     }
                                     sent.fetch_add(1);
                                     std::this_thread::sleep_for(
                                         std::chrono::milliseconds(2));
                                   }
                                   EXPECT_FALSE(w.open());
                                   handler_done.set_value();
                                 })
                  .ok());
  ASSERT_TRUE(server->Start().ok());
  int fd = Connect(server->address());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendBytes(fd, "GET /events?from=7 HTTP/1.1\r\nHost: h\r\n\r\n"));
  std::string buf;
  ASSERT_TRUE(ReadUntil(fd, "data: 4\n\n", &buf)) << buf;
  ClientResponse head = testing::ParseClientResponse(buf);
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.Header("content-type"), "text/event-stream; charset=utf-8");
  EXPECT_EQ(head.Header("cache-control"), "no-cache");
  EXPECT_FALSE(head.Header("content-length").has_value());
  EXPECT_NE(head.body.find(": keepalive\n\n"), std::string::npos);
  auto events = ParseSse(head.body);
  ASSERT_GE(events.size(), 6u);
  EXPECT_EQ(events[0].first, "multi");
  EXPECT_EQ(events[0].second, "a\nb\nc\nd");
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(events[1 + i],
              std::make_pair(std::string("tick"), std::to_string(i)));
  }
  EXPECT_EQ(server->stats().active_streams, 1u);
  close(fd);
  ASSERT_EQ(handler_done.get_future().wait_for(std::chrono::seconds(5)),
            std::future_status::ready)
      << "the writer did not notice the disconnect";
  EXPECT_TRUE(Eventually([&] {
    return server->stats().active_streams == 0 &&
           server->stats().active_connections == 0;
  }));
}

TEST(HttpServer, EventStreamWaitClosedWakesOnDisconnect) {
  auto server = MakeServer();
  ASSERT_NE(server, nullptr);
  std::atomic<bool> closed{false};
  std::promise<void> done;
  ASSERT_TRUE(server
                  ->HandleStream("/idle",
                                 [&](const Request&, StreamWriter& w) {
                                   w.Send("hello", "1");
                                   closed = w.WaitClosed(absl::Seconds(30));
                                   done.set_value();
                                 })
                  .ok());
  ASSERT_TRUE(server->Start().ok());
  int fd = Connect(server->address());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendBytes(fd, "GET /idle HTTP/1.1\r\nHost: h\r\n\r\n"));
  std::string buf;
  ASSERT_TRUE(ReadUntil(fd, "data: 1\n\n", &buf));
  Clock::time_point start = Clock::now();
  close(fd);
  ASSERT_EQ(done.get_future().wait_for(std::chrono::seconds(5)),
            std::future_status::ready);
  EXPECT_TRUE(closed.load());
  EXPECT_LT(SecondsSince(start), 5.0);
}

// A stream's precheck answers bad requests with an ordinary response, before
// any byte of the stream; requests it lets through become streams.
TEST(HttpServer, EventStreamPrecheckCanRejectBeforeTheStream) {
  auto server = MakeServer();
  ASSERT_NE(server, nullptr);
  std::atomic<int> streams{0};
  ASSERT_TRUE(server
                  ->HandleStream(
                      "/checked",
                      [&](const Request&, StreamWriter& w) {
                        streams.fetch_add(1);
                        w.Send("ok", "1");
                      },
                      [](const Request& r) -> std::optional<Response> {
                        if (r.Query("bad").has_value()) {
                          return Response::Text(400, "bad parameter\n");
                        }
                        return std::nullopt;
                      })
                  .ok());
  ASSERT_TRUE(server->Start().ok());
  ClientResponse bad = Get(*server, "/checked?bad=1");
  EXPECT_EQ(bad.status, 400) << bad.raw;
  EXPECT_EQ(bad.body, "bad parameter\n");
  EXPECT_EQ(streams.load(), 0);
  ClientResponse good = Get(*server, "/checked");
  EXPECT_EQ(good.status, 200) << good.raw;
  EXPECT_EQ(good.Header("content-type"), "text/event-stream; charset=utf-8");
  EXPECT_NE(good.body.find("event: ok\ndata: 1\n\n"), std::string::npos);
  EXPECT_EQ(streams.load(), 1);
}

TEST(HttpServer, StreamWriterWaitClosedTimesOutWhileConnected) {
  auto server = MakeServer();
  ASSERT_NE(server, nullptr);
  std::atomic<int> result{-1};
  ASSERT_TRUE(server
                  ->HandleStream(
                      "/s",
                      [&](const Request&, StreamWriter& w) {
                        result = w.WaitClosed(absl::Milliseconds(100)) ? 1 : 0;
                        w.Send("end", "x");
                      })
                  .ok());
  ASSERT_TRUE(server->Start().ok());
  ClientResponse r = Get(*server, "/s");
  EXPECT_EQ(result.load(), 0);
  EXPECT_EQ(ParseSse(r.body).size(), 1u);
}

TEST(HttpServer, StopWhileClientsAreConnected) {
  auto server = MakeServer();
  ASSERT_NE(server, nullptr);
  std::atomic<int> streams_ended{0};
  ASSERT_TRUE(server
                  ->HandleStream("/forever",
                                 [&](const Request&, StreamWriter& w) {
                                   while (!w.WaitClosed(absl::Seconds(60))) {
                                   }
                                   EXPECT_FALSE(w.Send("late", "x"));
                                   streams_ended.fetch_add(1);
                                 })
                  .ok());
  ASSERT_TRUE(server->Start().ok());
  std::vector<int> fds;
  for (int i = 0; i < 3; ++i) {
    int fd = Connect(server->address());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(SendBytes(fd, "GET /forever HTTP/1.1\r\nHost: h\r\n\r\n"));
    std::string buf;
    ASSERT_TRUE(ReadUntil(fd, "\r\n\r\n", &buf));
    fds.push_back(fd);
  }
  int idle = Connect(server->address());  // mid-request
  ASSERT_GE(idle, 0);
  ASSERT_TRUE(SendBytes(idle, "GET /echo HTTP/1.1\r\n"));
  fds.push_back(idle);
  ASSERT_TRUE(
      Eventually([&] { return server->stats().active_connections == 4; }));

  Clock::time_point start = Clock::now();
  server->Stop();
  EXPECT_LT(SecondsSince(start), 2.0);
  EXPECT_EQ(streams_ended.load(), 3);
  EXPECT_EQ(server->stats().active_connections, 0u);
  for (int fd : fds) {
    ReadUntilClose(fd);  // returns: the server closed every connection
    close(fd);
  }
  EXPECT_LT(Connect(server->address()), 0) << "still listening";
  server->Stop();  // idempotent
  EXPECT_EQ(server->Start().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(HttpServer, DestructorStopsARunningServer) {
  std::string address;
  {
    auto server = MakeServer();
    ASSERT_NE(server, nullptr);
    ASSERT_TRUE(server->Start().ok());
    address = server->address();
    EXPECT_EQ(Get(*server, "/echo").status, 200);
  }
  EXPECT_LT(Connect(address), 0);
}

class UnixSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Short: a Unix socket path has at most 107 bytes; TEST_TMPDIR is long.
    char tmpl[] = "/tmp/resdb_http_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(UnixSocketTest, ServesAndCleansUp) {
  const std::string path = dir_ + "/sub/http.sock";  // sub/ does not exist
  HttpServer::Options o;
  o.address = "unix://" + path;
  auto server = MakeServer(o);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->port(), 0);
  EXPECT_EQ(server->address(), "unix://" + path);
  struct stat st;
  ASSERT_EQ(lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  ASSERT_TRUE(server->Start().ok());
  ClientResponse r = Get(*server, "/echo?via=unix");
  EXPECT_EQ(r.status, 200) << r.raw;
  EXPECT_NE(r.body.find("q:via=unix"), std::string::npos);
  EXPECT_EQ(Get(*server, "/missing").status, 404);
  server->Stop();
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST_F(UnixSocketTest, ReplacesAStaleSocketButNotAFile) {
  const std::string path = dir_ + "/http.sock";
  {
    HttpServer::Options o;
    o.address = "unix://" + path;
    auto first = HttpServer::Create(o);
    ASSERT_TRUE(first.ok());
    // Simulate a crash: the socket file stays behind.
    std::filesystem::rename(path, path + ".keep");
  }
  std::filesystem::rename(path + ".keep", path);
  HttpServer::Options o;
  o.address = "unix://" + path;
  auto second = MakeServer(o);
  ASSERT_NE(second, nullptr);
  ASSERT_TRUE(second->Start().ok());
  EXPECT_EQ(Get(*second, "/echo").status, 200);
  second->Stop();

  const std::string file = dir_ + "/plain";
  std::ofstream(file) << "data";
  o.address = "unix://" + file;
  EXPECT_FALSE(HttpServer::Create(o).ok());
  EXPECT_TRUE(std::filesystem::exists(file));
}

TEST(HttpServerCreate, AddressesAndOptions) {
  HttpServer::Options o;
  o.address = "0.0.0.0:0";
  EXPECT_EQ(HttpServer::Create(o).status().code(),
            absl::StatusCode::kPermissionDenied);
  o.allow_non_loopback = true;
  auto any = HttpServer::Create(o);
  ASSERT_TRUE(any.ok()) << any.status();
  EXPECT_GT((*any)->port(), 0);

  o = {};
  o.address = "localhost:0";
  auto local = HttpServer::Create(o);
  ASSERT_TRUE(local.ok()) << local.status();
  EXPECT_EQ((*local)->address().rfind("127.0.0.1:", 0), 0u);

  // Looks loopback, is a name: not loopback, so it needs allow_non_loopback
  // (ParseListenAddress, hardened by tests/fuzz/listen_address_fuzz).
  o.address = "127.foo.example:80";
  EXPECT_EQ(HttpServer::Create(o).status().code(),
            absl::StatusCode::kPermissionDenied);
  o.address = "nonsense";
  EXPECT_EQ(HttpServer::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o.address = "unix:relative.sock";
  EXPECT_EQ(HttpServer::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);

  // A port in use.
  o.address = (*local)->address();
  EXPECT_EQ(HttpServer::Create(o).status().code(),
            absl::StatusCode::kUnavailable);

  o = {};
  o.max_connections = 0;
  EXPECT_FALSE(HttpServer::Create(o).ok());
  o = {};
  o.max_request_bytes = 10;
  EXPECT_FALSE(HttpServer::Create(o).ok());
  o = {};
  o.read_timeout = absl::ZeroDuration();
  EXPECT_FALSE(HttpServer::Create(o).ok());
}

// Issue 16: one peer holding idle sockets must not take every slot.
TEST(HttpServerLimits, OnePeerCannotHoldMoreThanItsShare) {
  HttpServer::Options o;
  o.max_connections = 8;
  o.max_connections_per_peer = 3;
  auto server = MakeServer(o);
  ASSERT_NE(server, nullptr);
  ASSERT_TRUE(server->Start().ok());
  std::vector<int> held;
  for (int i = 0; i < 3; ++i) {
    int fd = Connect(server->address());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(SendBytes(fd, "GET /echo HTTP/1.1\r\n"));
    held.push_back(fd);
  }
  ASSERT_TRUE(
      Eventually([&] { return server->stats().active_connections == 3; }));
  ClientResponse r = Get(*server, "/echo");
  EXPECT_EQ(r.status, 503) << r.raw;
  EXPECT_EQ(server->stats().connections_rejected, 1u);
  for (int fd : held) close(fd);
  ASSERT_TRUE(
      Eventually([&] { return server->stats().active_connections == 0; }));
  EXPECT_EQ(Get(*server, "/echo").status, 200);
}

TEST(HttpServerLimits, SilentConnectionsAreClosedAfterTheIdleTimeout) {
  HttpServer::Options o;
  o.idle_timeout = absl::Milliseconds(200);
  auto server = MakeServer(o);
  ASSERT_NE(server, nullptr);
  ASSERT_TRUE(server->Start().ok());
  Clock::time_point start = Clock::now();
  int fd = Connect(server->address());
  ASSERT_GE(fd, 0);
  EXPECT_EQ(ReadUntilClose(fd), "");
  close(fd);
  EXPECT_GE(SecondsSince(start), 0.15);
  EXPECT_LT(SecondsSince(start), 5.0);  // read_timeout is 10 s
}

TEST(HttpServerLimits, StreamsCannotTakeEverySlot) {
  HttpServer::Options o;
  o.max_connections = 8;
  o.max_streams = 2;
  auto server = MakeServer(o);
  ASSERT_NE(server, nullptr);
  ASSERT_TRUE(server
                  ->HandleStream("/forever",
                                 [](const Request&, StreamWriter& w) {
                                   while (!w.WaitClosed(absl::Seconds(60))) {
                                   }
                                 })
                  .ok());
  ASSERT_TRUE(server->Start().ok());
  std::vector<int> fds;
  for (int i = 0; i < 2; ++i) {
    int fd = Connect(server->address());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(SendBytes(fd, "GET /forever HTTP/1.1\r\nHost: h\r\n\r\n"));
    std::string buf;
    ASSERT_TRUE(testing::ReadUntil(fd, "\r\n\r\n", &buf));
    EXPECT_NE(buf.find(" 200 "), std::string::npos) << buf;
    fds.push_back(fd);
  }
  ClientResponse r = Get(*server, "/forever");
  EXPECT_EQ(r.status, 503) << r.raw;
  EXPECT_EQ(server->stats().streams_rejected, 1u);
  EXPECT_EQ(Get(*server, "/echo").status, 200);
  for (int fd : fds) close(fd);
}

TEST(HttpServerBrowser, ForeignHostAndCrossOriginAre403) {
  HttpServer::Options o;
  o.browser = BrowserPolicy{};
  auto server = MakeServer(o);
  ASSERT_NE(server, nullptr);
  ASSERT_TRUE(server->Start().ok());
  const std::string port = std::to_string(server->port());
  auto get = [&](const std::string& headers) {
    return Exchange(server->address(),
                    "GET /echo HTTP/1.1\r\n" + headers + "\r\n");
  };
  EXPECT_EQ(get("Host: 127.0.0.1:" + port + "\r\n").status, 200);
  EXPECT_EQ(get("Host: localhost:" + port + "\r\n").status, 200);
  EXPECT_EQ(get("Host: evil.example:" + port + "\r\n").status, 403);
  EXPECT_EQ(get("Host: 127.0.0.1:" + port +
                "\r\nOrigin: http://127.0.0.1:" + port + "\r\n")
                .status,
            200);
  ClientResponse r =
      get("Host: 127.0.0.1:" + port + "\r\nOrigin: http://evil.example\r\n");
  EXPECT_EQ(r.status, 403) << r.raw;
  EXPECT_NE(r.body.find("cross-origin"), std::string::npos) << r.body;
  EXPECT_EQ(get("Host: 127.0.0.1:" + port + "\r\nOrigin: null\r\n").status,
            403);
  EXPECT_EQ(server->stats().forbidden, 3u);
}

}  // namespace
}  // namespace resdb_trace::collector::http
