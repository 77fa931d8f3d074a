#include "lib/net/http_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <system_error>

#include "absl/memory/memory.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "lib/net/listen_address.h"

namespace resdb_trace::collector::http {
namespace {

using Clock = std::chrono::steady_clock;

// Connections answered 503 are drained for a moment before closing, so the
// client reads the answer instead of a reset; at most this many at once.
constexpr size_t kMaxLingering = 64;
constexpr absl::Duration kLingerTime = absl::Seconds(1);
constexpr size_t kMaxDrainBytes = 1 << 20;
constexpr int kAcceptBurst = 32;
constexpr auto kAcceptBackoff = std::chrono::milliseconds(100);

constexpr char kRejectResponse[] =
    "HTTP/1.1 503 Service Unavailable\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Length: 21\r\n"
    "Retry-After: 1\r\n"
    "Connection: close\r\n"
    "\r\n"
    "too many connections\n";

Clock::time_point After(absl::Duration d) {
  d = std::clamp(d, absl::ZeroDuration(), absl::Hours(24));
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(
                            absl::ToChronoNanoseconds(d));
}

int MillisUntil(Clock::time_point deadline) {
  auto left = deadline - Clock::now();
  if (left <= Clock::duration::zero()) return 0;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return static_cast<int>(std::min<int64_t>(ms, 60'000));
}

enum class Wait { kReady, kTimeout, kStopped };

// Waits for `events` on `fd` until `deadline`, or until the server stops.
Wait WaitFor(int fd, short events, Clock::time_point deadline, int stop_fd) {
  while (true) {
    pollfd p[2] = {{fd, events, 0}, {stop_fd, POLLIN, 0}};
    int n = poll(p, 2, MillisUntil(deadline));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Wait::kStopped;  // cannot wait: give the connection up
    }
    if (p[1].revents != 0) return Wait::kStopped;
    if (p[0].revents != 0) return Wait::kReady;
    if (Clock::now() >= deadline) return Wait::kTimeout;
  }
}

// Sends all of `bytes` on the non-blocking `fd`; false if the peer is gone,
// does not read before `deadline`, or the server stops.
bool SendAll(int fd, int stop_fd, std::string_view bytes,
             Clock::time_point deadline) {
  while (!bytes.empty()) {
    ssize_t n = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (WaitFor(fd, POLLOUT, deadline, stop_fd) != Wait::kReady) {
        return false;
      }
      continue;
    }
    return false;
  }
  return true;
}

std::string HttpDate() {
  return absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", absl::Now(),
                          absl::UTCTimeZone());
}

bool PatternMatches(const std::string& pattern, const std::string& path) {
  if (pattern.back() == '/') {
    return path.compare(0, pattern.size(), pattern) == 0;
  }
  return path == pattern;
}

bool SafeHeaderValue(std::string_view v) {
  for (char c : v) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
  }
  return true;
}

bool ServerManagedHeader(std::string_view name) {
  std::string n(name);
  for (char& c : n) c = absl::ascii_tolower(static_cast<unsigned char>(c));
  return n == "content-length" || n == "content-type" || n == "connection" ||
         n == "date" || n == "transfer-encoding";
}

bool IsLoopback(const sockaddr* sa) {
  if (sa->sa_family == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  if (sa->sa_family == AF_INET6) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
  }
  return false;
}

std::string Errno() { return std::strerror(errno); }

// Who is on the other end of an accepted connection, for per-peer limits.
std::string PeerOf(int fd, const sockaddr_storage& ss) {
  char ip[INET6_ADDRSTRLEN] = {0};
  if (ss.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr, ip,
              sizeof(ip));
    return ip;
  }
  if (ss.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr,
              ip, sizeof(ip));
    return ip;
  }
  ucred cred = {};
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
    return absl::StrCat("uid:", cred.uid);
  }
  return "unknown";
}

// Closes `fd` when it goes out of scope unless released.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ >= 0) close(fd_);
  }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

}  // namespace

// ---------------------------------------------------------------- StreamWriter

bool StreamWriter::CheckPeer() {
  while (open_) {
    pollfd p[2] = {{fd_, POLLIN | POLLRDHUP, 0}, {stop_fd_, POLLIN, 0}};
    int n = poll(p, 2, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || p[1].revents != 0 ||
        (p[0].revents & (POLLHUP | POLLERR | POLLRDHUP | POLLNVAL)) != 0) {
      open_ = false;
      break;
    }
    if ((p[0].revents & POLLIN) == 0) break;
    // The client has nothing to say on a stream; discard what it sends, but
    // an end of file is a disconnect.
    char buf[1024];
    ssize_t r = recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
    if (r == 0 ||
        (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      open_ = false;
    }
    break;
  }
  return open_;
}

bool StreamWriter::Write(std::string_view bytes) {
  if (!SendAll(fd_, stop_fd_, bytes, After(write_timeout_))) open_ = false;
  return open_;
}

bool StreamWriter::Send(std::string_view event, std::string_view data) {
  if (!CheckPeer()) return false;
  std::string out;
  out.reserve(event.size() + data.size() + 16);
  if (!event.empty()) {
    out += "event: ";
    for (char c : event) {
      if (c != '\r' && c != '\n') out += c;
    }
    out += '\n';
  }
  // One data: line per line of `data`; CRLF, CR and LF all end a line.
  std::string_view rest = data;
  while (true) {
    size_t end = rest.find_first_of("\r\n");
    out += "data: ";
    out.append(rest.substr(0, end));
    out += '\n';
    if (end == std::string_view::npos) break;
    bool crlf =
        rest[end] == '\r' && end + 1 < rest.size() && rest[end + 1] == '\n';
    rest.remove_prefix(end + (crlf ? 2 : 1));
  }
  out += '\n';
  return Write(out);
}

bool StreamWriter::SendComment(std::string_view text) {
  if (!CheckPeer()) return false;
  std::string out = ": ";
  for (char c : text) {
    if (c != '\r' && c != '\n') out += c;
  }
  out += "\n\n";
  return Write(out);
}

bool StreamWriter::WaitClosed(absl::Duration timeout) {
  Clock::time_point deadline = After(timeout);
  while (CheckPeer()) {
    int ms = MillisUntil(deadline);
    if (ms == 0) return false;
    pollfd p[2] = {{fd_, POLLIN | POLLRDHUP, 0}, {stop_fd_, POLLIN, 0}};
    if (poll(p, 2, ms) < 0 && errno != EINTR) open_ = false;
  }
  return true;
}

// ------------------------------------------------------------------ HttpServer

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Create(
    Options options) {
  if (options.max_connections == 0 || options.max_connections_per_peer == 0 ||
      options.max_streams == 0) {
    return absl::InvalidArgumentError(
        "http server: max_connections, max_connections_per_peer and "
        "max_streams must be positive");
  }
  if (options.max_request_bytes < 256) {
    return absl::InvalidArgumentError(
        "http server: max_request_bytes must be at least 256");
  }
  if (options.read_timeout <= absl::ZeroDuration() ||
      options.write_timeout <= absl::ZeroDuration() ||
      options.idle_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "http server: read_timeout, write_timeout and idle_timeout must be "
        "positive");
  }
  // Loopback-ness is decided here (with our own message), so parse as if
  // non-loopback were allowed.
  absl::StatusOr<ListenAddress> parsed =
      ParseListenAddress(options.address, /*insecure=*/true);
  if (!parsed.ok()) {
    return absl::Status(
        parsed.status().code(),
        absl::StrCat("http server: ", parsed.status().message()));
  }
  if (parsed->unix_path.empty() && !parsed->loopback &&
      !options.allow_non_loopback) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "http server: %s is not a loopback address; the HTTP endpoints are "
        "unauthenticated, so non-loopback listening must be allowed "
        "explicitly",
        options.address));
  }

  auto server = absl::WrapUnique(new HttpServer(std::move(options)));
  const Options& o = server->options_;
  server->stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (server->stop_fd_ < 0) {
    return absl::InternalError(absl::StrCat("http server: eventfd: ", Errno()));
  }

  if (!parsed->unix_path.empty()) {
    const std::string& path = parsed->unix_path;
    if (absl::Status s = PrepareListenAddress(*parsed); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("http server: ", s.message()));
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
      return absl::InternalError(
          absl::StrCat("http server: socket: ", Errno()));
    }
    FdCloser closer(fd);
    sockaddr_un sun = {};
    sun.sun_family = AF_UNIX;
    std::memcpy(sun.sun_path, path.c_str(), path.size() + 1);
    if (bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof(sun)) != 0) {
      return absl::UnavailableError(absl::StrFormat(
          "http server: cannot bind unix://%s: %s", path, Errno()));
    }
    server->unix_path_ = path;  // from here on, Stop removes it
    if (listen(fd, 128) != 0) {
      return absl::UnavailableError(absl::StrFormat(
          "http server: cannot listen on unix://%s: %s", path, Errno()));
    }
    if (absl::Status s = FinishListenAddress(*parsed); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("http server: ", s.message()));
    }
    server->listen_fd_ = closer.release();
    server->bound_address_ = "unix://" + path;
    return server;
  }

  const std::string& target = parsed->grpc_target;
  size_t colon = target.rfind(':');
  std::string host = target.substr(0, colon);
  std::string port = target.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host == "localhost") host = "127.0.0.1";
  addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  // "127.x" names are loopback by their spelling only if they are addresses.
  if (parsed->loopback) hints.ai_flags |= AI_NUMERICHOST;
  addrinfo* res = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "http server: cannot resolve %s: %s", o.address, gai_strerror(rc)));
  }
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> res_owner(res, freeaddrinfo);
  if (!o.allow_non_loopback && !IsLoopback(res->ai_addr)) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "http server: %s does not resolve to a loopback address", o.address));
  }
  int fd =
      socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("http server: socket: ", Errno()));
  }
  FdCloser closer(fd);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd, res->ai_addr, res->ai_addrlen) != 0) {
    return absl::UnavailableError(
        absl::StrFormat("http server: cannot bind %s: %s", o.address, Errno()));
  }
  if (listen(fd, 128) != 0) {
    return absl::UnavailableError(absl::StrFormat(
        "http server: cannot listen on %s: %s", o.address, Errno()));
  }
  sockaddr_storage ss = {};
  socklen_t len = sizeof(ss);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return absl::InternalError(
        absl::StrCat("http server: getsockname: ", Errno()));
  }
  char ip[INET6_ADDRSTRLEN] = {0};
  if (ss.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
    server->port_ = ntohs(in6->sin6_port);
    server->bound_address_ = absl::StrFormat("[%s]:%d", ip, server->port_);
  } else {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
    server->port_ = ntohs(in->sin_port);
    server->bound_address_ = absl::StrFormat("%s:%d", ip, server->port_);
  }
  server->listen_fd_ = closer.release();
  return server;
}

HttpServer::~HttpServer() {
  Stop();
  if (stop_fd_ >= 0) close(stop_fd_);
}

absl::Status HttpServer::Handle(std::string method, std::string pattern,
                                Handler handler) {
  if (!IsHttpToken(method)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("http route: '%s' is not a valid method", method));
  }
  if (handler == nullptr) {
    return absl::InvalidArgumentError("http route: null handler");
  }
  Route r;
  r.method = std::move(method);
  r.pattern = std::move(pattern);
  r.handler = std::move(handler);
  return AddRoute(std::move(r));
}

absl::Status HttpServer::HandleStream(std::string pattern,
                                      StreamHandler handler,
                                      StreamPrecheck precheck) {
  if (handler == nullptr) {
    return absl::InvalidArgumentError("http route: null stream handler");
  }
  Route r;
  r.method = "GET";
  r.pattern = std::move(pattern);
  r.stream_handler = std::move(handler);
  r.stream_precheck = std::move(precheck);
  return AddRoute(std::move(r));
}

absl::Status HttpServer::AddRoute(Route route) {
  if (route.pattern.empty() || route.pattern[0] != '/') {
    return absl::InvalidArgumentError(absl::StrFormat(
        "http route: pattern '%s' must start with '/'", route.pattern));
  }
  absl::WriterMutexLock lock(&routes_mu_);
  for (const auto& r : routes_) {
    if (r->method == route.method && r->pattern == route.pattern) {
      return absl::AlreadyExistsError(absl::StrFormat(
          "http route: %s %s is already handled", route.method, route.pattern));
    }
  }
  routes_.push_back(std::make_shared<const Route>(std::move(route)));
  return absl::OkStatus();
}

absl::Status HttpServer::Start() {
  absl::MutexLock lock(&lifecycle_mu_);
  if (started_ || stopped_) {
    return absl::FailedPreconditionError(
        "http server: Start after Start or Stop");
  }
  started_ = true;
  accept_thread_ = std::thread(&HttpServer::AcceptLoop, this);
  return absl::OkStatus();
}

void HttpServer::Stop() {
  {
    absl::MutexLock lock(&lifecycle_mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  if (stop_fd_ >= 0) {
    uint64_t one = 1;
    ssize_t ignored = write(stop_fd_, &one, sizeof(one));
    (void)ignored;
  }
  if (accept_thread_.joinable()) accept_thread_.join();
  std::map<uint64_t, std::thread> threads;
  {
    absl::MutexLock lock(&threads_mu_);
    threads.swap(threads_);
    finished_.clear();
  }
  for (auto& [id, t] : threads) t.join();
  if (listen_fd_ >= 0) {
    close(listen_fd_);
    listen_fd_ = -1;
  }
  if (!unix_path_.empty()) unlink(unix_path_.c_str());
}

HttpServer::Stats HttpServer::stats() const {
  Stats s;
  s.connections_accepted = connections_accepted_.load();
  s.connections_rejected = connections_rejected_.load();
  s.requests = requests_.load();
  s.client_errors = client_errors_.load();
  s.active_connections = active_connections_.load();
  s.active_streams = active_streams_.load();
  s.streams_rejected = streams_rejected_.load();
  s.forbidden = forbidden_.load();
  return s;
}

void HttpServer::AcceptLoop() {
  std::vector<Lingering> lingering;
  Clock::time_point accept_paused_until = Clock::now();
  std::vector<pollfd> fds;
  while (true) {
    Clock::time_point now = Clock::now();
    bool accepting = now >= accept_paused_until;
    // Wake at least once a second to join finished connection threads.
    Clock::time_point wake = now + std::chrono::seconds(1);
    if (!accepting) wake = std::min(wake, accept_paused_until);
    fds.clear();
    fds.push_back({stop_fd_, POLLIN, 0});
    fds.push_back({accepting ? listen_fd_ : -1, POLLIN, 0});
    for (const Lingering& l : lingering) {
      fds.push_back({l.fd, POLLIN, 0});
      wake = std::min(wake, l.deadline);
    }
    if (poll(fds.data(), fds.size(), MillisUntil(wake)) < 0 && errno != EINTR) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (fds[0].revents != 0) break;

    now = Clock::now();
    size_t kept = 0;
    for (size_t i = 0; i < lingering.size(); ++i) {
      bool done = now >= lingering[i].deadline;
      if (!done && fds[i + 2].revents != 0) {
        char buf[4096];
        ssize_t n = recv(lingering[i].fd, buf, sizeof(buf), MSG_DONTWAIT);
        done = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
                          errno != EINTR);
      }
      if (done) {
        close(lingering[i].fd);
      } else {
        lingering[kept++] = lingering[i];
      }
    }
    lingering.resize(kept);

    if (accepting && fds[1].revents != 0) {
      for (int i = 0; i < kAcceptBurst; ++i) {
        sockaddr_storage ss = {};
        socklen_t ss_len = sizeof(ss);
        int fd = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&ss), &ss_len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
          if (errno == EINTR || errno == ECONNABORTED) continue;
          if (errno != EAGAIN && errno != EWOULDBLOCK) {
            // Out of descriptors or memory: back off instead of spinning.
            accept_paused_until = Clock::now() + kAcceptBackoff;
          }
          break;
        }
        if (unix_path_.empty()) {
          int one = 1;
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        }
        if (active_connections_.load() >= options_.max_connections) {
          Reject(fd, &lingering);
          continue;
        }
        std::string peer = PeerOf(fd, ss);
        bool peer_full = false;
        {
          absl::MutexLock lock(&peers_mu_);
          size_t& n = peer_connections_[peer];
          peer_full = n >= options_.max_connections_per_peer;
          if (!peer_full) ++n;
        }
        if (peer_full) {
          Reject(fd, &lingering);
          continue;
        }
        // Counted before the thread exists, so stats() never lags a
        // response the client already has.
        active_connections_.fetch_add(1);
        connections_accepted_.fetch_add(1);
        uint64_t id = next_thread_id_++;
        try {
          absl::MutexLock lock(&threads_mu_);
          threads_.emplace(id, std::thread(&HttpServer::ServeConnection, this,
                                           id, fd, peer));
        } catch (const std::system_error&) {
          ReleasePeer(peer);
          active_connections_.fetch_sub(1);
          connections_accepted_.fetch_sub(1);
          Reject(fd, &lingering);
        }
      }
    }
    ReapFinished();
  }
  for (const Lingering& l : lingering) close(l.fd);
}

void HttpServer::Reject(int fd, std::vector<Lingering>* lingering) {
  connections_rejected_.fetch_add(1);
  // The answer fits any socket buffer; a connection that cannot take it
  // right away is not worth waiting for.
  ssize_t ignored = send(fd, kRejectResponse, sizeof(kRejectResponse) - 1,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
  (void)ignored;
  shutdown(fd, SHUT_WR);
  if (lingering->size() < kMaxLingering) {
    lingering->push_back({fd, After(kLingerTime)});
  } else {
    close(fd);
  }
}

void HttpServer::ReapFinished() {
  std::vector<std::thread> done;
  {
    absl::MutexLock lock(&threads_mu_);
    for (uint64_t id : finished_) {
      auto it = threads_.find(id);
      if (it == threads_.end()) continue;
      done.push_back(std::move(it->second));
      threads_.erase(it);
    }
    finished_.clear();
  }
  for (std::thread& t : done) t.join();
}

void HttpServer::ReleasePeer(const std::string& peer) {
  absl::MutexLock lock(&peers_mu_);
  auto it = peer_connections_.find(peer);
  if (it != peer_connections_.end() && --it->second == 0) {
    peer_connections_.erase(it);
  }
}

void HttpServer::ServeConnection(uint64_t id, int fd, std::string peer) {
  // One byte more than the limit, so the parser can tell "too large".
  const size_t cap = options_.max_request_bytes + 1;
  const Clock::time_point deadline = After(options_.read_timeout);
  const Clock::time_point idle_deadline =
      std::min(deadline, After(options_.idle_timeout));
  std::string buf;
  Request request;
  ParseResult result;
  bool parsed_once = false;
  bool saw_newline = false;
  size_t needed = 0;
  char chunk[16384];
  while (true) {
    Wait w =
        WaitFor(fd, POLLIN, buf.empty() ? idle_deadline : deadline, stop_fd_);
    if (w == Wait::kStopped) break;
    if (w == Wait::kTimeout) {
      // An idle connection (a browser's preconnect) just closes.
      if (!buf.empty()) {
        client_errors_.fetch_add(1);
        SendError(fd, 408, "request not received in time");
      }
      break;
    }
    ssize_t n = recv(fd, chunk, std::min(sizeof(chunk), cap - buf.size()), 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      continue;
    }
    if (n <= 0) break;  // the client left before finishing its request
    size_t old = buf.size();
    buf.append(chunk, static_cast<size_t>(n));

    // Parse only when it can change the verdict, so a client sending one
    // byte at a time costs linear, not quadratic, time.
    bool parse = buf.size() >= cap;
    if (needed > 0) {
      parse = parse || buf.size() >= needed;
    } else {
      std::string_view fresh(buf.data() + old, buf.size() - old);
      std::string_view tail(buf.data() + (old >= 2 ? old - 2 : 0),
                            buf.size() - (old >= 2 ? old - 2 : 0));
      bool first_newline =
          !saw_newline && fresh.find('\n') != std::string_view::npos;
      saw_newline = saw_newline || first_newline;
      parse = parse || !parsed_once || first_newline ||
              tail.find("\n\n") != std::string_view::npos ||
              tail.find("\n\r\n") != std::string_view::npos;
    }
    if (!parse) continue;
    parsed_once = true;
    result = ParseHttpRequest(buf, options_.max_request_bytes, &request);
    if (result.status == ParseStatus::kIncomplete) {
      if (result.expect_continue && needed == 0) {
        constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        if (!SendAll(fd, stop_fd_, kContinue, After(options_.write_timeout))) {
          break;
        }
      }
      needed = result.needed;
      if (buf.size() < cap) continue;
      // Unreachable by the parser's contract; never read past the cap.
      result.status = ParseStatus::kError;
      result.http_status = 413;
      result.error = "request too large";
    }
    if (result.status == ParseStatus::kError) {
      client_errors_.fetch_add(1);
      SendError(fd, result.http_status, result.error);
    } else {
      requests_.fetch_add(1);
      request.peer = peer;
      Dispatch(fd, request);
    }
    break;
  }
  CloseGracefully(fd);
  ReleasePeer(peer);
  active_connections_.fetch_sub(1);
  absl::MutexLock lock(&threads_mu_);
  finished_.push_back(id);
}

void HttpServer::Dispatch(int fd, const Request& request) {
  if (options_.browser.has_value()) {
    if (std::optional<std::string> why =
            CheckBrowserRequest(request, *options_.browser)) {
      forbidden_.fetch_add(1);
      SendError(fd, 403, *why, request.method == "HEAD");
      return;
    }
  }
  std::shared_ptr<const Route> route;
  std::vector<std::string> allowed;
  {
    absl::ReaderMutexLock lock(&routes_mu_);
    const std::string* best = nullptr;
    for (const auto& r : routes_) {
      if (PatternMatches(r->pattern, request.path) &&
          (best == nullptr || r->pattern.size() > best->size())) {
        best = &r->pattern;
      }
    }
    if (best != nullptr) {
      std::shared_ptr<const Route> get;
      for (const auto& r : routes_) {
        if (r->pattern != *best) continue;
        allowed.push_back(r->method);
        if (r->method == request.method) route = r;
        if (r->method == "GET") get = r;
      }
      if (route == nullptr && request.method == "HEAD" && get != nullptr) {
        route = get;
      }
    }
  }
  if (allowed.empty()) {
    SendError(fd, 404, "no such endpoint", request.method == "HEAD");
    return;
  }
  if (route == nullptr) {
    if (std::find(allowed.begin(), allowed.end(), "GET") != allowed.end() &&
        std::find(allowed.begin(), allowed.end(), "HEAD") == allowed.end()) {
      allowed.push_back("HEAD");
    }
    std::sort(allowed.begin(), allowed.end());
    Response r = Response::Text(
        405, absl::StrFormat("method %s not allowed here\n", request.method));
    r.headers.emplace_back("Allow", absl::StrJoin(allowed, ", "));
    SendResponse(fd, r, request.method == "HEAD");
    return;
  }
  const bool head_only = request.method == "HEAD" && route->method != "HEAD";

  if (route->stream_handler != nullptr && route->stream_precheck != nullptr) {
    std::optional<Response> answer;
    try {
      answer = route->stream_precheck(request);
    } catch (...) {
      answer = Response::Text(500, "handler failed\n");
    }
    if (answer.has_value()) {
      SendResponse(fd, *answer, head_only);
      return;
    }
  }
  if (route->stream_handler != nullptr) {
    if (active_streams_.fetch_add(1) >= options_.max_streams) {
      active_streams_.fetch_sub(1);
      streams_rejected_.fetch_add(1);
      Response busy = Response::Text(503, "too many streams\n");
      busy.headers.emplace_back("Retry-After", "1");
      SendResponse(fd, busy, head_only);
      return;
    }
    std::string head = absl::StrCat(
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: text/event-stream; charset=utf-8\r\n"
        "Cache-Control: no-cache\r\n"
        "X-Accel-Buffering: no\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "Connection: close\r\n"
        "Date: ",
        HttpDate(), "\r\n\r\n");
    if (SendAll(fd, stop_fd_, head, After(options_.write_timeout)) &&
        !head_only) {
      StreamWriter writer(fd, stop_fd_, options_.write_timeout);
      try {
        route->stream_handler(request, writer);
      } catch (...) {
        // The head is out; all that is left to do is to end the stream.
      }
    }
    active_streams_.fetch_sub(1);
    return;
  }

  Response response;
  try {
    response = route->handler(request);
  } catch (const std::exception& e) {
    response =
        Response::Text(500, absl::StrCat("handler failed: ", e.what(), "\n"));
  } catch (...) {
    response = Response::Text(500, "handler failed\n");
  }
  SendResponse(fd, response, head_only);
}

void HttpServer::SendResponse(int fd, const Response& response,
                              bool head_only) {
  const Response* r = &response;
  Response fallback;
  bool valid =
      r->status >= 200 && r->status <= 599 && SafeHeaderValue(r->content_type);
  for (const auto& [name, value] : r->headers) {
    valid = valid && IsHttpToken(name) && SafeHeaderValue(value);
  }
  if (!valid) {
    fallback = Response::Text(500, "handler returned an invalid response\n");
    r = &fallback;
  }
  const bool no_body = r->status == 204 || r->status == 304;
  std::string out =
      absl::StrFormat("HTTP/1.1 %d %s\r\n", r->status, StatusReason(r->status));
  if (!no_body) {
    absl::StrAppend(&out, "Content-Type: ", r->content_type,
                    "\r\nContent-Length: ", r->body.size(), "\r\n");
  }
  absl::StrAppend(&out, "Date: ", HttpDate(),
                  "\r\nConnection: close\r\n"
                  "X-Content-Type-Options: nosniff\r\n");
  for (const auto& [name, value] : r->headers) {
    if (ServerManagedHeader(name)) continue;
    absl::StrAppend(&out, name, ": ", value, "\r\n");
  }
  out += "\r\n";
  // The body goes out from the handler's buffer, never copied behind the
  // head: a large response is held once, not twice.
  const Clock::time_point deadline = After(options_.write_timeout);
  if (!SendAll(fd, stop_fd_, out, deadline)) return;
  if (!head_only && !no_body) SendAll(fd, stop_fd_, r->body, deadline);
}

void HttpServer::SendError(int fd, int status, std::string_view message,
                           bool head_only) {
  SendResponse(fd, Response::Text(status, std::string(message) + "\n"),
               head_only);
}

void HttpServer::CloseGracefully(int fd) {
  // Half-close, then read until the client closes too: closing a socket
  // with unread input sends a reset, which can destroy the response in
  // flight (e.g. a 413 answered before the body was read).
  shutdown(fd, SHUT_WR);
  Clock::time_point deadline = After(kLingerTime);
  size_t drained = 0;
  char buf[4096];
  while (drained < kMaxDrainBytes &&
         WaitFor(fd, POLLIN, deadline, stop_fd_) == Wait::kReady) {
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      continue;
    }
    if (n <= 0) break;
    drained += static_cast<size_t>(n);
  }
  close(fd);
}

}  // namespace resdb_trace::collector::http
