#include "clients/mcp/stdio_transport.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace resdb_trace::collector::mcp {
namespace {

bool WriteLine(int fd, const std::string& text) {
  std::string line = text + "\n";
  std::string_view rest = line;
  while (!rest.empty()) {
    const ssize_t w = write(fd, rest.data(), rest.size());
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    rest.remove_prefix(static_cast<size_t>(w));
  }
  return true;
}

bool Blank(std::string_view s) {
  for (char c : s) {
    if (c != ' ' && c != '\t' && c != '\r') return false;
  }
  return true;
}

}  // namespace

absl::Status ServeStdio(const McpServer& server, int in_fd, int out_fd,
                        size_t max_line) {
  Session session;
  std::string buf;
  bool skipping = false;  // inside an over-long line, until its newline
  char chunk[65536];
  auto reply = [&](const Json& r) -> absl::Status {
    if (r.is_null()) return absl::OkStatus();
    if (!WriteLine(out_fd, Dump(r))) {
      return absl::UnavailableError(
          absl::StrCat("stdout: ", std::strerror(errno)));
    }
    return absl::OkStatus();
  };
  while (true) {
    const ssize_t got = read(in_fd, chunk, sizeof(chunk));
    if (got < 0) {
      if (errno == EINTR) continue;
      return absl::UnavailableError(
          absl::StrCat("stdin: ", std::strerror(errno)));
    }
    if (got == 0) break;
    size_t start = 0;
    const std::string_view data(chunk, static_cast<size_t>(got));
    while (start < data.size()) {
      const size_t nl = data.find('\n', start);
      const std::string_view piece = data.substr(
          start,
          nl == std::string_view::npos ? std::string_view::npos : nl - start);
      if (!skipping) buf.append(piece);
      if (!skipping && buf.size() > max_line) {
        skipping = true;
        buf.clear();
        absl::Status s = reply(MakeError(
            nullptr, kInvalidRequest,
            absl::StrFormat("Invalid Request: message longer than %d bytes",
                            max_line)));
        if (!s.ok()) return s;
      }
      if (nl == std::string_view::npos) break;
      start = nl + 1;
      if (skipping) {
        skipping = false;
        continue;
      }
      std::string line;
      line.swap(buf);
      if (Blank(line)) continue;
      std::string why;
      Json message = ParseJson(line, &why);
      absl::Status s =
          reply(message.is_discarded() ? McpServer::ParseErrorReply(why)
                                       : server.Handle(message, &session));
      if (!s.ok()) return s;
    }
  }
  // A last message without a trailing newline still counts.
  if (!skipping && !Blank(buf)) {
    std::string why;
    Json message = ParseJson(buf, &why);
    return reply(message.is_discarded() ? McpServer::ParseErrorReply(why)
                                        : server.Handle(message, &session));
  }
  return absl::OkStatus();
}

}  // namespace resdb_trace::collector::mcp
