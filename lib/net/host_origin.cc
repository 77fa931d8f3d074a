#include "lib/net/host_origin.h"

#include <arpa/inet.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"

namespace resdb_trace::collector::http {
namespace {

constexpr size_t kMaxHostLength = 255;

bool RegNameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

bool ParsePort(std::string_view s, int* port) {
  if (s.empty() || s.size() > 5) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  int p = 0;
  if (!absl::SimpleAtoi(absl::string_view(s.data(), s.size()), &p) ||
      p > 65535) {
    return false;
  }
  *port = p;
  return true;
}

std::optional<Authority> ParseAuthority(std::string_view s) {
  Authority a;
  std::string_view host = s;
  std::string_view rest;
  if (!s.empty() && s.front() == '[') {
    const size_t end = s.find(']');
    if (end == std::string_view::npos) return std::nullopt;
    host = s.substr(0, end + 1);
    rest = s.substr(end + 1);
    const std::string inner(host.substr(1, host.size() - 2));
    in6_addr addr;
    if (inet_pton(AF_INET6, inner.c_str(), &addr) != 1) return std::nullopt;
  } else {
    const size_t colon = s.find(':');
    host = s.substr(0, colon);
    if (colon != std::string_view::npos) rest = s.substr(colon);
    if (!std::all_of(host.begin(), host.end(), RegNameChar)) {
      return std::nullopt;
    }
  }
  if (host.empty() || host.size() > kMaxHostLength) return std::nullopt;
  if (!rest.empty()) {
    if (rest.front() != ':' || !ParsePort(rest.substr(1), &a.port)) {
      return std::nullopt;
    }
  }
  a.host = absl::AsciiStrToLower(absl::string_view(host.data(), host.size()));
  if (a.host.back() == '.') a.host.pop_back();
  if (a.host.empty()) return std::nullopt;
  return a;
}

int DefaultPort(std::string_view scheme) {
  return scheme == "https" ? 443 : 80;
}

}  // namespace

std::optional<Authority> ParseHostHeader(std::string_view value) {
  return ParseAuthority(value);
}

std::optional<Origin> ParseOrigin(std::string_view value) {
  Origin o;
  std::string_view rest;
  if (value.substr(0, 7) == "http://") {
    o.scheme = "http";
    rest = value.substr(7);
  } else if (value.substr(0, 8) == "https://") {
    o.scheme = "https";
    rest = value.substr(8);
  } else {
    return std::nullopt;
  }
  std::optional<Authority> a = ParseAuthority(rest);
  if (!a) return std::nullopt;
  o.authority = std::move(*a);
  return o;
}

bool IsIpLiteral(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    const std::string inner(host.substr(1, host.size() - 2));
    in6_addr a6;
    return inet_pton(AF_INET6, inner.c_str(), &a6) == 1;
  }
  const std::string h(host);
  in_addr a;
  return inet_pton(AF_INET, h.c_str(), &a) == 1;
}

bool IsLoopbackHost(std::string_view host) {
  const std::string h =
      absl::AsciiStrToLower(absl::string_view(host.data(), host.size()));
  if (h == "localhost" || h == "[::1]") return true;
  if (h.size() > 10 && h.compare(h.size() - 10, 10, ".localhost") == 0) {
    return true;
  }
  in_addr a;
  return inet_pton(AF_INET, h.c_str(), &a) == 1 &&
         (ntohl(a.s_addr) >> 24) == 127;
}

std::optional<std::string> CheckBrowserRequest(const Request& request,
                                               const BrowserPolicy& policy) {
  std::optional<Authority> host;
  if (std::optional<std::string_view> h = request.Header("host")) {
    host = ParseHostHeader(*h);
    if (!host) {
      return absl::StrFormat("malformed Host header '%s'", *h);
    }
    const bool allowed =
        IsLoopbackHost(host->host) ||
        (policy.allow_ip_literal_hosts && IsIpLiteral(host->host)) ||
        std::any_of(policy.allowed_hosts.begin(), policy.allowed_hosts.end(),
                    [&](const std::string& name) {
                      return absl::AsciiStrToLower(name) == host->host;
                    });
    if (!allowed) {
      return absl::StrFormat(
          "Host '%s' is not a loopback name%s or an allowed name "
          "(DNS-rebinding protection; allow a name with --http-allow-host)",
          *h, policy.allow_ip_literal_hosts ? ", an IP address" : "");
    }
  }
  std::optional<std::string_view> origin = request.Header("origin");
  if (!origin || policy.allow_any_origin) return std::nullopt;
  std::optional<Origin> o = ParseOrigin(*origin);
  if (!o) {
    return absl::StrFormat("Origin '%s' is refused (not an http(s) origin)",
                           *origin);
  }
  if (host && o->authority.host == host->host) {
    const int want = host->port >= 0 ? host->port : DefaultPort(o->scheme);
    const int got =
        o->authority.port >= 0 ? o->authority.port : DefaultPort(o->scheme);
    if (want == got) return std::nullopt;
  }
  if (policy.allow_loopback_origins && IsLoopbackHost(o->authority.host)) {
    return std::nullopt;
  }
  return absl::StrFormat(
      "Origin '%s' is cross-origin: pages of other sites may not use this "
      "endpoint",
      *origin);
}

}  // namespace resdb_trace::collector::http
