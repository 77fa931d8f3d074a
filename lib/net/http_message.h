// HTTP/1.x messages for lib/net: the request, its parser (a pure
// function, so a fuzzer can drive it), and the response a handler returns.
#ifndef RESDB_TRACE_LIB_NET_HTTP_MESSAGE_H_
#define RESDB_TRACE_LIB_NET_HTTP_MESSAGE_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace resdb_trace::collector::http {

// One parsed request. Strings are owned copies; handlers may keep them.
struct Request {
  std::string method;   // as sent, e.g. "GET" (methods are case-sensitive)
  std::string target;   // the raw request-target, e.g. "/a%20b?x=1"
  std::string path;     // target's path, percent-decoded: "/a b"
  std::string version;  // "HTTP/1.0" or "HTTP/1.1"
  // Query parameters in order, names and values percent-decoded with '+' as
  // space; a parameter without '=' has an empty value.
  std::vector<std::pair<std::string, std::string>> query;
  // Header fields in order; names lower-cased, values without surrounding
  // whitespace.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // exactly Content-Length bytes
  // Set by the server, not the parser: who connected, as the per-peer
  // limits count them ("127.0.0.1", "::1", "uid:1000" on a Unix socket).
  std::string peer;

  // The first header field named `name` (any case), if any.
  std::optional<std::string_view> Header(std::string_view name) const;
  // The first query parameter named `name` (exact), if any.
  std::optional<std::string_view> Query(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  // Extra header fields. Content-Length, Content-Type, Connection, Date and
  // Transfer-Encoding are the server's and are ignored here.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  static Response Text(int status, std::string body);
};

// True for a non-empty RFC 9110 token (methods, header field names).
bool IsHttpToken(std::string_view s);

// The canonical reason phrase of `status` ("Not Found"), or "Unknown".
std::string_view StatusReason(int status);

enum class ParseStatus {
  kComplete,    // `*request` is filled; `consumed` bytes form the request
  kIncomplete,  // more bytes are needed
  kError,       // answer `http_status` and close the connection
};

struct ParseResult {
  ParseStatus status = ParseStatus::kIncomplete;
  // kComplete: bytes of the request; anything after it (pipelined requests,
  // junk) is not looked at.
  size_t consumed = 0;
  // kIncomplete: the input size at which the request will be complete, once
  // the header section is known (0 before that).
  size_t needed = 0;
  // kIncomplete with `needed`: the client sent "Expect: 100-continue" and
  // waits for "HTTP/1.1 100 Continue" before sending the body.
  bool expect_continue = false;
  int http_status = 0;  // kError: 400, 413, 417, 431, 501 or 505
  std::string error;    // kError: what was wrong, one line
};

// Parses one HTTP/1.x request from the start of `input`. Pure: no I/O, no
// state, no allocation beyond the request's own strings, and every input is
// answered (a libFuzzer target can call it directly). `request` is
// overwritten on kComplete and unspecified otherwise.
//
// Accepted: origin-form targets ("/path?query"), CRLF or bare LF line ends,
// up to 8 empty lines before the request line, Content-Length bodies. A
// request (header section plus body) longer than `max_request_bytes` is 413;
// more than 100 header fields is 431; an Expect other than 100-continue is
// 417; any Transfer-Encoding is 501; HTTP/1.1
// without Host, obsolete line folding, conflicting Content-Lengths, bad
// percent-encoding, control bytes and "." or
// ".." path segments are 400.
ParseResult ParseHttpRequest(std::string_view input, size_t max_request_bytes,
                             Request* request);

}  // namespace resdb_trace::collector::http

#endif  // RESDB_TRACE_LIB_NET_HTTP_MESSAGE_H_
