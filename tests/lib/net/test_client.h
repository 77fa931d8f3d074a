// A blocking HTTP/1.1 client for the tests of lib/net and users of it:
// raw bytes in, raw bytes out, so tests can send malformed requests too.
#ifndef RESDB_TRACE_TESTS_LIB_NET_TEST_CLIENT_H_
#define RESDB_TRACE_TESTS_LIB_NET_TEST_CLIENT_H_

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace resdb_trace::collector::http::testing {

// Connects to "HOST:PORT" or "unix:///PATH" (HttpServer::address()); -1 on
// failure. Reads on the socket time out after 10 s, so a test cannot hang.
int Connect(const std::string& address);
bool SendBytes(int fd, std::string_view bytes);
// Reads until the peer closes (or the 10 s read timeout); returns the bytes.
std::string ReadUntilClose(int fd);
// Reads until `marker` has been received; false on close or timeout.
bool ReadUntil(int fd, std::string_view marker, std::string* buffer);

struct ClientResponse {
  int status = 0;  // 0 when the response could not be parsed
  std::vector<std::pair<std::string, std::string>> headers;  // lower-case
  std::string body;
  std::string raw;

  std::optional<std::string> Header(std::string_view name) const;
};

ClientResponse ParseClientResponse(std::string raw);
// Connects, sends `request` as is, reads until close, parses.
ClientResponse Exchange(const std::string& address, std::string_view request);
// A well-formed GET (or another method) with Host and an optional body.
ClientResponse Request(const std::string& address, std::string_view method,
                       std::string_view target, std::string_view body = "");

}  // namespace resdb_trace::collector::http::testing

#endif  // RESDB_TRACE_TESTS_LIB_NET_TEST_CLIENT_H_
