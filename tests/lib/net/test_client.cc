#include "tests/lib/net/test_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

namespace resdb_trace::collector::http::testing {

int Connect(const std::string& address) {
  int fd = -1;
  if (address.rfind("unix://", 0) == 0) {
    std::string path = address.substr(7);
    sockaddr_un sun = {};
    if (path.size() >= sizeof(sun.sun_path)) return -1;
    sun.sun_family = AF_UNIX;
    std::memcpy(sun.sun_path, path.c_str(), path.size() + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (connect(fd, reinterpret_cast<sockaddr*>(&sun), sizeof(sun)) != 0) {
      close(fd);
      return -1;
    }
  } else {
    size_t colon = address.rfind(':');
    if (colon == std::string::npos) return -1;
    std::string host = address.substr(0, colon);
    int port = std::atoi(address.c_str() + colon + 1);
    if (host.size() > 2 && host.front() == '[') {
      sockaddr_in6 in6 = {};
      in6.sin6_family = AF_INET6;
      in6.sin6_port = htons(static_cast<uint16_t>(port));
      host = host.substr(1, host.size() - 2);
      if (inet_pton(AF_INET6, host.c_str(), &in6.sin6_addr) != 1) return -1;
      fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) return -1;
      if (connect(fd, reinterpret_cast<sockaddr*>(&in6), sizeof(in6)) != 0) {
        close(fd);
        return -1;
      }
    } else {
      sockaddr_in in = {};
      in.sin_family = AF_INET;
      in.sin_port = htons(static_cast<uint16_t>(port));
      if (inet_pton(AF_INET, host.c_str(), &in.sin_addr) != 1) return -1;
      fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) return -1;
      if (connect(fd, reinterpret_cast<sockaddr*>(&in), sizeof(in)) != 0) {
        close(fd);
        return -1;
      }
    }
  }
  timeval tv = {10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  return fd;
}

bool SendBytes(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string ReadUntilClose(int fd) {
  std::string out;
  char buf[8192];
  while (true) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

bool ReadUntil(int fd, std::string_view marker, std::string* buffer) {
  char buf[4096];
  while (buffer->find(marker) == std::string::npos) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buffer->append(buf, static_cast<size_t>(n));
  }
  return true;
}

std::optional<std::string> ClientResponse::Header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (n == name) return v;
  }
  return std::nullopt;
}

ClientResponse ParseClientResponse(std::string raw) {
  ClientResponse r;
  r.raw = std::move(raw);
  size_t end = r.raw.find("\r\n\r\n");
  if (end == std::string::npos || r.raw.rfind("HTTP/1.1 ", 0) != 0) return r;
  std::string head = r.raw.substr(0, end);
  r.body = r.raw.substr(end + 4);
  size_t line_end = head.find("\r\n");
  r.status = std::atoi(head.substr(9, 3).c_str());
  while (line_end != std::string::npos) {
    size_t next = head.find("\r\n", line_end + 2);
    std::string line = head.substr(line_end + 2, next == std::string::npos
                                                     ? std::string::npos
                                                     : next - line_end - 2);
    size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(c));
      size_t v = line.find_first_not_of(' ', colon + 1);
      r.headers.emplace_back(
          name, v == std::string::npos ? std::string() : line.substr(v));
    }
    line_end = next;
  }
  return r;
}

ClientResponse Exchange(const std::string& address, std::string_view request) {
  int fd = Connect(address);
  if (fd < 0) return ClientResponse{};
  SendBytes(fd, request);
  std::string raw = ReadUntilClose(fd);
  close(fd);
  return ParseClientResponse(std::move(raw));
}

ClientResponse Request(const std::string& address, std::string_view method,
                       std::string_view target, std::string_view body) {
  std::string req = std::string(method) + " " + std::string(target) +
                    " HTTP/1.1\r\nHost: test\r\nUser-Agent: test_client\r\n";
  if (!body.empty() || method == "POST" || method == "PUT") {
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  req += "\r\n";
  req += body;
  return Exchange(address, req);
}

}  // namespace resdb_trace::collector::http::testing
