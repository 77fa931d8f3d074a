#include "lib/net/http_message.h"

#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"

namespace resdb_trace::collector::http {
namespace {

// RFC 9112 asks servers to ignore at least one empty line before the request
// line; more than a few is junk.
constexpr int kMaxLeadingEmptyLines = 8;
// Bounds the parsed header fields (and their allocations) well below what
// max_request_bytes alone would allow.
constexpr size_t kMaxHeaderFields = 100;

bool IsTchar(char c) {
  if (absl::ascii_isalnum(static_cast<unsigned char>(c))) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool PercentDecode(std::string_view in, bool plus_is_space, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = HexValue(in[i + 1]);
      int lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out->push_back(' ');
    } else {
      out->push_back(c);
    }
  }
  return true;
}

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = absl::ascii_tolower(static_cast<unsigned char>(c));
  return out;
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// Position just past the empty line that ends the header section, searching
// from `from` (the start of the request line); npos if not there yet.
size_t FindHeaderEnd(std::string_view input, size_t from) {
  size_t pos = from;
  while (true) {
    size_t nl = input.find('\n', pos);
    if (nl == std::string_view::npos) return nl;
    if (nl + 1 < input.size() && input[nl + 1] == '\n') return nl + 2;
    if (nl + 2 < input.size() && input[nl + 1] == '\r' &&
        input[nl + 2] == '\n') {
      return nl + 3;
    }
    pos = nl + 1;
  }
}

ParseResult Error(int status, std::string message) {
  ParseResult r;
  r.status = ParseStatus::kError;
  r.http_status = status;
  r.error = std::move(message);
  return r;
}

ParseResult Incomplete(size_t needed) {
  ParseResult r;
  r.status = ParseStatus::kIncomplete;
  r.needed = needed;
  return r;
}

// Splits the next line off `*rest` (LF or CRLF), without its terminator.
// False for a bare CR inside the line.
bool NextLine(std::string_view* rest, std::string_view* line) {
  size_t nl = rest->find('\n');
  std::string_view l = rest->substr(0, nl);
  *rest =
      nl == std::string_view::npos ? std::string_view() : rest->substr(nl + 1);
  if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
  *line = l;
  return l.find('\r') == std::string_view::npos;
}

// An early verdict on a request line that is not complete yet: bytes a
// method cannot start with (TLS, binary junk) fail at once instead of
// waiting for the read timeout.
bool PlausibleRequestLinePrefix(std::string_view partial) {
  size_t sp = partial.find(' ');
  std::string_view method = partial.substr(0, sp);
  for (char c : method) {
    if (!IsTchar(c)) return false;
  }
  return sp != 0;
}

ParseResult ParseTarget(std::string_view target, Request* request) {
  if (target.empty() || target[0] != '/') {
    return Error(400, "request target must be a path starting with '/'");
  }
  for (char c : target) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '#') {
      return Error(400, "request target contains a byte that is not allowed");
    }
  }
  size_t q = target.find('?');
  std::string_view raw_path = target.substr(0, q);
  if (!PercentDecode(raw_path, /*plus_is_space=*/false, &request->path)) {
    return Error(400, "bad percent-encoding in the path");
  }
  if (request->path.find('\0') != std::string::npos) {
    return Error(400, "NUL byte in the path");
  }
  // Dot segments would let a file-serving handler escape its root; no route
  // here needs them, so refuse rather than normalise.
  size_t start = 1;
  while (start <= request->path.size()) {
    size_t slash = request->path.find('/', start);
    if (slash == std::string::npos) slash = request->path.size();
    std::string_view seg(request->path.data() + start, slash - start);
    if (seg == "." || seg == "..") {
      return Error(400, "'.' and '..' path segments are not allowed");
    }
    start = slash + 1;
  }
  request->query.clear();
  if (q != std::string_view::npos) {
    std::string_view rest = target.substr(q + 1);
    while (!rest.empty()) {
      size_t amp = rest.find('&');
      std::string_view pair = rest.substr(0, amp);
      rest = amp == std::string_view::npos ? std::string_view()
                                           : rest.substr(amp + 1);
      if (pair.empty()) continue;
      size_t eq = pair.find('=');
      std::string name, value;
      if (!PercentDecode(pair.substr(0, eq), true, &name) ||
          (eq != std::string_view::npos &&
           !PercentDecode(pair.substr(eq + 1), true, &value))) {
        return Error(400, "bad percent-encoding in the query");
      }
      request->query.emplace_back(std::move(name), std::move(value));
    }
  }
  ParseResult ok;
  ok.status = ParseStatus::kComplete;
  return ok;
}

}  // namespace

bool IsHttpToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsTchar(c)) return false;
  }
  return true;
}

std::optional<std::string_view> Request::Header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (n.size() == name.size() && n == ToLower(name)) {
      return std::string_view(v);
    }
  }
  return std::nullopt;
}

std::optional<std::string_view> Request::Query(std::string_view name) const {
  for (const auto& [n, v] : query) {
    if (n == name) return std::string_view(v);
  }
  return std::nullopt;
}

Response Response::Text(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

std::string_view StatusReason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 417:
      return "Expectation Failed";
    case 422:
      return "Unprocessable Content";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

ParseResult ParseHttpRequest(std::string_view input, size_t max_request_bytes,
                             Request* request) {
  size_t start = 0;
  for (int empty = 0;; ++empty) {
    if (start < input.size() && input[start] == '\n') {
      start += 1;
    } else if (start + 1 < input.size() && input[start] == '\r' &&
               input[start + 1] == '\n') {
      start += 2;
    } else {
      break;
    }
    if (empty == kMaxLeadingEmptyLines) {
      return Error(400, "too many empty lines before the request line");
    }
  }
  size_t header_end = FindHeaderEnd(input, start);
  if (header_end == std::string_view::npos) {
    if (input.size() > max_request_bytes) {
      return Error(413, absl::StrFormat("request header section larger than "
                                        "%u bytes",
                                        max_request_bytes));
    }
    std::string_view rest = input.substr(start);
    size_t nl = rest.find('\n');
    if (!PlausibleRequestLinePrefix(rest.substr(0, nl))) {
      return Error(400, "malformed request line");
    }
    return Incomplete(0);
  }
  if (header_end > max_request_bytes) {
    return Error(413,
                 absl::StrFormat("request header section larger than %u bytes",
                                 max_request_bytes));
  }

  Request r;
  std::string_view rest = input.substr(start, header_end - start);
  std::string_view line;
  if (!NextLine(&rest, &line)) return Error(400, "bare CR in request line");
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos ||
      line.find(' ', sp2 + 1) != std::string_view::npos) {
    return Error(400,
                 "malformed request line (want METHOD SP TARGET SP "
                 "HTTP/1.x)");
  }
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!IsHttpToken(method)) return Error(400, "malformed method");
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" ||
      !absl::ascii_isdigit(static_cast<unsigned char>(version[5])) ||
      version[6] != '.' ||
      !absl::ascii_isdigit(static_cast<unsigned char>(version[7]))) {
    return Error(400, "malformed HTTP version");
  }
  if (version[5] != '1') return Error(505, "only HTTP/1.x is supported");
  r.method = std::string(method);
  r.target = std::string(target);
  r.version = std::string(version);
  if (ParseResult t = ParseTarget(target, &r);
      t.status == ParseStatus::kError) {
    return t;
  }

  bool expect_continue = false;
  bool has_length = false;
  uint64_t content_length = 0;
  int host_fields = 0;
  while (true) {
    if (!NextLine(&rest, &line)) return Error(400, "bare CR in a header");
    if (line.empty()) break;  // the empty line; `rest` is now empty
    if (line[0] == ' ' || line[0] == '\t') {
      return Error(400, "obsolete header line folding");
    }
    if (r.headers.size() == kMaxHeaderFields) {
      return Error(
          431, absl::StrFormat("more than %u header fields", kMaxHeaderFields));
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos ||
        !IsHttpToken(line.substr(0, colon))) {
      return Error(400, "malformed header field");
    }
    std::string_view value = TrimOws(line.substr(colon + 1));
    for (char c : value) {
      auto u = static_cast<unsigned char>(c);
      if ((u < 0x20 && c != '\t') || u == 0x7f) {
        return Error(400, "control byte in a header value");
      }
    }
    std::string name = ToLower(line.substr(0, colon));
    if (name == "content-length") {
      if (value.empty() || value.size() > 19) {
        return value.empty() ? Error(400, "empty Content-Length")
                             : Error(413, "Content-Length too large");
      }
      uint64_t n = 0;
      for (char c : value) {
        if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) {
          return Error(400, "malformed Content-Length");
        }
        n = n * 10 + static_cast<uint64_t>(c - '0');
      }
      if (has_length && n != content_length) {
        return Error(400, "conflicting Content-Length fields");
      }
      has_length = true;
      content_length = n;
    } else if (name == "transfer-encoding") {
      return Error(501,
                   "Transfer-Encoding is not supported; send "
                   "Content-Length");
    } else if (name == "host") {
      ++host_fields;
    } else if (name == "expect") {
      if (ToLower(value) != "100-continue") {
        return Error(417, "only \"Expect: 100-continue\" is supported");
      }
      expect_continue = true;
    }
    r.headers.emplace_back(std::move(name), std::string(value));
  }
  if (r.version != "HTTP/1.0" && host_fields != 1) {
    return Error(400, host_fields == 0 ? "HTTP/1.1 request without Host"
                                       : "more than one Host field");
  }
  if (content_length > max_request_bytes - header_end) {
    return Error(413, absl::StrFormat("request larger than %u bytes",
                                      max_request_bytes));
  }
  size_t total = header_end + static_cast<size_t>(content_length);
  if (input.size() < total) {
    ParseResult more = Incomplete(total);
    more.expect_continue = expect_continue;
    return more;
  }
  r.body = std::string(input.substr(header_end, content_length));
  *request = std::move(r);
  ParseResult done;
  done.status = ParseStatus::kComplete;
  done.consumed = total;
  return done;
}

}  // namespace resdb_trace::collector::http
