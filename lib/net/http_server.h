// A small HTTP/1.1 server for the collector's local endpoints (/metrics,
// live timeline streams, the web UI): one request per connection
// (`Connection: close`), a thread per connection up to a fixed limit, and
// Server-Sent Events for streams.
//
// Listens on loopback TCP or a Unix socket (the forms of --listen, see
// lib/net/listen_address.h); a non-loopback TCP address needs
// Options::allow_non_loopback, because nothing here authenticates.
//
// Every way a client can misbehave ends in an answer and a closed connection,
// never in a crash or an unbounded allocation: 400 malformed, 404 no route,
// 405 wrong method, 408 too slow, 413 larger than max_request_bytes, 417
// unsupported Expect, 431 too many header fields, 501 Transfer-Encoding, 505
// not HTTP/1.x, 503 over max_connections, max_connections_per_peer or
// max_streams, 403 for a Host or Origin that Options::browser refuses.
#ifndef RESDB_TRACE_LIB_NET_HTTP_SERVER_H_
#define RESDB_TRACE_LIB_NET_HTTP_SERVER_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "lib/net/host_origin.h"
#include "lib/net/http_message.h"

namespace resdb_trace::collector::http {

// The response side of a Server-Sent Events stream (text/event-stream),
// handed to a HandleStream handler on its connection's thread. Not
// thread-safe: use it from the handler's thread only.
class StreamWriter {
 public:
  StreamWriter(const StreamWriter&) = delete;
  StreamWriter& operator=(const StreamWriter&) = delete;

  // Sends one event: an `event:` line unless `event` is empty (CR and LF in
  // it are dropped), one `data:` line per line of `data`, then a blank line.
  // Returns false, now and from then on, once the client has disconnected,
  // has not read for write_timeout, or the server is stopping.
  bool Send(std::string_view event, std::string_view data);
  // Sends a comment line (": text"), which clients ignore; a heartbeat that
  // keeps proxies from timing out and detects a dead peer. Same result.
  bool SendComment(std::string_view text);
  // Waits up to `timeout` for the client to disconnect or the server to stop;
  // true if either happened (then Send returns false).
  bool WaitClosed(absl::Duration timeout);
  // False once a disconnect or stop has been noticed.
  bool open() const { return open_; }

 private:
  friend class HttpServer;
  StreamWriter(int fd, int stop_fd, absl::Duration write_timeout)
      : fd_(fd), stop_fd_(stop_fd), write_timeout_(write_timeout) {}
  bool CheckPeer();
  bool Write(std::string_view bytes);

  int fd_;
  int stop_fd_;
  absl::Duration write_timeout_;
  bool open_ = true;
};

class HttpServer {
 public:
  struct Options {
    // unix:///ABSOLUTE/PATH, 127.0.0.1:PORT, [::1]:PORT or localhost:PORT;
    // port 0 picks a free one (see port()).
    std::string address = "127.0.0.1:0";
    // Concurrent connections (streams included); more are answered 503.
    size_t max_connections = 64;
    // Concurrent connections from one peer (one IP address; one uid on a
    // Unix socket); more are answered 503. On loopback TCP every local user
    // is the same peer (127.0.0.1 or ::1).
    size_t max_connections_per_peer = 32;
    // Concurrent Server-Sent Events streams; more are answered 503, so
    // streams cannot take the slots ordinary requests need.
    size_t max_streams = 16;
    // Largest request, header section plus body; larger ones are 413.
    size_t max_request_bytes = 64 * 1024;
    // Time a client has to send its whole request (408 after it).
    absl::Duration read_timeout = absl::Seconds(10);
    // Time a new connection may stay silent before its first byte; an idle
    // connection (a browser's preconnect, or a client holding a slot) is
    // then closed without an answer.
    absl::Duration idle_timeout = absl::Seconds(3);
    // Longest a response or stream write may wait for the client to read.
    absl::Duration write_timeout = absl::Seconds(10);
    // Permit a non-loopback TCP address (e.g. 0.0.0.0:9464). Nothing here
    // authenticates or encrypts.
    bool allow_non_loopback = false;
    // Host and Origin checks (lib/net/host_origin.h) before any route; a
    // refused request is 403. Unset: no check (for non-browser uses).
    std::optional<BrowserPolicy> browser;
  };

  // Counters since Create; a consistent-enough snapshot for metrics.
  struct Stats {
    uint64_t connections_accepted = 0;  // handed to a connection thread
    uint64_t connections_rejected = 0;  // answered 503 (a connection cap)
    uint64_t requests = 0;              // parsed and routed (any status)
    uint64_t client_errors = 0;         // answered 400/408/413/417/431/501/505
    uint64_t active_connections = 0;    // now, streams included
    uint64_t active_streams = 0;        // now
    uint64_t streams_rejected = 0;      // answered 503 (max_streams)
    uint64_t forbidden = 0;             // answered 403 (Host or Origin)
  };

  using Handler = std::function<Response(const Request&)>;
  using StreamHandler = std::function<void(const Request&, StreamWriter&)>;
  // Runs before a stream starts: a Response (e.g. 400 for a bad query
  // parameter) is sent instead of the stream; nullopt starts the stream.
  using StreamPrecheck = std::function<std::optional<Response>(const Request&)>;

  // Binds and listens (connections queue until Start). INVALID_ARGUMENT for a
  // malformed address or option, PERMISSION_DENIED for a non-loopback address
  // without allow_non_loopback, UNAVAILABLE when the address cannot be bound.
  // A Unix socket's directory is created (0750), a stale socket replaced, and
  // the socket made 0660; it is removed again by Stop.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Create(Options options);
  ~HttpServer();  // Stop()

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Routes `method` requests for `pattern` to `handler`. A pattern ending in
  // '/' matches every path under it ("/api/" matches "/api/x/y"), any other
  // only itself; the longest matching pattern wins. A GET route also answers
  // HEAD. Another method on a matching pattern is 405 with `Allow`. Handlers
  // run on connection threads, concurrently, and should return promptly
  // (Stop waits for them). An exception from a handler is a 500.
  // INVALID_ARGUMENT for a bad method or pattern, ALREADY_EXISTS for a
  // duplicate. May be called before or after Start.
  absl::Status Handle(std::string method, std::string pattern, Handler handler);
  // Routes GET `pattern` to a Server-Sent Events stream: the server sends the
  // 200 text/event-stream head, then calls `handler`, which sends events
  // until it returns or StreamWriter::Send returns false. The stream holds
  // its connection (and counts against max_connections) until then. An
  // optional `precheck` may answer the request with an ordinary response
  // instead (before any byte of the stream is sent).
  absl::Status HandleStream(std::string pattern, StreamHandler handler,
                            StreamPrecheck precheck = nullptr);

  // Starts accepting. FAILED_PRECONDITION if already started or stopped.
  absl::Status Start();
  // Stops accepting, wakes every waiting read, write and StreamWriter, waits
  // for running handlers to return, joins every thread, closes the sockets.
  // Idempotent; must not be called from a handler.
  void Stop();

  // The bound TCP port (useful with port 0); 0 for a Unix socket.
  int port() const { return port_; }
  // Where to connect: "127.0.0.1:PORT", "[::1]:PORT" or "unix:///PATH".
  const std::string& address() const { return bound_address_; }
  Stats stats() const;

 private:
  struct Route {
    std::string method;  // "GET" for streams
    std::string pattern;
    Handler handler;  // exactly one of these is set
    StreamHandler stream_handler;
    StreamPrecheck stream_precheck;  // optional, streams only
  };
  struct Lingering {
    int fd;
    std::chrono::steady_clock::time_point deadline;
  };

  explicit HttpServer(Options options) : options_(std::move(options)) {}
  absl::Status AddRoute(Route route);
  void AcceptLoop();
  void AcceptReady(std::vector<Lingering>* lingering);
  void Reject(int fd, std::vector<Lingering>* lingering);
  void ReapFinished();
  void ServeConnection(uint64_t id, int fd, std::string peer);
  void ReleasePeer(const std::string& peer);
  void Dispatch(int fd, const Request& request);
  bool WriteAll(int fd, std::string_view bytes);
  void SendResponse(int fd, const Response& response, bool head_only);
  void SendError(int fd, int status, std::string_view message,
                 bool head_only = false);
  void CloseGracefully(int fd);

  const Options options_;
  std::string unix_path_;  // non-empty for a Unix socket, removed by Stop
  std::string bound_address_;
  int port_ = 0;
  int listen_fd_ = -1;
  // An eventfd written once by Stop and never read: readable from then on,
  // so every poll() that includes it wakes up.
  int stop_fd_ = -1;

  // Reader-locked by every request's dispatch, writer-locked by Handle.
  absl::Mutex routes_mu_;
  std::vector<std::shared_ptr<const Route>> routes_ ABSL_GUARDED_BY(routes_mu_);

  absl::Mutex lifecycle_mu_;  // serialises Start and Stop
  bool started_ ABSL_GUARDED_BY(lifecycle_mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(lifecycle_mu_) = false;
  std::thread accept_thread_;

  absl::Mutex threads_mu_;
  std::map<uint64_t, std::thread> threads_ ABSL_GUARDED_BY(threads_mu_);
  std::vector<uint64_t> finished_ ABSL_GUARDED_BY(threads_mu_);
  uint64_t next_thread_id_ = 0;  // accept thread only

  absl::Mutex peers_mu_;
  std::map<std::string, size_t> peer_connections_ ABSL_GUARDED_BY(peers_mu_);

  std::atomic<uint64_t> connections_accepted_{0};
  std::atomic<uint64_t> connections_rejected_{0};
  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> client_errors_{0};
  std::atomic<uint64_t> active_connections_{0};
  std::atomic<uint64_t> active_streams_{0};
  std::atomic<uint64_t> streams_rejected_{0};
  std::atomic<uint64_t> forbidden_{0};
};

}  // namespace resdb_trace::collector::http

#endif  // RESDB_TRACE_LIB_NET_HTTP_SERVER_H_
