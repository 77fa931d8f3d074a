// Host and Origin checks for every HTTP endpoint a browser can reach (the
// web view, /metrics, MCP over HTTP). A page on another site can make a
// browser send requests to 127.0.0.1 in two ways: by rebinding its own DNS
// name to 127.0.0.1 (the request then carries `Host: evil.example`), or by a
// cross-origin request (it carries `Origin: http://evil.example`). Both are
// refused here. Pure functions, no I/O, so a fuzzer can drive them.
#ifndef RESDB_TRACE_LIB_NET_HOST_ORIGIN_H_
#define RESDB_TRACE_LIB_NET_HOST_ORIGIN_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/net/http_message.h"

namespace resdb_trace::collector::http {

// "host[:port]" from a Host header or an Origin. `host` is lower-cased,
// without a trailing dot; an IPv6 literal keeps its brackets ("[::1]").
struct Authority {
  std::string host;
  int port = -1;  // -1: none given
};

// Parses a Host header value; nullopt when it is malformed (empty host,
// bad port, junk after "]", characters outside RFC 3986 reg-name/IP).
std::optional<Authority> ParseHostHeader(std::string_view value);

struct Origin {
  std::string scheme;  // "http" or "https"
  Authority authority;
};
// Parses an Origin header ("http://host[:port]"); nullopt for "null", other
// schemes, a path, userinfo, or a malformed authority.
std::optional<Origin> ParseOrigin(std::string_view value);

// localhost, *.localhost, 127.0.0.0/8 or [::1].
bool IsLoopbackHost(std::string_view host);
// A literal IPv4 address or a bracketed IPv6 address: no DNS name, so it
// cannot be rebound.
bool IsIpLiteral(std::string_view host);

struct BrowserPolicy {
  // Names accepted in Host besides loopback names (--http-allow-host),
  // compared case-insensitively.
  std::vector<std::string> allowed_hosts;
  // Accept any IP literal in Host (a Prometheus server scraping by address);
  // safe against DNS rebinding, since no name is involved.
  bool allow_ip_literal_hosts = false;
  // Accept a cross-origin Origin that is a loopback origin on any port (MCP
  // clients such as a local inspector page).
  bool allow_loopback_origins = false;
  // Accept any Origin (an endpoint deliberately exposed behind a proxy).
  bool allow_any_origin = false;
};

// nullopt when `request` may be served; otherwise why it is refused (answer
// 403). Host, when present, must name a loopback host, an allowed name, or
// an IP literal when the policy allows them. Origin, when present, must be the
// request's own origin (same host and port as Host), or a loopback origin when
// the policy allows them, or anything with allow_any_origin; "null" is refused.
std::optional<std::string> CheckBrowserRequest(const Request& request,
                                               const BrowserPolicy& policy);

}  // namespace resdb_trace::collector::http

#endif  // RESDB_TRACE_LIB_NET_HOST_ORIGIN_H_
